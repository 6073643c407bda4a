"""Projects, their members, images, masks and archive imports."""

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    LABELLER = "labeller", "Labeller"
    VIEWER = "viewer", "Viewer"


class Label(models.TextChoices):
    GOOD = "good", "Good"
    DEFECTIVE = "defective", "Defective"
    UNLABELED = "unlabeled", "Unlabeled"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    TEST = "test", "Test"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


def _default_image_size() -> str:
    return str(settings.DEFAULT_IMAGE_SIZE)


def _default_backbone() -> str:
    return settings.DEFAULT_BACKBONE


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_projects")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Settings (API: `settings: {image_size, backbone, auto_retrain, retrain_after_labels}` plus extras).
    # Working resolution: "256" (square), "640x232" (height x width) or "auto" (resolved per training run from
    # the snapshot's image sizes, ml.geometry.auto_size; the resolved size is stored on the model version).
    image_size = models.CharField(max_length=16, default=_default_image_size)
    # Tiled mode for small defects on large images (ml/tiling.py): "off", "RxC" (e.g. "2x2") or "auto".
    tiling = models.CharField(max_length=8, default="off")
    backbone = models.CharField(max_length=64, default=_default_backbone)
    auto_retrain = models.BooleanField(default=True)
    retrain_after_labels = models.PositiveIntegerField(default=5)
    min_good_for_first_model = models.PositiveIntegerField(default=10)
    test_fraction = models.FloatField(default=0.2, help_text="Probability that a newly labelled image goes to test.")

    # Labels and masks that arrived since the last training started (drives automatic retraining).
    labels_since_training = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.LABELLER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="unique_project_member")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class Image(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(max_length=255)
    thumbnail = models.FileField(max_length=255, blank=True)
    filename = models.CharField(max_length=255, help_text="Original file name as uploaded.")
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    label = models.CharField(max_length=16, choices=Label.choices, default=Label.UNLABELED)
    split = models.CharField(max_length=8, choices=Split.choices, default=Split.TRAIN)
    has_mask = models.BooleanField(default=False)
    # The kind of defect (MVTec `test/<type>` folder, a manifest column, or the labeller); null when unknown.
    defect_type = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - API.md: string or null
    # True when the split was given (by an import's folders or a user); labelling then never moves it.
    split_locked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    labeled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="unique_image_per_project")]
        indexes = [
            models.Index(fields=["project", "label"]),
            models.Index(fields=["project", "split"]),
            models.Index(fields=["project", "created_at"]),
            models.Index(fields=["project", "defect_type"]),
        ]

    def __str__(self) -> str:
        return self.filename


class Mask(models.Model):
    """Pixel mask of defects: a {0,255} single-channel PNG at the image's resolution.

    The file is content-addressed and never rewritten; a new mask is a new file (see files.mask_name)."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="mask")
    file = models.FileField(max_length=255)
    area = models.PositiveIntegerField(help_text="Number of defect pixels.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"mask of image {self.image_id} ({self.area} px)"


class ImportJob(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    archive = models.FileField(max_length=255, blank=True)
    archive_name = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    total = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    masks = models.PositiveIntegerField(default=0)
    # Images already in the project (same bytes): `updated` took label/split/mask/defect type from the
    # archive because the project knew less; `kept` stayed as a person had set them.
    updated = models.PositiveIntegerField(default=0)
    kept = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(default=list, blank=True, help_text="[{name, reason}] entries not imported.")
    errors = models.JSONField(default=list, blank=True, help_text="[{name, reason}] entries that failed.")
    error = models.TextField(blank=True, default="")
    # Whether the broker took the import's task the last time it was sent: "ok", "unavailable" (it waits for
    # the broker; beat sends it again) or "" (not sent yet).
    queue = models.CharField(max_length=12, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.archive_name or 'an archive'} ({self.status})"
