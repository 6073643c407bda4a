"""Thin views: validate with a serializer, look up through selectors, write through services.

Projects, members and imports here; images in views_images.py, bulk actions in views_bulk.py.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.core.permissions import CanEditProjectData, IsProjectMember, IsProjectOwnerForWrites
from webapp.core.query import StrictQueryMixin
from webapp.core.responses import queue_down
from webapp.core.schema import errors
from webapp.core.uploads import single_file

from .. import importer, selectors, services
from ..models import ImportJob, Membership, Project
from . import serializers as s
from .base import ProjectScopedMixin
from .views_bulk import ProjectImageBulkView  # noqa: F401 - urls.py names every view through this module
from .views_images import (  # noqa: F401
    ImageDetailView,
    ImageFileView,
    ImageMaskView,
    ImageThumbnailView,
    ImageViewView,
    ProjectDefectTypeListView,
    ProjectImageListView,
)


class ProjectListView(StrictQueryMixin, generics.ListCreateAPIView):
    """Your projects (newest first) / create one; you become its owner."""

    serializer_class = s.ProjectSerializer
    paginated = True

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Project.objects.none()
        return selectors.projects_for_user(self.request.user)

    @extend_schema(tags=["projects"], responses={201: s.ProjectSerializer, **errors(400)})
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = services.project_create(owner=request.user, **serializer.validated_data)
        project = selectors.project_for_user(request.user, project.pk)
        return Response(self.get_serializer(project).data, status=status.HTTP_201_CREATED)

    @extend_schema(tags=["projects"], responses={200: s.ProjectSerializer(many=True), **errors(400, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ProjectDetailView(StrictQueryMixin, APIView):
    """One project with counts, active model and settings. PATCH name, description, settings (owners and
    labellers); DELETE removes the project with all its images and models (owners)."""

    def get_object(self) -> Project:
        project = selectors.project_for_user(self.request.user, self.kwargs["pk"])
        self.check_object_permissions(self.request, project)
        return project

    def get_permissions(self):
        rule = IsProjectOwnerForWrites if self.request.method == "DELETE" else CanEditProjectData
        return [*super().get_permissions(), rule()]

    @extend_schema(tags=["projects"], responses={200: s.ProjectSerializer, **errors(404)})
    def get(self, request, pk):
        return Response(s.ProjectSerializer(self.get_object(), context={"request": request}).data)

    @extend_schema(
        tags=["projects"], request=s.ProjectSerializer, responses={200: s.ProjectSerializer, **errors(400, 403, 404)}
    )
    def patch(self, request, pk):
        project = self.get_object()
        serializer = s.ProjectSerializer(project, data=request.data, partial=True, context={"request": request})
        serializer.is_valid(raise_exception=True)
        services.project_update(project=project, **serializer.validated_data)
        project = selectors.project_for_user(request.user, project.pk)
        return Response(s.ProjectSerializer(project, context={"request": request}).data)

    @extend_schema(tags=["projects"], responses={204: None, **errors(403, 404)})
    def delete(self, request, pk):
        services.project_delete(project=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListView(StrictQueryMixin, ProjectScopedMixin, generics.GenericAPIView):
    """Members of a project. Owners add members or change a member's role (POST again with another role)."""

    project_permission = IsProjectOwnerForWrites
    serializer_class = s.MemberSerializer
    paginated = True
    queryset = Membership.objects.none()  # for the schema; requests use the project's members

    @extend_schema(tags=["members"], responses={200: s.MemberSerializer(many=True), **errors(400, 404)})
    def get(self, request, project_id):
        members = Membership.objects.filter(project=self.get_project()).select_related("user", "project").order_by("id")
        page = self.paginate_queryset(members)
        return self.get_paginated_response(s.MemberSerializer(page, many=True).data)

    @extend_schema(
        tags=["members"],
        request=s.MemberCreateSerializer,
        responses={201: s.MemberSerializer, 200: s.MemberSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request, project_id):
        project = self.get_project()
        serializer = s.MemberCreateSerializer(data=request.data, context={"project": project})
        serializer.is_valid(raise_exception=True)
        membership, created = services.member_set(project=project, **serializer.validated_data)
        return Response(s.MemberSerializer(membership).data, status=201 if created else 200)


class MemberDetailView(StrictQueryMixin, ProjectScopedMixin, APIView):
    """Remove a member (owners; anyone may leave a project, except its creator)."""

    project_permission = IsProjectMember

    @extend_schema(tags=["members"], responses={204: None, **errors(403, 404, 409)})
    def delete(self, request, project_id, user_id):
        project = self.get_project()
        if user_id != request.user.pk and not IsProjectOwnerForWrites().has_object_permission(request, self, project):
            self.permission_denied(request, message=IsProjectOwnerForWrites.message)
        services.member_remove(project=project, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectImportListView(StrictQueryMixin, ProjectScopedMixin, generics.GenericAPIView):
    """Zip imports of a project: list them, or upload a zip (MVTec AD layout or flat) to import."""

    serializer_class = s.ImportJobSerializer
    parser_classes = [MultiPartParser, FormParser]
    paginated = True
    queryset = ImportJob.objects.none()  # for the schema; requests use the project's imports

    @extend_schema(tags=["imports"], responses={200: s.ImportJobSerializer(many=True), **errors(400, 404)})
    def get(self, request, project_id):
        project = self.get_project()
        importer.reap_lost_imports(project_id=project.id)
        page = self.paginate_queryset(project.imports.all())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        tags=["imports"],
        request={"multipart/form-data": s.ImportCreateSerializer},
        responses={202: s.ImportJobSerializer, **errors(400, 403, 404, 413, 503)},
    )
    def post(self, request, project_id):
        project = self.get_project()
        single_file(request, "archive")
        serializer = s.ImportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = importer.import_job_create(
            project=project, user=request.user, archive=serializer.validated_data["archive"]
        )
        data = self.get_serializer(job).data
        if job.queue == "unavailable":
            # API.md: 503 when the queue is unreachable; the archive and the job are kept, and the periodic
            # dispatcher sends the import once the queue is back.
            return queue_down(what=f"import {job.id}", obj_id=job.id, key="job", data=data)
        return Response(data, status=status.HTTP_202_ACCEPTED)


class ImportDetailView(StrictQueryMixin, generics.GenericAPIView):
    """Progress and report of one import."""

    serializer_class = s.ImportJobSerializer

    @extend_schema(tags=["imports"], responses={200: s.ImportJobSerializer, **errors(404)})
    def get(self, request, pk):
        job = selectors.import_job_for_user(request.user, pk)
        if importer.reap_lost_imports(project_id=job.project_id):
            job.refresh_from_db()
        return Response(self.get_serializer(job).data)
