"""Synchronous predict and asynchronous inference batches: uploads spooled to disk and read one at a time."""

from __future__ import annotations

import csv
import itertools

from django.conf import settings
from django.http import Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.core.csvsafe import csv_cell
from webapp.core.exceptions import InvalidInput
from webapp.core.permissions import IsProjectMember
from webapp.core.query import StrictQueryMixin
from webapp.core.responses import queue_down
from webapp.core.schema import errors
from webapp.core.uploads import SpoolUploadsToDisk, single_file
from webapp.datasets.imaging import check_archive_size

from .. import inference, selectors
from ..models import InferenceBatch, ModelVersion
from . import inference_serializers as s
from .views import IgnoreFormatQueryNegotiation, ProjectScopedView, _png_response


def _files(request, field: str = "files") -> list[inference.Upload]:
    """The request's files, unread: each is checked (size, then format) and read when its turn comes."""
    return [inference.Upload(upload.name, file=upload) for upload in request.FILES.getlist(field)]


class PredictView(StrictQueryMixin, SpoolUploadsToDisk, ProjectScopedView):
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


class ProjectInferenceBatchesView(StrictQueryMixin, SpoolUploadsToDisk, ProjectScopedView):
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = s.InferenceBatchSerializer
    queryset = InferenceBatch.objects.none()  # for the schema; requests use the project's rows
    paginated = True

    @extend_schema(
        summary="List the project's inference batches",
        responses={200: s.InferenceBatchSerializer(many=True), **errors(400, 401, 404)},
    )
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
        archive = single_file(request, "archive")
        if archive is not None:
            check_archive_size(archive.size)
            # A generator: entries are read one at a time while the batch stores them, never all at once.
            uploads = itertools.chain(uploads, inference.archive_entries(archive))
        version = None
        if request.data.get("model") not in (None, ""):
            try:
                version = selectors.versions_for_project(project).get(pk=int(request.data["model"]))
            except (ValueError, TypeError, ModelVersion.DoesNotExist):
                raise InvalidInput(f"model: no version {request.data['model']!r} in this project.") from None
        batch = inference.create_inference_batch(
            project=project, created_by=request.user, uploads=uploads, version=version
        )
        sent = inference.dispatch_inference_batch(batch.id)
        data = s.InferenceBatchSerializer(batch, context={"request": request}).data
        if not sent:
            return queue_down(what=f"inference batch {batch.id}", obj_id=batch.id, key="batch", data=data)
        return Response(data, status=status.HTTP_202_ACCEPTED)


class InferenceBatchDetailView(StrictQueryMixin, GenericAPIView):
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


class InferenceBatchResultsView(StrictQueryMixin, GenericAPIView):
    permission_classes = [IsAuthenticated, IsProjectMember]
    serializer_class = s.InferenceItemSerializer
    content_negotiation_class = IgnoreFormatQueryNegotiation
    query_params_allowed = ("format",)
    paginated = True

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
                        csv_cell(data[k]) if data[k] is not None else ""
                        for k in ("filename", "score", "is_defective", "heatmap_url", "error")
                    ]
                )

        response = StreamingHttpResponse(rows(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="inference-batch-{batch.id}.csv"'
        return response


class InferenceItemHeatmapView(StrictQueryMixin, APIView):
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
