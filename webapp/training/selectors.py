"""Reads of the pipeline's rows, always scoped to the user's projects (404 for anything else)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from webapp.datasets.models import Image, Split

from .models import InferenceBatch, InferenceItem, ModelVersion, Prediction, SnapshotEntry, TrainingJob


def _visible(queryset: QuerySet, user, project_path: str = "project") -> QuerySet:
    return queryset.filter(**{f"{project_path}__memberships__user": user})


def _one(queryset: QuerySet, pk, what: str):
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise Http404(f"No such {what}.")
    return obj


def jobs_for_project(project) -> QuerySet[TrainingJob]:
    return TrainingJob.objects.filter(project=project).select_related("model_version").order_by("-created_at", "-id")


def job_for_user(user, job_id) -> TrainingJob:
    jobs = _visible(TrainingJob.objects.select_related("project", "model_version"), user)
    return _one(jobs, job_id, "training job")


def active_job(project) -> TrainingJob | None:
    return jobs_for_project(project).filter(status__in=["queued", "running"]).first()


def versions_for_project(project) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(project=project).order_by("-version")


def version_for_user(user, version_id) -> ModelVersion:
    return _one(_visible(ModelVersion.objects.select_related("project"), user), version_id, "model")


def active_prediction_for_user(user, image_id, version_id: int | None = None) -> Prediction:
    """The prediction of the image by its project's active model, or by version `version_id` of its project;
    404 without one."""
    image = _one(_visible(Image.objects.all(), user), image_id, "image")
    predictions = Prediction.objects.filter(image=image).select_related("model_version")
    if version_id is None:
        prediction = predictions.filter(model_version__is_active=True).first()
        if prediction is None:
            raise Http404("No prediction for this image yet (no active model, or it has not been scored).")
        return prediction
    if not ModelVersion.objects.filter(pk=version_id, project_id=image.project_id).exists():
        raise Http404(f"No model version {version_id} in this image's project.")
    prediction = predictions.filter(model_version_id=version_id).first()
    if prediction is None:
        raise Http404(f"Model version {version_id} has not scored this image.")
    return prediction


def prediction_for_user(user, prediction_id) -> Prediction:
    predictions = _visible(Prediction.objects.select_related("model_version"), user, "image__project")
    return _one(predictions, prediction_id, "prediction")


def batch_for_user(user, batch_id) -> InferenceBatch:
    return _one(_visible(InferenceBatch.objects.select_related("project", "model_version"), user), batch_id, "batch")


def items_of_batch(batch: InferenceBatch) -> QuerySet[InferenceItem]:
    return InferenceItem.objects.filter(batch=batch).order_by("id")


def item_for_user(user, item_id) -> InferenceItem:
    items = _visible(InferenceItem.objects.select_related("batch__model_version"), user, "batch__project")
    return _one(items, item_id, "inference item")


def held_out_by(version: ModelVersion) -> QuerySet | None:
    """Ids of the images a version was tested on and never trained on: its snapshot's test split (a
    subquery); None for a version from before snapshots, whose splits were not kept."""
    if version.job_id is None or not SnapshotEntry.objects.filter(job_id=version.job_id).exists():
        return None
    return SnapshotEntry.objects.filter(job_id=version.job_id, split=Split.TEST).values("image_id")


def compare_versions(a: ModelVersion, b: ModelVersion) -> list[dict]:
    """Both versions' scores on the images both held out (read-only): in the test split of both training
    snapshots, so neither is credited for an image it trained on, whatever was moved between splits since
    (a version from before snapshots: the project's test split today).

    One row per image, in image order: `{image, filename, label, defect_type, score_a, score_b}` with the
    image's label and type now (the operator's latest word); the verdicts (`score >= threshold`) are the
    serializer's. Images scored by only one version are left out, so the rows are the same images for both.
    """
    rows = Prediction.objects.filter(model_version_id__in=[a.pk, b.pk], image__project_id=a.project_id)
    for version in (a, b):
        held_out = held_out_by(version)
        rows = rows.filter(image__split=Split.TEST) if held_out is None else rows.filter(image_id__in=held_out)
    rows = rows.values_list(
        "image_id", "model_version_id", "score", "image__filename", "image__label", "image__defect_type"
    ).order_by("image_id")
    by_image: dict[int, dict] = {}
    for image_id, version_id, score, filename, label, defect_type in rows:
        row = by_image.setdefault(
            image_id, {"image": image_id, "filename": filename, "label": label, "defect_type": defect_type}
        )
        row["score_a" if version_id == a.pk else "score_b"] = score
    return [r for r in by_image.values() if "score_a" in r and "score_b" in r]
