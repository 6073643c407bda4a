"""Gallery filters and ordering (`?label=&split=&has_mask=&predicted=&defect_type=&ids=&ordering=`)."""

from django import forms
from django.db.models import F, QuerySet, Value
from django_filters import rest_framework as filters

from .. import defect_types
from ..models import Image, Label, Split

ORDERINGS = {
    "score": (F("score").asc(nulls_last=True), "id"),
    "-score": (F("score").desc(nulls_last=True), "-id"),
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
}


class NumberInFilter(filters.BaseInFilter, filters.NumberFilter):
    pass


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
    has_mask = filters.BooleanFilter()
    predicted = filters.ChoiceFilter(
        choices=[("defective", "defective"), ("good", "good")],
        method="filter_predicted",
        help_text="By the active model's prediction; images without one match neither.",
    )
    defect_type = DefectTypeFilter(help_text="Comma-separated defect types: images with any of them.")
    ids = NumberInFilter(field_name="id", help_text="Comma-separated image ids.")
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
