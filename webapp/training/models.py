"""Training jobs, model versions, predictions and bulk-inference batches."""

from django.conf import settings
from django.db import models

from webapp.datasets.models import Image, Project


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class TrainingMode(models.TextChoices):
    AUTO = "auto", "Auto"
    UNSUPERVISED = "unsupervised", "Unsupervised"
    SUPERVISED = "supervised", "Supervised"


class Preset(models.TextChoices):
    FAST = "fast", "Fast"
    PAPER = "paper", "Paper"


class Trigger(models.TextChoices):
    MANUAL = "manual", "Manual"
    AUTO = "auto", "Automatic retraining"


class TrainingJob(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    trigger = models.CharField(max_length=8, choices=Trigger.choices, default=Trigger.MANUAL)
    mode = models.CharField(max_length=16, choices=TrainingMode.choices, default=TrainingMode.AUTO)
    resolved_mode = models.CharField(max_length=16, choices=TrainingMode.choices, blank=True, default="")
    preset = models.CharField(max_length=8, choices=Preset.choices, default=Preset.FAST)
    epochs = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    phase = models.CharField(
        max_length=32, blank=True, default="", help_text="prepare | features | train | evaluate | store | done"
    )
    progress = models.FloatField(default=0.0)
    # Seconds the current phase still needs, from its pace so far (null: not known yet).
    eta_seconds = models.FloatField(null=True, blank=True)
    epoch = models.PositiveIntegerField(default=0)
    history = models.JSONField(default=list, blank=True, help_text="[{epoch, loss}]")
    # `error` is a sentence for people; `error_detail` the exception for engineers (no server paths).
    error = models.TextField(blank=True, default="")
    error_detail = models.TextField(blank=True, default="")
    # Frozen at the start: {images, good, defective, masks, train: {...}, test: {...}, previous_version,
    # changed: {added, removed, relabelled, masks} | null}. The rows are in SnapshotEntry.
    snapshot = models.JSONField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    device = models.CharField(max_length=32, blank=True, default="")
    worker = models.CharField(max_length=255, blank=True, default="")
    dispatch_count = models.PositiveIntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Labels/masks counted towards this run when it started (subtracted from the project's counter then).
    labels_counted = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Never two queued/running jobs for one project, even under concurrent requests.
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_training_job_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"Training job {self.id} ({self.status})"


class ModelVersion(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    job = models.OneToOneField(
        TrainingJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="model_version"
    )
    version = models.PositiveIntegerField()
    mode = models.CharField(max_length=16, choices=TrainingMode.choices)
    preset = models.CharField(max_length=8, choices=Preset.choices, default=Preset.FAST)
    backbone = models.CharField(max_length=64)
    # The working resolution the version was trained at (height x width; "auto" resolved); `image_size` keeps
    # one number for old clients: the larger side.
    image_size = models.PositiveIntegerField()
    image_height = models.PositiveIntegerField(null=True, blank=True)
    image_width = models.PositiveIntegerField(null=True, blank=True)
    tiling = models.CharField(max_length=8, default="off")
    # Bits per sample the version reads 16-bit images with (ml.pixels); null: its training images were 8-bit, or
    # it was trained before (each image by its own depth).
    sample_depth = models.PositiveSmallIntegerField(null=True, blank=True)
    threshold = models.FloatField()
    is_active = models.BooleanField(default=False)
    checkpoint = models.FileField(max_length=255)
    metrics = models.JSONField(default=dict, blank=True)
    train_counts = models.JSONField(default=dict, blank=True)
    test_counts = models.JSONField(default=dict, blank=True)
    curves = models.JSONField(default=dict, blank=True, help_text="ROC/PR curves and score histograms for the UI")
    # The job's snapshot summary (what this version trained and was evaluated on).
    snapshot = models.JSONField(null=True, blank=True)
    # Last time scoring of the project's images by this version was sent to queue `infer`.
    scoring_dispatched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="unique_model_version"),
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(is_active=True), name="one_active_model_per_project"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} v{self.version}"


class SnapshotEntry(models.Model):
    """One image as a training job saw it at its start: file, label, split and mask version.

    `image_id` is a plain number, not a foreign key: the entry outlives the image, and the files it
    names are kept (never collected) while the entry exists. Entries of a job that ends without a
    model version are deleted with its end; those of a version live as long as the version.
    """

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="snapshot_entries")
    image_id = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    file = models.FileField(max_length=255)
    mask_file = models.FileField(max_length=255, blank=True)
    label = models.CharField(max_length=16)
    split = models.CharField(max_length=8)
    defect_type = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - API.md: string or null

    class Meta:
        ordering = ["image_id"]
        constraints = [models.UniqueConstraint(fields=["job", "image_id"], name="unique_snapshot_entry")]

    def __str__(self) -> str:
        return f"image {self.image_id} in job {self.job_id} ({self.label}, {self.split})"


class Prediction(models.Model):
    """Score and heatmap of one image by one model version. `is_defective` follows the version's threshold."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="predictions")
    score = models.FloatField(db_index=True)
    heatmap = models.FileField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "model_version"], name="unique_prediction")]

    def __str__(self) -> str:
        return f"Prediction of image {self.image_id} by model {self.model_version_id}: {self.score:.3f}"

    @property
    def is_defective(self) -> bool:
        return self.score >= self.model_version.threshold


class InferenceBatch(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="inference_batches")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="inference_batches")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    dispatched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Inference batch {self.id} ({self.done}/{self.total})"


class InferenceItem(models.Model):
    batch = models.ForeignKey(InferenceBatch, on_delete=models.CASCADE, related_name="items")
    filename = models.CharField(max_length=255)
    file = models.FileField(max_length=255)
    chunk = models.PositiveIntegerField(default=0, db_index=True)
    score = models.FloatField(null=True, blank=True)
    heatmap = models.FileField(max_length=255, blank=True)
    error = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.filename
