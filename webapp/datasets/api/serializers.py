from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ml.metrics import is_defective

from .. import defect_types
from ..backbones import available_backbones
from ..models import Image, ImportJob, Label, Membership, Project, Role, Split

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 64, 1024
_PLACEHOLDER = 987654321987
_DATETIME = serializers.DateTimeField()


def _absolute(request, url: str) -> str:
    return request.build_absolute_uri(url) if request is not None else url


class ProjectSettingsSerializer(serializers.Serializer):
    image_size = serializers.IntegerField(
        required=False,
        help_text=f"Training/inference side in pixels: a multiple of 32, {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE}.",
    )
    backbone = serializers.CharField(required=False, help_text="One of the available backbones.")
    auto_retrain = serializers.BooleanField(required=False)
    retrain_after_labels = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    min_good_for_first_model = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    test_fraction = serializers.FloatField(
        required=False, min_value=0.0, max_value=0.9, help_text="Share of newly labelled images sent to the test split."
    )

    def validate_image_size(self, value: int) -> int:
        if value % 32 or not MIN_IMAGE_SIZE <= value <= MAX_IMAGE_SIZE:
            raise serializers.ValidationError(
                f"Must be a multiple of 32 between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE}."
            )
        return value

    def validate_backbone(self, value: str) -> str:
        choices = available_backbones()
        if value not in choices:
            raise serializers.ValidationError(f"Unknown backbone; choose one of {', '.join(choices)}.")
        return value


class CountsSerializer(serializers.Serializer):
    images = serializers.IntegerField()
    good = serializers.IntegerField()
    defective = serializers.IntegerField()
    unlabeled = serializers.IntegerField()
    masks = serializers.IntegerField()


class ProjectSerializer(serializers.ModelSerializer):
    counts = serializers.SerializerMethodField()
    active_model = serializers.IntegerField(
        source="active_model_id", read_only=True, allow_null=True, help_text="Id of the active model version."
    )
    settings = ProjectSettingsSerializer(source="*", required=False)
    role = serializers.CharField(source="my_role", read_only=True, help_text="Your role in this project.")

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "created_at",
            "counts",
            "active_model",
            "settings",
            "role",
            "labels_since_training",
        ]
        read_only_fields = ["id", "created_at", "labels_since_training"]

    @extend_schema_field(CountsSerializer)
    def get_counts(self, project: Project) -> dict:
        return {
            "images": getattr(project, "n_images", 0),
            "good": getattr(project, "n_good", 0),
            "defective": getattr(project, "n_defective", 0),
            "unlabeled": getattr(project, "n_unlabeled", 0),
            "masks": getattr(project, "n_masks", 0),
        }


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role"]


class MemberCreateSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(required=False)
    username = serializers.CharField(required=False)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.LABELLER)

    def validate(self, attrs: dict) -> dict:
        users = get_user_model().objects.filter(is_active=True)
        if "user_id" in attrs:
            user = users.filter(pk=attrs["user_id"]).first()
        elif "username" in attrs:
            user = users.filter(username=attrs["username"]).first()
        else:
            raise serializers.ValidationError("Give user_id or username.")
        if user is None:
            raise serializers.ValidationError("No such user.")
        return {"user": user, "role": attrs["role"]}


class PredictionSummarySerializer(serializers.Serializer):
    model = serializers.IntegerField(help_text="Model version id.")
    score = serializers.FloatField()
    is_defective = serializers.BooleanField()
    heatmap_url = serializers.CharField()
    created_at = serializers.DateTimeField()


class ImageSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id", read_only=True)
    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    prediction = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id",
            "project",
            "filename",
            "width",
            "height",
            "sha256",
            "label",
            "split",
            "has_mask",
            "defect_type",
            "created_at",
            "file_url",
            "thumbnail_url",
            "prediction",
        ]
        read_only_fields = fields

    def _url(self, kind: str, pk: int) -> str:
        # reverse() + build_absolute_uri per field dominated the cost of a gallery page; resolve each URL
        # pattern once per response and fill in the id.
        cache = self.context.setdefault("_url_templates", {})
        if kind not in cache:
            try:
                path = reverse(kind, args=[_PLACEHOLDER])
            except NoReverseMatch:  # webapp.training's routes not installed: use the contract's path
                path = f"/api/v1/predictions/{_PLACEHOLDER}/heatmap/"
            cache[kind] = _absolute(self.context.get("request"), path).replace(str(_PLACEHOLDER), "{}")
        return cache[kind].format(pk)

    def get_file_url(self, image: Image) -> str:
        return self._url("image-file", image.pk)

    def get_thumbnail_url(self, image: Image) -> str:
        return self._url("image-thumbnail", image.pk)

    @extend_schema_field(PredictionSummarySerializer(allow_null=True))
    def get_prediction(self, image: Image) -> dict | None:
        predictions = getattr(image, "active_predictions", None)
        if not predictions:
            return None
        prediction = predictions[0]
        return {
            "model": prediction.model_version_id,
            "score": prediction.score,
            "is_defective": is_defective(prediction.score, prediction.model_version.threshold),
            "heatmap_url": self._url("prediction-heatmap", prediction.pk),
            "created_at": _DATETIME.to_representation(prediction.created_at),
        }


