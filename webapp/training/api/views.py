"""Training jobs, model versions, predictions, synchronous predict and inference batches (API.md).

Views validate, look rows up through selectors (404 outside the user's projects), check the role with
`webapp.core.permissions` (403 for viewers' writes) and call one service.
"""

from __future__ import annotations

import csv
import itertools
import shutil

from django.conf import settings
from django.http import FileResponse, Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.core.exceptions import InvalidInput
from webapp.core.permissions import CanEditProjectData, IsProjectMember
from webapp.core.schema import errors
from webapp.datasets import files
from webapp.datasets.imaging import check_archive_size, check_size
from webapp.datasets.selectors import project_for_user

from .. import engine, inference, selectors, services
from . import serializers as s

QUEUE_DOWN = "The task queue is unreachable; the {what} is saved and will be sent when the queue is back."


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
        project = project_for_user(self.request.user, project_id)
        self.check_object_permissions(self.request, project)
        return project


def _files(request, field: str = "files") -> list[inference.Upload]:
    uploads = []
    for upload in request.FILES.getlist(field):
        check_size(upload.size, f"{upload.name}")
        uploads.append(inference.Upload(upload.name, upload.read()))
    return uploads


# --- training jobs ---------------------------------------------------------------------------------------


class ProjectTrainingJobsView(ProjectScopedView):
    serializer_class = s.TrainingJobSerializer

    @extend_schema(summary="List the project's training jobs, newest first")
    def get(self, request, project_id):
        project = self.get_project(project_id)
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
            detail = QUEUE_DOWN.format(what=f"training job {job.id}")
            return Response({"detail": detail, "id": job.id, "job": data}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(data, status=status.HTTP_201_CREATED)


class TrainingJobDetailView(GenericAPIView):
    permission_classes = [IsAuthenticated, IsProjectMember]
    serializer_class = s.TrainingJobSerializer

    @extend_schema(
        summary="A training job: status, progress, epoch, loss history",
        responses={200: s.TrainingJobSerializer, **errors(401, 404)},
    )
    def get(self, request, job_id):
        job = selectors.job_for_user(request.user, job_id)
        self.check_object_permissions(request, job)
        return Response(s.TrainingJobSerializer(job).data)


class TrainingJobCancelView(GenericAPIView):
    permission_classes = [IsAuthenticated, CanEditProjectData]
    serializer_class = s.TrainingJobSerializer

    @extend_schema(
        summary="Cancel a training job",
        description="Queued: cancelled at once (200). Running: `cancel_requested` is set and the worker stops "
        "within one training step (202; poll the job). 409 when the job has already finished.",
        request=None,
        responses={200: s.TrainingJobSerializer, 202: s.TrainingJobSerializer, **errors(401, 403, 404, 409)},
    )
    def post(self, request, job_id):
        job = selectors.job_for_user(request.user, job_id)
        self.check_object_permissions(request, job)
        job = services.cancel_training_job(job=job)
        code = status.HTTP_200_OK if job.status == "cancelled" else status.HTTP_202_ACCEPTED
        return Response(s.TrainingJobSerializer(job).data, status=code)


class TrainingStatusView(ProjectScopedView):
    serializer_class = s.TrainingStatusSerializer

    @extend_schema(
        summary="Automatic retraining status: labels until the next run, the running job, the active model",
        responses={200: s.TrainingStatusSerializer, **errors(401, 404)},
    )
    def get(self, request, project_id):
        project = self.get_project(project_id)
        data = services.retrain_status(project=project)
        data["active_job"] = selectors.active_job(project)
        data["active_model"] = selectors.versions_for_project(project).filter(is_active=True).first()
        return Response(s.TrainingStatusSerializer(data).data)


# --- model versions --------------------------------------------------------------------------------------


class ProjectModelsView(ProjectScopedView):
    serializer_class = s.ModelVersionSerializer

    @extend_schema(summary="List the project's model versions, newest first")
    def get(self, request, project_id):
        project = self.get_project(project_id)
        page = self.paginate_queryset(selectors.versions_for_project(project))
        return self.get_paginated_response(s.ModelVersionSerializer(page, many=True).data)


class ModelDetailView(GenericAPIView):
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
    @extend_schema(
        summary="Make this version the project's active model (its images are then scored on queue `infer`)",
        request=None,
        responses={200: s.ModelVersionSerializer, **errors(401, 403, 404)},
    )
    def post(self, request, model_id):
        version = services.activate_version(version=self.get_version(request, model_id))
        return Response(s.ModelVersionSerializer(version).data)


EXPORT_FORMATS = {"onnx": ".onnx", "torch": ".pt"}


class ModelExportView(GenericAPIView):
    permission_classes = [IsAuthenticated, IsProjectMember]
    content_negotiation_class = IgnoreFormatQueryNegotiation

    @extend_schema(
        summary="Download the model: ONNX (dynamic batch) or a self-contained PyTorch checkpoint",
        parameters=[OpenApiParameter("format", str, enum=list(EXPORT_FORMATS), default="onnx")],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **errors(400, 401, 404)},
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
            engine.export_model(checkpoint, str(out), fmt, threshold=version.threshold)
            # The open handle keeps the data readable after the folder goes, so nothing is left behind.
            handle = open(out, "rb")  # noqa: SIM115 - FileResponse closes it after streaming
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        filename = f"project-{version.project_id}-v{version.version}{EXPORT_FORMATS[fmt]}"
        return FileResponse(handle, as_attachment=True, filename=filename, content_type="application/octet-stream")


# --- predictions -----------------------------------------------------------------------------------------


class ImagePredictionView(GenericAPIView):
    permission_classes = [IsAuthenticated, IsProjectMember]
    serializer_class = s.PredictionSerializer

    @extend_schema(
        summary="The active model's prediction for the image (404 if none yet)",
        responses={200: s.PredictionSerializer, **errors(401, 404)},
    )
    def get(self, request, image_id):
        prediction = selectors.active_prediction_for_user(request.user, image_id)
        return Response(s.PredictionSerializer(prediction, context={"request": request}).data)


def _png_response(name: str) -> FileResponse:
    return FileResponse(files.open_stored(name), content_type="image/png")


class PredictionHeatmapView(APIView):
    permission_classes = [IsAuthenticated, IsProjectMember]

    @extend_schema(
        summary="The anomaly map: single-channel 8-bit PNG (0..255 = 0..1), same size as the image",
        responses={(200, "image/png"): OpenApiTypes.BINARY, **errors(401, 404)},
    )
    def get(self, request, prediction_id):
        prediction = selectors.prediction_for_user(request.user, prediction_id)
        return _png_response(prediction.heatmap.name)


class PredictView(ProjectScopedView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        summary="Synchronous inference with the active model (up to PREDICT_MAX_FILES=64 files); stores nothing",
        request={"multipart/form-data": s.UploadFilesSerializer},
        responses={200: s.PredictResponseSerializer, **errors(400, 401, 403, 404, 409, 413, 415)},
    )
    def post(self, request, project_id):
        project = self.get_project(project_id)
        if len(request.FILES.getlist("files")) > settings.PREDICT_MAX_FILES:
            raise InvalidInput(f"At most {settings.PREDICT_MAX_FILES} files per request; use inference batches.")
        return Response(inference.predict_uploads(project=project, uploads=_files(request)))


# --- inference batches -------------------------------------------------------------------------------------


class ProjectInferenceBatchesView(ProjectScopedView):
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = s.InferenceBatchSerializer

    @extend_schema(summary="List the project's inference batches")
    def get(self, request, project_id):
        project = self.get_project(project_id)
        page = self.paginate_queryset(project.inference_batches.order_by("-created_at", "-id"))
        return self.get_paginated_response(
            s.InferenceBatchSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        summary="Asynchronous bulk inference: files and/or a zip; chunks are scored by any number of workers",
        description="Files that are no acceptable image become result rows with an `error`. 503 when the task "
        "queue is unreachable: the batch is saved and the dispatcher sends it when the queue is back.",
        request={"multipart/form-data": s.BatchUploadSerializer},
        responses={202: s.InferenceBatchSerializer, **errors(400, 401, 403, 404, 409, 413, 503)},
    )
    def post(self, request, project_id):
        project = self.get_project(project_id)
        uploads = _files(request)
        archive = request.FILES.get("archive")
        if archive is not None:
            check_archive_size(archive.size)
            # A generator: entries are read one at a time while the batch stores them, never all at once.
            uploads = itertools.chain(uploads, inference.archive_entries(archive))
        batch = inference.create_inference_batch(project=project, created_by=request.user, uploads=uploads)
        sent = inference.dispatch_inference_batch(batch.id)
        data = s.InferenceBatchSerializer(batch, context={"request": request}).data
        if not sent:
            detail = QUEUE_DOWN.format(what=f"inference batch {batch.id}")
            return Response(
                {"detail": detail, "id": batch.id, "batch": data}, status=status.HTTP_503_SERVICE_UNAVAILABLE
            )
        return Response(data, status=status.HTTP_202_ACCEPTED)


class InferenceBatchDetailView(GenericAPIView):
    permission_classes = [IsAuthenticated, IsProjectMember]
    serializer_class = s.InferenceBatchSerializer

    @extend_schema(
        summary="Poll an inference batch: status, total, done",
        responses={200: s.InferenceBatchSerializer, **errors(401, 404)},
    )
    def get(self, request, batch_id):
        batch = selectors.batch_for_user(request.user, batch_id)
        return Response(s.InferenceBatchSerializer(batch, context={"request": request}).data)


class _Echo:
    def write(self, value):
        return value


class InferenceBatchResultsView(GenericAPIView):
    permission_classes = [IsAuthenticated, IsProjectMember]
    serializer_class = s.InferenceItemSerializer
    content_negotiation_class = IgnoreFormatQueryNegotiation

    @extend_schema(
        summary="Results of a batch, paginated, or the whole batch as CSV with ?format=csv",
        parameters=[OpenApiParameter("format", str, enum=["json", "csv"], default="json")],
        responses={200: s.InferenceItemSerializer(many=True), (200, "text/csv"): OpenApiTypes.STR, **errors(401, 404)},
    )
    def get(self, request, batch_id):
        batch = selectors.batch_for_user(request.user, batch_id)
        items = selectors.items_of_batch(batch).select_related("batch__model_version")
        fmt = request.query_params.get("format", "json")
        if fmt == "csv":
            return self._csv(request, batch, items)
        if fmt != "json":
            raise InvalidInput("format must be json or csv.")
        page = self.paginate_queryset(items)
        return self.get_paginated_response(
            s.InferenceItemSerializer(page, many=True, context={"request": request}).data
        )

    def _csv(self, request, batch, items):
        writer = csv.writer(_Echo())
        serializer = s.InferenceItemSerializer(context={"request": request})

        def rows():
            yield writer.writerow(["filename", "score", "is_defective", "heatmap_url", "error"])
            for item in items.iterator(chunk_size=1000):
                data = serializer.to_representation(item)
                yield writer.writerow(
                    [
                        data[k] if data[k] is not None else ""
                        for k in ("filename", "score", "is_defective", "heatmap_url", "error")
                    ]
                )

        response = StreamingHttpResponse(rows(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="inference-batch-{batch.id}.csv"'
        return response


class InferenceItemHeatmapView(APIView):
    permission_classes = [IsAuthenticated, IsProjectMember]

    @extend_schema(
        summary="Heatmap of one inference result: single-channel 8-bit PNG aligned with the uploaded image",
        responses={(200, "image/png"): OpenApiTypes.BINARY, **errors(401, 404)},
    )
    def get(self, request, item_id):
        item = selectors.item_for_user(request.user, item_id)
        if not item.heatmap:
            raise Http404("This item has no heatmap (not processed yet, or it failed).")
        return _png_response(item.heatmap.name)
