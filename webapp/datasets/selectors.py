"""Reads: which projects a user sees, counts, the gallery query and the active model's predictions.

webapp.training imports webapp.datasets, so its models are imported inside functions here.
"""

from dataclasses import dataclass

from django.db.models import (
    Count,
    F,
    FilteredRelation,
    FloatField,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import Http404

from .models import Image, ImportJob, Label, Mask, Membership, Project


@dataclass(frozen=True)
class ActiveModel:
    id: int
    threshold: float


def _count(**filters) -> Coalesce:
    counted = (
        Image.objects.filter(project=OuterRef("pk"), **filters)
        .order_by()
        .values("project")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def projects_for_user(user) -> QuerySet[Project]:
    """The user's projects with counts, active model id and the user's role, one query for a page."""
    from webapp.training.models import ModelVersion

    return (
        Project.objects.filter(memberships__user=user)
        .annotate(
            n_images=_count(),
            n_good=_count(label=Label.GOOD),
            n_defective=_count(label=Label.DEFECTIVE),
            n_unlabeled=_count(label=Label.UNLABELED),
            n_masks=_count(has_mask=True),
            active_model_id=Subquery(
                ModelVersion.objects.filter(project=OuterRef("pk"), is_active=True).values("id")[:1]
            ),
            my_role=Subquery(Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]),
        )
        .order_by("-created_at", "-id")
    )


def project_for_user(user, project_id) -> Project:
    """One of the user's projects (annotated like `projects_for_user`), else 404 — others are invisible."""
    project = projects_for_user(user).filter(pk=project_id).first()
    if project is None:
        raise Http404("No such project.")
    return project


def project_for_member(user, project_id) -> Project:
    """One of the user's projects with only the user's role annotated (no counts: cheap for every request)."""
    project = (
        Project.objects.filter(pk=project_id, memberships__user=user)
        .annotate(my_role=Subquery(Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]))
        .first()
    )
    if project is None:
        raise Http404("No such project.")
    return project


def active_model(project: Project) -> ActiveModel | None:
    from webapp.training.models import ModelVersion

    row = ModelVersion.objects.filter(project=project, is_active=True).values_list("id", "threshold").first()
    return ActiveModel(*row) if row else None


def active_sample_depth(project_id: int) -> int | None:
    """The bits per sample the project's active model reads 16-bit images with (None: none, or its own)."""
    from webapp.training.models import ModelVersion

    active = ModelVersion.objects.filter(project_id=project_id, is_active=True)
    return active.values_list("sample_depth", flat=True).first()


def images_for_project(project: Project, model: ActiveModel | None) -> QuerySet[Image]:
    """Gallery queryset: `score` (active model's prediction, null without one) and `threshold` annotated,
    the active prediction prefetched into `active_predictions` (one query per page, no N+1)."""
    from webapp.training.models import Prediction

    images = Image.objects.filter(project=project)
    if model is None:
        nothing = Value(None, output_field=FloatField())
        return images.annotate(score=nothing, threshold=nothing)
    # A LEFT JOIN restricted to the active model (at most one row per image: unique image+version) sorts
    # 10,000 images far faster than a correlated subquery per row.
    active = FilteredRelation("predictions", condition=Q(predictions__model_version_id=model.id))
    return images.annotate(
        active_prediction=active, score=F("active_prediction__score"), threshold=Value(model.threshold)
    ).prefetch_related(
        Prefetch(
            "predictions",
            queryset=Prediction.objects.filter(model_version_id=model.id).select_related("model_version"),
            to_attr="active_predictions",
        )
    )


def defect_types_for_project(project: Project) -> QuerySet:
    """The project's defect types as rows `{name, count}`, by name."""
    return (
        Image.objects.filter(project=project, defect_type__isnull=False)
        .values(name=F("defect_type"))
        .annotate(count=Count("pk"))
        .order_by("name")
    )


def images_for_user(user) -> QuerySet[Image]:
    return Image.objects.filter(project__memberships__user=user).select_related("project")


def image_for_user(user, image_id) -> Image:
    """One image of one of the user's projects with its active prediction attached, else 404."""
    image = images_for_user(user).filter(pk=image_id).first()
    if image is None:
        raise Http404("No such image.")
    attach_active_prediction([image], active_model(image.project))
    return image


def attach_active_prediction(images: list[Image], model: ActiveModel | None) -> None:
    from webapp.training.models import Prediction

    by_image = {}
    if model is not None and images:
        predictions = Prediction.objects.filter(model_version_id=model.id, image__in=images)
        by_image = {p.image_id: p for p in predictions.select_related("model_version")}
    for image in images:
        prediction = by_image.get(image.pk)
        image.active_predictions = [prediction] if prediction else []


def mask_for_image(image: Image) -> Mask:
    mask = Mask.objects.filter(image=image).first()
    if mask is None:
        raise Http404("This image has no mask.")
    return mask


def import_job_for_user(user, job_id) -> ImportJob:
    job = ImportJob.objects.filter(pk=job_id, project__memberships__user=user).select_related("project").first()
    if job is None:
        raise Http404("No such import.")
    return job


def split_counts(project: Project, label: str) -> tuple[int, int]:
    """(labelled images with `label`, of which in test) — input of the stratified test-split choice."""
    row = Image.objects.filter(project=project, label=label).aggregate(
        total=Count("pk"), test=Count("pk", filter=Q(split="test"))
    )
    return row["total"], row["test"]
