"""Serializers of images: what the gallery, the labeller and API clients read and write about one image,
uploads, defect types, filters and bulk edits."""

from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ml.metrics import is_defective
from webapp.core.api.strict import StrictKeysMixin
from webapp.core.query import MAX_ID

from .. import defect_types
from ..imaging import THUMBNAIL_RULE
from ..models import Image, Label, Split
from ..revisions import revision

_PLACEHOLDER = 987654321987
_DATETIME = serializers.DateTimeField()


def _absolute(request, url: str) -> str:
    return request.build_absolute_uri(url) if request is not None else url


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
    view_url = serializers.SerializerMethodField(
        help_text="The image at full resolution as the browser should show it: 8 bits per channel, the pixels the "
        "model is given (16-bit, float and TIFF files rendered to PNG; others the file itself)."
    )
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
            "view_url",
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
        return f"{self._url('image-thumbnail', image.pk)}?v={THUMBNAIL_RULE}"

    def get_view_url(self, image: Image) -> str:
        return self._url("image-view", image.pk)

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


class StrictBooleanField(serializers.BooleanField):
    """`true` / `false` (JSON booleans, or the strings "true", "false", "1", "0", as the gallery's query takes):
    DRF's own also takes "yes", "off", "n" ..., which the gallery refuses; one filter, one rule."""

    VALUES = {"true": True, "1": True, "false": False, "0": False}
    default_error_messages = {"invalid": "{input!r} is not a boolean; use true or false."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        if type(data) is int and data in (0, 1):
            return bool(data)
        if isinstance(data, str) and data.strip().lower() in self.VALUES:
            return self.VALUES[data.strip().lower()]
        self.fail("invalid", input=str(data)[:40])


class ImageFilterSerializer(StrictKeysMixin, serializers.Serializer):
    """The gallery's filters as JSON; empty values mean "any", as in the query string. Unknown keys are 400."""

    unknown_key_message = "Unknown filter key {key!r}; allowed: {allowed}."

    label = serializers.ChoiceField(choices=Label.choices, required=False, allow_blank=True)
    split = serializers.ChoiceField(choices=Split.choices, required=False, allow_blank=True)
    has_mask = StrictBooleanField(required=False, allow_null=True, default=None)
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
