from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ml.metrics import is_defective, quality_warnings
from webapp.core.api.strict import StrictKeysMixin

from ..failures import scrub_paths
from ..models import ModelVersion, Preset, TrainingJob, TrainingMode
from ..retrain import STATES
from ..runner import METRIC_KEYS


class TrainingJobCreateSerializer(StrictKeysMixin, serializers.Serializer):
    mode = serializers.ChoiceField(choices=TrainingMode.choices, default=TrainingMode.AUTO)
    preset = serializers.ChoiceField(choices=Preset.choices, default=Preset.FAST)
    epochs = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=10_000)


class HistoryEntrySerializer(serializers.Serializer):
    epoch = serializers.IntegerField()
    loss = serializers.FloatField()


class SnapshotCountsSerializer(serializers.Serializer):
    images = serializers.IntegerField()
    good = serializers.IntegerField()
    defective = serializers.IntegerField()
    masks = serializers.IntegerField()


class SnapshotChangesSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
    relabelled = serializers.IntegerField()
    masks = serializers.IntegerField(help_text="Masks new or replaced.")
    moved = serializers.IntegerField(help_text="Images moved between the train and test splits.")


class SnapshotSerializer(SnapshotCountsSerializer):
    train = SnapshotCountsSerializer()
    test = SnapshotCountsSerializer()
    previous_version = serializers.IntegerField(allow_null=True, help_text="The version `changed` is measured against.")
    changed = SnapshotChangesSerializer(allow_null=True, help_text="Null for a project's first version.")


SNAPSHOT_HELP = "What the run trains and evaluates on, frozen at its start (null before it starts)."


class TrainingJobSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id", read_only=True)
    error = serializers.SerializerMethodField(help_text="Why the job failed, in a sentence for people.")
    error_detail = serializers.SerializerMethodField(help_text="The exception for engineers (no server paths).")
    snapshot = serializers.SerializerMethodField(help_text=SNAPSHOT_HELP)
    model = serializers.SerializerMethodField(help_text="Id of the model version the job produced, if any.")
    history = HistoryEntrySerializer(many=True, read_only=True)
    resolved_mode = serializers.CharField(read_only=True, help_text="unsupervised | supervised: what `auto` became.")
    heartbeat_age_seconds = serializers.SerializerMethodField(
        help_text="Running jobs: seconds since the worker's last heartbeat (null otherwise)."
    )
    stale_after_seconds = serializers.SerializerMethodField(
        help_text="A running job whose heartbeat is older than this is failed as lost (TRAINING_STALE_AFTER_SECONDS)."
    )
    queued_seconds = serializers.SerializerMethodField(
        help_text="Queued jobs: seconds since the job was created, waiting for a train worker (null otherwise)."
    )
    elapsed_seconds = serializers.SerializerMethodField(
        help_text="Seconds since a worker started the job, to its end once it ended (null while queued)."
    )
    eta_seconds = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="Running jobs: seconds the current phase still needs at its pace so far (null until known).",
    )

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "project",
            "mode",
            "resolved_mode",
            "preset",
            "trigger",
            "status",
            "phase",
            "progress",
            "epoch",
            "epochs",
            "history",
            "error",
            "error_detail",
            "snapshot",
            "cancel_requested",
            "device",
            "worker",
            "model",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "heartbeat_age_seconds",
            "stale_after_seconds",
            "queued_seconds",
            "elapsed_seconds",
            "eta_seconds",
            "dispatched_at",
            "dispatch_count",
        ]
        read_only_fields = fields

    def get_heartbeat_age_seconds(self, job: TrainingJob) -> float | None:
        if job.status != "running" or job.heartbeat_at is None:
            return None
        return round(max(0.0, (timezone.now() - job.heartbeat_at).total_seconds()), 1)

    def get_elapsed_seconds(self, job: TrainingJob) -> float | None:
        if job.started_at is None:
            return None
        end = job.finished_at or timezone.now()
        return round(max(0.0, (end - job.started_at).total_seconds()), 1)

    def get_queued_seconds(self, job: TrainingJob) -> float | None:
        if job.status != "queued":
            return None
        return round(max(0.0, (timezone.now() - job.created_at).total_seconds()), 1)

    def get_stale_after_seconds(self, job: TrainingJob) -> float:
        return float(settings.TRAINING_STALE_AFTER_SECONDS)

    def get_model(self, job: TrainingJob) -> int | None:
        version = getattr(job, "model_version", None)  # reverse one-to-one: AttributeError when none
        return version.id if version else None

    # Scrubbed again on the way out: rows written before error_detail existed hold the raw exception.
    def get_error(self, job: TrainingJob) -> str:
        return scrub_paths(job.error)

    def get_error_detail(self, job: TrainingJob) -> str:
        return scrub_paths(job.error_detail)

    @extend_schema_field(SnapshotSerializer(allow_null=True))
    def get_snapshot(self, job: TrainingJob) -> dict | None:
        return job.snapshot


class PerDefectTypeSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Defective test images of this type.")
    recall = serializers.FloatField(allow_null=True, help_text="Share of them with score >= threshold.")
    image_auroc = serializers.FloatField(allow_null=True, help_text="This type vs all good test images.")


class CommonMetricsSerializer(serializers.Serializer):
    """The image metrics: all a comparison of two versions on the same images needs."""

    image_auroc = serializers.FloatField(allow_null=True)
    image_ap = serializers.FloatField(allow_null=True)
    f1 = serializers.FloatField(allow_null=True)
    precision = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)


class CrossValidatedSerializer(serializers.Serializer):
    f1 = serializers.FloatField()
    precision = serializers.FloatField()
    recall = serializers.FloatField()
    folds = serializers.IntegerField()


class MetricsSerializer(CommonMetricsSerializer):
    pixel_auroc = serializers.FloatField(allow_null=True)
    aupro = serializers.FloatField(allow_null=True)
    threshold_cross_validated = CrossValidatedSerializer(
        allow_null=True,
        required=False,
        help_text="When the threshold was chosen on the test split (F1-optimal), f1/precision/recall there are "
        "optimistic: these are what the same rule gets on test images it was not chosen on (each of `folds` "
        "folds judged at the threshold chosen on the others). Null when the threshold came from good training "
        "images, or the split has fewer than two good and two defective images.",
    )
    per_defect_type = serializers.DictField(
        child=PerDefectTypeSerializer(),
        allow_null=True,
        help_text="{<type>: {count, recall, image_auroc}} over the test split's defective images of each type "
        "(untyped defects are under no key: see untyped_defects); null for versions trained before it was measured.",
    )
    untyped_defects = PerDefectTypeSerializer(
        allow_null=True,
        help_text="The same figures over the test split's defective images that have no defect type; null when "
        "there are none (or the version was trained before it was measured).",
    )
    score_range = serializers.ListField(
        child=serializers.FloatField(),
        allow_null=True,
        help_text="[lowest, highest] image score on the test split (equal: one score for every image); null for "
        "versions trained before it was measured.",
    )


class TrainCountsSerializer(serializers.Serializer):
    good = serializers.IntegerField()
    defective = serializers.IntegerField()
    masks = serializers.IntegerField()


class WarningSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class ModelVersionSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id", read_only=True)
    job = serializers.IntegerField(source="job_id", read_only=True, allow_null=True)
    metrics = serializers.SerializerMethodField()
    train_counts = TrainCountsSerializer(read_only=True)
    test_counts = serializers.JSONField(read_only=True, help_text="{good, defective, masks} of the test split used.")
    compared_with = serializers.SerializerMethodField(
        help_text="The active version this one was compared with at activation: {version, image_auroc (the active "
        "one's), new_image_auroc (this one's), images, excluded}, both on this test split less the images the active "
        "version trained on (`excluded` of them)."
    )
    curves = serializers.JSONField(read_only=True, help_text="{roc: {fpr, tpr}, pr: {precision, recall}, histogram}")
    snapshot = serializers.SerializerMethodField(help_text="What this version trained and was evaluated on.")
    warnings = serializers.SerializerMethodField(
        help_text="[{code, detail}]: 'inverted' when the test image AUROC is below 0.5 (the model ranks defects "
        "below good parts), 'chance' when it is 0.5 (no better than a coin, e.g. one score for every image), "
        "'read_16_bit_blank' for versions trained before 16-bit images were read correctly (train again), "
        "'non_commercial_backbone' for weights under a non-commercial licence."
    )
    image_size = serializers.IntegerField(
        read_only=True,
        help_text="For clients that know only square sizes: the larger side of image_height x image_width.",
    )
    image_height = serializers.SerializerMethodField(
        help_text="Working resolution (height) the version was trained at."
    )
    image_width = serializers.SerializerMethodField(help_text="Working resolution (width) the version was trained at.")
    tiling = serializers.CharField(read_only=True, help_text='"off" or the tile grid "RxC" it was trained with.')
    sample_depth = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Bits per sample the version reads 16-bit and 32-bit images with (the largest depth its training "
        "images use, docs/api.md 'What the model sees'); null when they were 8-bit, or for versions trained before.",
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "project",
            "version",
            "job",
            "mode",
            "preset",
            "backbone",
            "image_size",
            "image_height",
            "image_width",
            "tiling",
            "sample_depth",
            "threshold",
            "is_active",
            "created_at",
            "train_counts",
            "test_counts",
            "metrics",
            "compared_with",
            "curves",
            "snapshot",
            "warnings",
        ]
        read_only_fields = [f for f in fields if f != "threshold"]

    @extend_schema_field(MetricsSerializer)
    def get_metrics(self, version: ModelVersion) -> dict:
        stored = version.metrics or {}
        return {
            **{key: stored.get(key) for key in METRIC_KEYS},
            "per_defect_type": stored.get("per_defect_type"),
            "untyped_defects": stored.get("untyped_defects"),
            "threshold_cross_validated": stored.get("threshold_cross_validated"),
            "score_range": stored.get("score_range"),
        }

    @extend_schema_field(WarningSerializer(many=True))
    def get_warnings(self, version: ModelVersion) -> list[dict]:
        return quality_warnings(version.metrics, version.backbone)

    def get_image_height(self, version: ModelVersion) -> int:
        return version.image_height or version.image_size  # versions from before height x width were square

    def get_image_width(self, version: ModelVersion) -> int:
        return version.image_width or version.image_size

    def get_compared_with(self, version: ModelVersion) -> dict | None:
        return (version.metrics or {}).get("compared_with")

    @extend_schema_field(SnapshotSerializer(allow_null=True))
    def get_snapshot(self, version: ModelVersion) -> dict | None:
        return version.snapshot


class ThresholdSerializer(StrictKeysMixin, serializers.Serializer):
    threshold = serializers.FloatField(min_value=0.0, max_value=1.0)

    def to_internal_value(self, data):
        if isinstance(data, dict) and "is_active" in data:
            raise serializers.ValidationError(
                {"is_active": ["A version is activated with POST /api/v1/models/{id}/activate/, not by PATCH."]}
            )
        return super().to_internal_value(data)


class PredictionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.IntegerField(source="model_version_id")
    image = serializers.IntegerField(source="image_id")
    score = serializers.FloatField()
    is_defective = serializers.SerializerMethodField(help_text="score >= threshold (ml.metrics.is_defective).")
    threshold = serializers.FloatField(source="model_version.threshold")
    heatmap_url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_is_defective(self, prediction) -> bool:
        return is_defective(prediction.score, prediction.model_version.threshold)

    def get_heatmap_url(self, prediction) -> str:
        return self.context["request"].build_absolute_uri(reverse("prediction-heatmap", args=[prediction.id]))


class JobBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    trigger = serializers.CharField()


class TrainingStatusSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=STATES, help_text="What the retrain policy does next.")
    reason = serializers.CharField(help_text="The policy's state in a sentence, shown verbatim by the page.")
    last_job = JobBriefSerializer(allow_null=True, help_text="The newest finished job.")
    pending = SnapshotSerializer(
        allow_null=True,
        help_text="The snapshot a run started now would freeze (null while a job is queued or running).",
    )
    auto_retrain = serializers.BooleanField()
    retrain_after_labels = serializers.IntegerField()
    min_good_for_first_model = serializers.IntegerField()
    labels_since_training = serializers.IntegerField(help_text="Labels and masks since the last run started.")
    good_train_images = serializers.IntegerField()
    has_model = serializers.BooleanField()
    next_run = serializers.ChoiceField(choices=["first_model", "retrain"])
    next_mode = serializers.CharField()
    labels_until_next_run = serializers.IntegerField(
        help_text="Before the first model: good train images still missing; after: labels until the next run."
    )
    good_labels_until_first_model = serializers.IntegerField(
        allow_null=True,
        help_text="Before the first model: about how many more good labels give those train images, as the split "
        "policy sends the first ones and then a share test_fraction to the test split (null once a model exists).",
    )
    active_job = TrainingJobSerializer(allow_null=True)
    active_model = ModelVersionSerializer(allow_null=True)
