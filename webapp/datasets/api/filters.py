"""Gallery filters and ordering (`?label=&split=&has_mask=&predicted=&defect_type=&ids=&ordering=`)."""

from django import forms
from django.db.models import F, QuerySet, Value
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_field

from webapp.core.exceptions import InvalidInput
from webapp.core.query import parse_id

from .. import defect_types
from ..models import Image, Label, Split

MAX_FILTER_IDS = 10_000

ORDERINGS = {
    "score": (F("score").asc(nulls_last=True), "id"),
    "-score": (F("score").desc(nulls_last=True), "-id"),
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
}


class IdsField(forms.CharField):
    """`1,2,3` -> [1, 2, 3]: ids that fit a 64-bit column (a larger number is 400, never a database error)."""

    def clean(self, value):
        text = super().clean(value) or ""
        parts = [part for part in text.split(",") if part.strip()]
        if len(parts) > MAX_FILTER_IDS:
            raise forms.ValidationError(f"At most {MAX_FILTER_IDS} ids.")
        try:
            return [parse_id(part, "ids") for part in parts]
        except InvalidInput as exc:  # "ids: 'x' is not an id": the filter's error already names the key
            raise forms.ValidationError(exc.detail.removeprefix("ids: ")) from exc


@extend_schema_field({"type": "string", "pattern": r"^[0-9]+(,[0-9]+)*$"})
class IdsFilter(filters.Filter):
    field_class = IdsField

    def filter(self, qs: QuerySet, value: list[int]) -> QuerySet:
        return qs.filter(pk__in=value) if value else qs


class StrictBooleanField(forms.CharField):
    """`true` / `false` (also `1` / `0`); anything else is an error, not "no filter"."""

    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def clean(self, value):
        text = (super().clean(value) or "").strip().lower()
        if text == "":
            return None
        if text not in self.VALUES:
            raise forms.ValidationError(f"{text[:40]!r} is not a boolean; use true or false.")
        return self.VALUES[text]


class StrictBooleanFilter(filters.Filter):
    field_class = StrictBooleanField

    def filter(self, qs: QuerySet, value: bool | None) -> QuerySet:
        return qs if value is None else qs.filter(**{self.field_name: value})


class DefectTypesField(forms.CharField):
    """`crack,hole` -> ["crack", "hole"]; each name must be a valid defect type."""

    def clean(self, value):
        names = []
        for part in (super().clean(value) or "").split(","):
            try:
                name = defect_types.clean(part)
            except ValueError as exc:
                raise forms.ValidationError(f"{part.strip()[:80]!r}: {exc}") from exc
            if name is not None:
                names.append(name)
        return names


class DefectTypeFilter(filters.Filter):
    field_class = DefectTypesField

    def filter(self, qs: QuerySet, value: list[str]) -> QuerySet:
        return qs.filter(defect_type__in=value) if value else qs


class ImageFilter(filters.FilterSet):
    """Expects the queryset of `selectors.images_for_project` (annotated `score` and `threshold`)."""

    label = filters.ChoiceFilter(choices=Label.choices)
    split = filters.ChoiceFilter(choices=Split.choices)
    has_mask = StrictBooleanFilter(help_text="true or false.")
    predicted = filters.ChoiceFilter(
        choices=[("defective", "defective"), ("good", "good")],
        method="filter_predicted",
        help_text="By the active model's prediction; images without one match neither.",
    )
    defect_type = DefectTypeFilter(help_text="Comma-separated defect types: images with any of them.")
    ids = IdsFilter(help_text=f"Comma-separated image ids (at most {MAX_FILTER_IDS}).")
    ordering = filters.ChoiceFilter(
        choices=[(key, key) for key in ORDERINGS],
        method="filter_ordering",
        help_text="score = the active model's score, images without one last. Default -created_at.",
    )

    class Meta:
        model = Image
        fields: list[str] = []

    def filter_predicted(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        scored = queryset.filter(score__isnull=False)
        if value == "defective":
            return scored.filter(score__gte=F("threshold"))
        return scored.filter(score__lt=F("threshold"))

    def filter_ordering(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value.lstrip("-") == "score" and isinstance(queryset.query.annotations.get("score"), Value):
            # No active model: every score is NULL, and PostgreSQL refuses ORDER BY a constant.
            return queryset.order_by(*ORDERINGS[value][1:])
        return queryset.order_by(*ORDERINGS[value])
