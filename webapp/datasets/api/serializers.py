from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator
from django.urls import NoReverseMatch, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from ml.metrics import is_defective
from webapp.core.query import MAX_ID

from .. import defect_types
from ..backbones import available_backbones, backbone_problem
from ..models import Image, ImportJob, Label, Membership, Project, Role, Split
from ..revisions import revision
from .resolution import SIZE_HELP, TILING_HELP, ImageSizeField, TilingField

_PLACEHOLDER = 987654321987
_DATETIME = serializers.DateTimeField()


def _absolute(request, url: str) -> str:
    return request.build_absolute_uri(url) if request is not None else url


class StrictKeysMixin:
    """Refuse keys the serializer does not declare: a typo must not be ignored (API.md, "Additions in v1")."""

    unknown_key_message = "Unknown field {key!r}; allowed: {allowed}."

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                allowed = ", ".join(name for name, field in self.fields.items() if not field.read_only)
                message = self.unknown_key_message.format(key=unknown[0][:80], allowed=allowed)
                raise serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [message]})
        return super().to_internal_value(data)


class ProjectSettingsSerializer(StrictKeysMixin, serializers.Serializer):
    unknown_key_message = "Unknown setting {key!r}; the settings are: {allowed}."

    image_size = ImageSizeField(required=False, help_text=SIZE_HELP)
    tiling = TilingField(required=False, help_text=TILING_HELP)
    backbone = serializers.CharField(required=False, help_text="One of the available backbones.")
    auto_retrain = serializers.BooleanField(required=False)
    retrain_after_labels = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    min_good_for_first_model = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    test_fraction = serializers.FloatField(
        required=False, min_value=0.0, max_value=0.9, help_text="Share of newly labelled images sent to the test split."
    )

    def validate_backbone(self, value: str) -> str:
        choices = available_backbones()
        if value not in choices:
            problem = backbone_problem(value)
            detail = f" ({problem})" if problem else ""
            raise serializers.ValidationError(
                f"Unknown or unavailable backbone{detail}; choose one of {', '.join(choices)}."
            )
        return value


class CountsSerializer(serializers.Serializer):
    images = serializers.IntegerField()
    good = serializers.IntegerField()
    defective = serializers.IntegerField()
    unlabeled = serializers.IntegerField()
    masks = serializers.IntegerField()


class ProjectSerializer(StrictKeysMixin, serializers.ModelSerializer):
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

    def get_fields(self):
        # Typed text is bounded by settings (MAX_PROJECT_NAME_CHARS, MAX_DESCRIPTION_CHARS): a 200 MB
        # description would otherwise come back in every project list.
        fields = super().get_fields()
        limits = {"name": django_settings.MAX_PROJECT_NAME_CHARS, "description": django_settings.MAX_DESCRIPTION_CHARS}
        for name, limit in limits.items():
            field = fields[name]
            field.max_length = limit
            field.validators = [v for v in field.validators if not isinstance(v, MaxLengthValidator)]
            field.validators.append(MaxLengthValidator(limit))
        return fields

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


NO_SUCH_USER = "No active user has this user name or e-mail address."


class MemberCreateSerializer(serializers.Serializer):
    """Who to add, as the owner types it: a user name or an e-mail address.

    `user_id` is only accepted for someone already in the project (to change their role): ids of other
    users would let an owner enumerate accounts. Every miss gets the same answer, NO_SUCH_USER."""

    username = serializers.CharField(required=False, max_length=150)
    email = serializers.EmailField(required=False, max_length=254)
    user_id = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    role = serializers.ChoiceField(
        choices=Role.choices,
        default=Role.LABELLER,
        error_messages={"invalid_choice": f'"{{input}}" is not a role; the roles are: {", ".join(Role.values)}.'},
    )

    def validate(self, attrs: dict) -> dict:
        given = [name for name in ("username", "email", "user_id") if name in attrs]
        if len(given) != 1:
            raise serializers.ValidationError("Give one of username or email (user_id only for a current member).")
        users = get_user_model().objects.filter(is_active=True)
        if "username" in attrs:
            matches = users.filter(username=attrs["username"])
        elif "email" in attrs:
            matches = users.filter(email__iexact=attrs["email"]) if attrs["email"] else users.none()
        else:
            project = self.context["project"]
            matches = users.filter(pk=attrs["user_id"], memberships__project=project)
        found = list(matches[:2])
        if len(found) != 1:  # none, or an e-mail address several accounts share
            raise serializers.ValidationError(NO_SUCH_USER)
        return {"user": found[0], "role": attrs["role"]}


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
    revision = serializers.SerializerMethodField(
        help_text="Changes whenever the label, split, defect type or mask changes. Send it back as `If-Match` on a "
        "PATCH or a mask PUT/DELETE: 412 instead of overwriting someone else's newer edit."
    )

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
            "revision",
        ]
        read_only_fields = fields

    def get_revision(self, image: Image) -> str:
        return revision(image)

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


