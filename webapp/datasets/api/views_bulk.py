"""Bulk actions on a project's images: by ids, or every image matching a filter; `?dry_run=1` counts only."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.core.parsers import SafeJSONParser
from webapp.core.query import StrictQueryMixin
from webapp.core.schema import errors

from .. import selectors, services
from . import image_serializers as s
from .base import ProjectScopedMixin
from .filters import ImageFilter

DRY_RUN_VALUES = {"1": True, "true": True, "0": False, "false": False, "": False}


class ProjectImageBulkView(StrictQueryMixin, ProjectScopedMixin, APIView):
    """Label, move between splits or delete many images: by `ids`, or every image matching `filter`.

    Unknown keys (in the body or its filter) are 400 and change nothing; a delete needs a non-empty id list
    or a filter that selects something. `?dry_run=1` answers how many images the action would affect and
    changes nothing."""

    parser_classes = [SafeJSONParser]
    query_params_allowed = ("dry_run",)

    @extend_schema(
        tags=["images"],
        request=s.BulkSerializer,
        parameters=[
            OpenApiParameter("dry_run", bool, description="Count what the action would affect; change nothing.")
        ],
        responses={200: s.BulkResultSerializer, **errors(400, 403, 404)},
    )
    def post(self, request, project_id):
        project = self.get_project()
        dry_run = _dry_run(request)
        serializer = s.BulkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        images = selectors.images_for_project(project, selectors.active_model(project))
        if "ids" in data:
            images = images.filter(pk__in=data["ids"])
        else:
            filterset = ImageFilter(data=s.active_filters(data["filter"]), queryset=images, request=request)
            if not filterset.is_valid():
                raise ValidationError(filterset.errors)
            images = filterset.qs
        selected = project.images.filter(pk__in=images.order_by().values("pk"))
        action, value = data["action"], data.get("value")
        if dry_run:
            affected = services.images_bulk_count(project=project, images=selected, action=action, value=value)
        else:
            affected = services.images_bulk(project=project, images=selected, action=action, value=value)
        return Response({"action": action, "affected": affected, "dry_run": dry_run})


def _dry_run(request) -> bool:
    raw = request.query_params.get("dry_run", "").strip().lower()
    if raw not in DRY_RUN_VALUES:
        raise ValidationError({"dry_run": [f"{raw[:40]!r} is not a boolean; use 1 or 0."]})
    return DRY_RUN_VALUES[raw]