class UploadedImageSerializer(ImageSerializer):
    duplicate = serializers.BooleanField(read_only=True, help_text="True when identical bytes were already there.")

    class Meta(ImageSerializer.Meta):
        fields = [*ImageSerializer.Meta.fields, "duplicate"]
        read_only_fields = fields


class UploadErrorSerializer(serializers.Serializer):
    filename = serializers.CharField()
    status = serializers.IntegerField(help_text="The status code this file alone would have got (400, 413, 415).")
    error = serializers.CharField()


class ImageUploadSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(), allow_empty=False, help_text="One or more images.")


@extend_schema_field({"type": "string", "nullable": True, "maxLength": defect_types.MAX_LENGTH})
class DefectTypeField(serializers.Field):
    """A defect type name (see webapp.datasets.defect_types); "" or null means none."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def to_internal_value(self, data):
        try:
            return defect_types.clean(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def to_representation(self, value):
        return value


class DefectTypeCountSerializer(serializers.Serializer):
    name = serializers.CharField()
    count = serializers.IntegerField(help_text="Images of the project with this defect type.")


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
class DefectTypeListField(serializers.Field):
    """Defect types to match: comma-separated like the query string, or a JSON list of names."""

    def to_internal_value(self, data):
        if isinstance(data, list) and all(isinstance(name, str) for name in data):
            data = ",".join(data)
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a comma-separated string or a list of strings.")
        return data

    def to_representation(self, value):
        return value


class ImageUpdateSerializer(serializers.Serializer):
    label = serializers.ChoiceField(choices=Label.choices, required=False)
    split = serializers.ChoiceField(choices=Split.choices, required=False)
    defect_type = DefectTypeField(
        required=False, help_text='The kind of defect, free text (at most 64 characters, no commas); "" or null clears.'
    )


class ImageFilterSerializer(serializers.Serializer):
    """The gallery's filters as JSON; empty values mean "any", as in the query string."""

    label = serializers.ChoiceField(choices=Label.choices, required=False, allow_blank=True)
    split = serializers.ChoiceField(choices=Split.choices, required=False, allow_blank=True)
    has_mask = serializers.BooleanField(required=False, allow_null=True, default=None)
    predicted = serializers.ChoiceField(choices=["defective", "good"], required=False, allow_blank=True)
    defect_type = DefectTypeListField(required=False, help_text="Any of these defect types (comma-separated).")


class BulkSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=10_000)
    filter = ImageFilterSerializer(required=False, help_text="Instead of ids: every image matching these filters.")
    action = serializers.ChoiceField(choices=["label", "split", "delete"])
    value = serializers.CharField(required=False, allow_null=True, help_text="The label or split to set.")

    def validate(self, attrs: dict) -> dict:
        if ("ids" in attrs) == ("filter" in attrs):
            raise serializers.ValidationError("Give either ids or filter.")
        choices = {"label": Label.values, "split": Split.values}.get(attrs["action"])
        if choices is not None and attrs.get("value") not in choices:
            raise serializers.ValidationError({"value": [f"Must be one of {', '.join(choices)}."]})
        return attrs


class BulkResultSerializer(serializers.Serializer):
    action = serializers.CharField()
    affected = serializers.IntegerField()


class ImportCreateSerializer(serializers.Serializer):
    archive = serializers.FileField(help_text="A zip: MVTec AD layout, or any images (imported unlabeled).")


class ImportJobSerializer(serializers.ModelSerializer):
    updated = serializers.IntegerField(
        read_only=True, help_text="Images already in the project that took a label, split, mask or defect type."
    )
    kept = serializers.IntegerField(
        read_only=True, help_text="Images already in the project that kept a value a person set over the archive's."
    )
    queue = serializers.SerializerMethodField(help_text="'ok', 'unavailable' (the job waits for the broker) or null.")

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "project",
            "status",
            "progress",
            "total",
            "created",
            "duplicates",
            "masks",
            "updated",
            "kept",
            "skipped",
            "errors",
            "error",
            "archive_name",
            "queue",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_queue(self, job: ImportJob) -> str | None:
        queue_ok = getattr(job, "queue_ok", None)
        return None if queue_ok is None else ("ok" if queue_ok else "unavailable")
