"""Training jobs, model versions, predictions, synchronous predict and inference batches (API.md).

Views validate, look rows up through selectors (404 outside the user's projects), check the role with
`webapp.core.permissions` (403 for viewers' writes) and call one service.
"""

from __future__ import annotations

import logging
import shutil

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.core.exceptions import Conflict, InvalidInput
from webapp.core.permissions import CanEditProjectData, IsProjectMember
from webapp.core.query import StrictQueryMixin, parse_id
from webapp.core.responses import queue_down
from webapp.core.schema import errors
from webapp.datasets import files
from webapp.datasets.selectors import project_for_member

from .. import engine, selectors, services
from ..models import ModelVersion, TrainingJob
from . import serializers as s
from .compare_serializers import ComparisonSerializer

logger = logging.getLogger(__name__)


class IgnoreFormatQueryNegotiation(BaseContentNegotiation):
    """JSON always: `?format=` of these views names a file format (csv, onnx, torch), not a renderer."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ProjectScopedView(GenericAPIView):
    """Looks the project up for the user (404) and checks the role for writes (403)."""

    permission_classes = [IsAuthenticated, CanEditProjectData]

    def get_project(self, project_id):
        # Only the role (no per-label counts): these views are polled every few seconds.
        project = project_for_member(self.request.user, project_id)
        self.check_object_permissions(self.request, project)
        return project


# --- training jobs ---------------------------------------------------------------------------------------


class ProjectTrainingJobsView(StrictQueryMixin, ProjectScopedView):
    serializer_class = s.TrainingJobSerializer
    queryset = TrainingJob.objects.none()  # for the schema; requests use the project's rows
    paginated = True

    @extend_schema(
        summary="List the project's training jobs, newest first",
        responses={200: s.TrainingJobSerializer(many=True), **errors(400, 401, 404)},
    )
    def get(self, request, project_id):
        project = self.get_project(project_id)
        services.reap_lost_jobs(project_id=project.id)  # polled by the training page: a lost job shows failed
        page = self.paginate_queryset(selectors.jobs_for_project(project))
        return self.get_paginated_response(s.TrainingJobSerializer(page, many=True).data)

    @extend_schema(
        summary="Start a training job",
        description=(
            "Creates a queued job and sends it to queue `train`. `auto` trains supervised when the train split "
            "holds defective images (masked or weakly labelled), else unsupervised. 409 while another job of the "
            "project is queued or running. 503 when the task queue is unreachable: the job is kept `queued` and "
            "the dispatcher sends it when the queue is back (the body then carries `id` and `job`)."
        ),
        request=s.TrainingJobCreateSerializer,
        responses={201: s.TrainingJobSerializer, **errors(400, 401, 403, 404, 409, 503)},
    )
    def post(self, request, project_id):
        project = self.get_project(project_id)
        body = s.TrainingJobCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = services.create_training_job(project=project, created_by=request.user, **body.validated_data)
        sent = services.dispatch_training_job(job.id)
        job.refresh_from_db()
        data = s.TrainingJobSerializer(job).data
        if not sent:
            return queue_down(what=f"training job {job.id}", obj_id=job.id, key="job", data=data)
        return Response(data, status=status.HTTP_201_CREATED)


class TrainingJobDetailView(StrictQueryMixin, GenericAPIView):
    permission_classes = [IsAuthenticated, IsProjectMember]
    serializer_class = s.TrainingJobSerializer

    @extend_schema(
        summary="A training job: status, progress, epoch, loss history",
        responses={200: s.TrainingJobSerializer, **errors(401, 404)},
    )
    def get(self, request, job_id):
        job = selectors.job_for_user(request.user, job_id)
        self.check_object_permissions(request, job)
        if job.id in services.reap_lost_jobs(project_id=job.project_id):
            job.refresh_from_db()
        return Response(s.TrainingJobSerializer(job).data)


class TrainingJobCancelView(StrictQueryMixin, GenericAPIView):
    permission_classes = [IsAuthenticated, CanEditProjectData]
    serializer_class = s.TrainingJobSerializer

    @extend_schema(
        summary="Cancel a training job",
        description="Queued: cancelled at once (200). Running: `cancel_requested` is set and the worker stops "
        "within one training step (202; poll the job). Running on a worker that stopped answering "
        "(TRAINING_STALE_AFTER_SECONDS): failed at once with the reason (200). 409 when the job has already "
        "finished.",
        request=None,
        responses={200: s.TrainingJobSerializer, 202: s.TrainingJobSerializer, **errors(401, 403, 404, 409)},
    )
    def post(self, request, job_id):
        job = selectors.job_for_user(request.user, job_id)
        self.check_object_permissions(request, job)
        job = services.cancel_training_job(job=job)
        # 202 while the worker still has to stop; 200 once the job has ended (cancelled, or failed: worker lost)
        code = status.HTTP_202_ACCEPTED if job.status == "running" else status.HTTP_200_OK
        return Response(s.TrainingJobSerializer(job).data, status=code)


class TrainingStatusView(StrictQueryMixin, ProjectScopedView):
    serializer_class = s.TrainingStatusSerializer

    @extend_schema(
        summary="Automatic retraining status: labels until the next run, the running job, the active model",
        responses={200: s.TrainingStatusSerializer, **errors(401, 404)},
    )
    def get(self, request, project_id):
        project = self.get_project(project_id)
        services.reap_lost_jobs(project_id=project.id)
        data = services.retrain_status(project=project)
        data["active_job"] = selectors.active_job(project)
        data["active_model"] = selectors.versions_for_project(project).filter(is_active=True).first()
        return Response(s.TrainingStatusSerializer(data).data)


# --- model versions --------------------------------------------------------------------------------------


class ProjectModelsView(StrictQueryMixin, ProjectScopedView):
    serializer_class = s.ModelVersionSerializer
    queryset = ModelVersion.objects.none()  # for the schema; requests use the project's rows
    paginated = True

    @extend_schema(
        summary="List the project's model versions, newest first",
        responses={200: s.ModelVersionSerializer(many=True), **errors(400, 401, 404)},
    )
    def get(self, request, project_id):
        project = self.get_project(project_id)
        page = self.paginate_queryset(selectors.versions_for_project(project))
        return self.get_paginated_response(s.ModelVersionSerializer(page, many=True).data)


class ModelDetailView(StrictQueryMixin, GenericAPIView):
    permission_classes = [IsAuthenticated, CanEditProjectData]
    serializer_class = s.ModelVersionSerializer

    def get_version(self, request, model_id):
        version = selectors.version_for_user(request.user, model_id)
        self.check_object_permissions(request, version)
        return version

    @extend_schema(
        summary="A model version with its metrics on the test split",
        responses={200: s.ModelVersionSerializer, **errors(401, 404)},
    )
    def get(self, request, model_id):
        return Response(s.ModelVersionSerializer(self.get_version(request, model_id)).data)

    @extend_schema(
        summary="Change the decision threshold",
        description="`is_defective` of every prediction by this version follows the new threshold at once.",
        request=s.ThresholdSerializer,
        responses={200: s.ModelVersionSerializer, **errors(400, 401, 403, 404)},
    )
    def patch(self, request, model_id):
        version = self.get_version(request, model_id)
        body = s.ThresholdSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = services.set_threshold(version=version, threshold=body.validated_data["threshold"])
        return Response(s.ModelVersionSerializer(version).data)


class ModelActivateView(ModelDetailView):
    # Only POST: the PATCH inherited from the detail view would change the threshold through this URL.
    http_method_names = ["post", "options"]

    @extend_schema(
        summary="Make this version the project's active model (its images are then scored on queue `infer`)",
        description="Takes no body: a body with any field (a `threshold`, say) is 400 and changes nothing; "
        "set the threshold with `PATCH /api/v1/models/{id}/`.",
        request=None,
        responses={200: s.ModelVersionSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, model_id):
        version = self.get_version(request, model_id)
        if request.data:
            field = next(iter(request.data))
            raise InvalidInput(
                f"Activation takes no body (got {str(field)[:40]!r}); change the threshold with PATCH /models/{{id}}/."
            )
        version = services.activate_version(version=version)
        return Response(s.ModelVersionSerializer(version).data)


class ModelCompareView(StrictQueryMixin, GenericAPIView):
    permission_classes = [IsAuthenticated, IsProjectMember]
    serializer_class = ComparisonSerializer

    @extend_schema(
        summary="Compare two versions of a project on the same test images (read-only)",
        description="Both versions' scores on every test-split image that each of them scored, the verdicts "
        "(`score >= threshold` of each version), which images changed verdict, and both versions' metrics. "
        "400 when the versions belong to different projects.",
        responses={200: ComparisonSerializer, **errors(400, 401, 404)},
    )
    def get(self, request, model_id, other_id):
        a = selectors.version_for_user(request.user, model_id)
        b = selectors.version_for_user(request.user, other_id)
        if a.project_id != b.project_id:
            raise InvalidInput("Both versions must belong to the same project.")
        data = ComparisonSerializer.build(a, b, selectors.compare_versions(a, b))
        return Response(ComparisonSerializer(data).data)


EXPORT_FORMATS = {"onnx": ".onnx", "torch": ".pt"}


class ModelExportView(StrictQueryMixin, GenericAPIView):
    permission_classes = [IsAuthenticated, IsProjectMember]
    content_negotiation_class = IgnoreFormatQueryNegotiation
    query_params_allowed = ("format",)

    @extend_schema(
        summary="Download the model: ONNX (dynamic batch) or a self-contained PyTorch checkpoint",
        parameters=[OpenApiParameter("format", str, enum=list(EXPORT_FORMATS), default="onnx")],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **errors(400, 401, 404, 409)},
    )
    def get(self, request, model_id):
        version = selectors.version_for_user(request.user, model_id)
        self.check_object_permissions(request, version)
        fmt = request.query_params.get("format", "onnx")
        if fmt not in EXPORT_FORMATS:
            raise InvalidInput(f"Unknown format {fmt!r}; use one of: {', '.join(EXPORT_FORMATS)}.")
        scratch = engine.scratch_dir("export-")
        try:
            checkpoint = engine.local_path(version.checkpoint.name, scratch)
            out = scratch / f"model{EXPORT_FORMATS[fmt]}"
            try:
                engine.export_model(checkpoint, str(out), fmt, threshold=version.threshold)
            except Exception as exc:  # a damaged or foreign checkpoint: say so, never a 500
                logger.exception("Export of model version %s failed", version.id)
                raise Conflict(f"Model version {version.id} cannot be exported: its checkpoint is unreadable.") from exc
            # The open handle keeps the data readable after the folder goes, so nothing is left behind.
            handle = open(out, "rb")  # noqa: SIM115 - FileResponse closes it after streaming
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        filename = f"project-{version.project_id}-v{version.version}{EXPORT_FORMATS[fmt]}"
        return FileResponse(handle, as_attachment=True, filename=filename, content_type="application/octet-stream")


# --- predictions -----------------------------------------------------------------------------------------


class ImagePredictionView(StrictQueryMixin, GenericAPIView):
    permission_classes = [IsAuthenticated, IsProjectMember]
    serializer_class = s.PredictionSerializer
    query_params_allowed = ("model",)

    @extend_schema(
        summary="The active model's prediction for the image, or a chosen version's with ?model= (404 if none yet)",
        parameters=[
            OpenApiParameter(
                "model", int, description="A model version id of the image's project: its prediction instead."
            )
        ],
        responses={200: s.PredictionSerializer, **errors(400, 401, 404)},
    )
    def get(self, request, image_id):
        raw = request.query_params.get("model")
        version_id = None if raw in (None, "") else parse_id(raw, "model")
        prediction = selectors.active_prediction_for_user(request.user, image_id, version_id)
        return Response(s.PredictionSerializer(prediction, context={"request": request}).data)


def _png_response(name: str) -> FileResponse:
    return FileResponse(files.open_stored(name), content_type="image/png")


class PredictionHeatmapView(StrictQueryMixin, APIView):
    permission_classes = [IsAuthenticated, IsProjectMember]

    @extend_schema(
        summary="The anomaly map: single-channel 8-bit PNG (0..255 = 0..1), same size as the image",
        responses={(200, "image/png"): OpenApiTypes.BINARY, **errors(401, 404)},
    )
    def get(self, request, prediction_id):
        prediction = selectors.prediction_for_user(request.user, prediction_id)
        return _png_response(prediction.heatmap.name)


# Synchronous predict and inference batches live in views_inference.py; urls.py names them through here.
from .views_inference import (  # noqa: E402, F401
    InferenceBatchDetailView,
    InferenceBatchResultsView,
    InferenceItemHeatmapView,
    PredictView,
    ProjectInferenceBatchesView,
)