class ImageUpdateSerializer(StrictKeysMixin, serializers.Serializer):
    """PATCH of an image: a misspelt or read-only field is 400, never a silent 200 that changed nothing."""

    unknown_key_message = "Unknown or read-only field {key!r}; an image's writable fields are: {allowed}."

    label = serializers.ChoiceField(choices=Label.choices, required=False)
    split = serializers.ChoiceField(choices=Split.choices, required=False)
    defect_type = DefectTypeField(
        required=False, help_text='The kind of defect, free text (at most 64 characters, no commas); "" or null clears.'
    )


class ImageFilterSerializer(StrictKeysMixin, serializers.Serializer):
    """The gallery's filters as JSON; empty values mean "any", as in the query string. Unknown keys are 400."""

    unknown_key_message = "Unknown filter key {key!r}; allowed: {allowed}."

    label = serializers.ChoiceField(choices=Label.choices, required=False, allow_blank=True)
    split = serializers.ChoiceField(choices=Split.choices, required=False, allow_blank=True)
    has_mask = serializers.BooleanField(required=False, allow_null=True, default=None)
    predicted = serializers.ChoiceField(choices=["defective", "good"], required=False, allow_blank=True)
    defect_type = DefectTypeListField(required=False, help_text="Any of these defect types (comma-separated).")


MAX_BULK_IDS = 10_000


class BulkSerializer(StrictKeysMixin, serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=MAX_BULK_IDS
    )
    filter = ImageFilterSerializer(required=False, help_text="Instead of ids: every image matching these filters.")
    action = serializers.ChoiceField(choices=["label", "split", "delete"])
    value = serializers.CharField(required=False, allow_null=True, help_text="The label or split to set.")

    def validate(self, attrs: dict) -> dict:
        if ("ids" in attrs) == ("filter" in attrs):
            raise serializers.ValidationError("Give either ids or filter.")
        choices = {"label": Label.values, "split": Split.values}.get(attrs["action"])
        if choices is not None and attrs.get("value") not in choices:
            raise serializers.ValidationError({"value": [f"Must be one of {', '.join(choices)}."]})
        if attrs["action"] == "delete":
            # A delete names what it deletes: an empty filter (every image) or an empty list is refused.
            if "ids" in attrs and not attrs["ids"]:
                raise serializers.ValidationError("A bulk delete needs a non-empty list of ids.")
            if "filter" in attrs and not active_filters(attrs["filter"]):
                raise serializers.ValidationError(
                    "A bulk delete needs a filter that selects something (label, split, has_mask, predicted or "
                    "defect_type); an empty filter would delete every image."
                )
        return attrs


def active_filters(wanted: dict) -> dict:
    """The filter's keys with a value ("" and null mean "any"), as query-string values."""
    return {
        key: str(value).lower() if isinstance(value, bool) else value
        for key, value in wanted.items()
        if value not in (None, "", [])
    }


class BulkResultSerializer(serializers.Serializer):
    action = serializers.CharField()
    affected = serializers.IntegerField(help_text="Images changed; with dry_run, images that would be.")
    dry_run = serializers.BooleanField(help_text="True when nothing was changed (`?dry_run=1`).")


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
