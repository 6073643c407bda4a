"""Thin views: validate with a serializer, look up through selectors, write through services."""

from django.conf import settings
from django.http import FileResponse, Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.core.exceptions import InvalidInput, PayloadTooLarge
from webapp.core.permissions import CanEditProjectData, IsProjectMember, IsProjectOwnerForWrites
from webapp.core.schema import errors

from .. import files, importer, selectors, services
from ..imaging import content_type_for
from ..models import Image, ImportJob, Membership, Project
from . import serializers as s
from .filters import ImageFilter

IMMUTABLE = "private, max-age=31536000, immutable"


class ProjectScopedMixin:
    """Resolves `project_id` from the URL to one of the user's projects (404 otherwise) and checks roles."""

    project_permission = CanEditProjectData

    def get_project(self) -> Project:
        if not hasattr(self, "_project"):
            project = selectors.project_for_member(self.request.user, self.kwargs["project_id"])
            if not self.project_permission().has_object_permission(self.request, self, project):
                self.permission_denied(self.request, message=self.project_permission.message)
            self._project = project
        return self._project


# ---------------------------------------------------------------- projects


class ProjectListView(generics.ListCreateAPIView):
    """Your projects (newest first) / create one; you become its owner."""

    serializer_class = s.ProjectSerializer

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

    @extend_schema(tags=["projects"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ProjectDetailView(APIView):
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


class MemberListView(ProjectScopedMixin, generics.GenericAPIView):
    """Members of a project. Owners add members or change a member's role (POST again with another role)."""

    project_permission = IsProjectOwnerForWrites
    serializer_class = s.MemberSerializer
    queryset = Membership.objects.none()  # for the schema; requests use the project's members

    @extend_schema(tags=["members"], responses={200: s.MemberSerializer(many=True), **errors(404)})
    def get(self, request, project_id):
        members = Membership.objects.filter(project=self.get_project()).select_related("user").order_by("id")
        page = self.paginate_queryset(members)
        return self.get_paginated_response(s.MemberSerializer(page, many=True).data)

    @extend_schema(
        tags=["members"],
        request=s.MemberCreateSerializer,
        responses={201: s.MemberSerializer, 200: s.MemberSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request, project_id):
        project = self.get_project()
        serializer = s.MemberCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership, created = services.member_set(project=project, **serializer.validated_data)
        return Response(s.MemberSerializer(membership).data, status=201 if created else 200)


class MemberDetailView(ProjectScopedMixin, APIView):
    """Remove a member (owners; anyone may leave a project, except its creator)."""

    project_permission = IsProjectMember

    @extend_schema(tags=["members"], responses={204: None, **errors(403, 404, 409)})
    def delete(self, request, project_id, user_id):
        project = self.get_project()
        if user_id != request.user.pk and not IsProjectOwnerForWrites().has_object_permission(request, self, project):
            self.permission_denied(request, message=IsProjectOwnerForWrites.message)
        services.member_remove(project=project, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- images


class ProjectImageListView(ProjectScopedMixin, generics.ListAPIView):
    """The gallery (filters, ordering by the active model's score) and multi-file upload."""

    serializer_class = s.ImageSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = ImageFilter
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no URL kwargs, no user
            return Image.objects.none()
        project = self.get_project()
        return selectors.images_for_project(project, selectors.active_model(project)).order_by("-created_at", "-id")

    @extend_schema(tags=["images"], responses={200: s.ImageSerializer(many=True), **errors(400, 404)})
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        # Sort and page over ids only, then load the page's rows: sorting 10,000 narrow rows instead of
        # whole ones makes deep pages (ordering by score especially) about three times faster.
        page_ids = self.paginate_queryset(queryset.prefetch_related(None).values_list("pk", flat=True))
        rows = {image.pk: image for image in queryset.order_by().filter(pk__in=page_ids)}
        page = [rows[pk] for pk in page_ids if pk in rows]
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        tags=["images"],
        request={"multipart/form-data": s.ImageUploadSerializer},
        filters=False,
        responses={
            201: OpenApiResponse(
                s.UploadedImageSerializer(many=True),
                description="One entry per file, in order. When some files of several were refused, their "
                "entries are {filename, status, error} instead of images.",
            ),
            **errors(400, 403, 404, 413, 415),
        },
    )
    def post(self, request, project_id):
        project = self.get_project()
        uploads = request.FILES.getlist("files")
        if not uploads:
            raise InvalidInput("No files: send one or more multipart fields named `files`.")
        results = services.images_upload(project=project, uploads=uploads)
        failed = [r for r in results if r.error is not None]
        if len(failed) == len(results):
            if len(results) == 1:
                raise failed[0].error
            codes = {r.error.status_code for r in failed}
            return Response(
                {
                    "detail": f"None of the {len(results)} files was stored.",
                    "errors": [
                        {"filename": r.filename, "status": r.error.status_code, "error": r.error.detail} for r in failed
                    ],
                },
                status=codes.pop() if len(codes) == 1 else status.HTTP_400_BAD_REQUEST,
            )
        context = self.get_serializer_context()
        body = []
        for result in results:
            if result.error is not None:
                body.append(
                    {"filename": result.filename, "status": result.error.status_code, "error": result.error.detail}
                )
                continue
            result.image.duplicate = result.duplicate
            result.image.active_predictions = []
            body.append(s.UploadedImageSerializer(result.image, context=context).data)
        return Response(body, status=status.HTTP_201_CREATED)


class ProjectDefectTypeListView(ProjectScopedMixin, generics.GenericAPIView):
    """The project's defect types with how many images have each, by name (the gallery's filter and the
    labeller's suggestions)."""

    project_permission = IsProjectMember
    serializer_class = s.DefectTypeCountSerializer
    queryset = Image.objects.none()  # for the schema; requests use the project's images

    @extend_schema(tags=["images"], responses={200: s.DefectTypeCountSerializer(many=True), **errors(404)})
    def get(self, request, project_id):
        page = self.paginate_queryset(selectors.defect_types_for_project(self.get_project()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class ProjectImageBulkView(ProjectScopedMixin, APIView):
    """Label, move between splits or delete many images: by `ids`, or every image matching `filter`."""

    parser_classes = [JSONParser]

    @extend_schema(
        tags=["images"], request=s.BulkSerializer, responses={200: s.BulkResultSerializer, **errors(400, 403, 404)}
    )
    def post(self, request, project_id):
        project = self.get_project()
        serializer = s.BulkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        images = selectors.images_for_project(project, selectors.active_model(project))
        if "ids" in data:
            images = images.filter(pk__in=data["ids"])
        else:
            wanted = {
                key: str(value).lower() if isinstance(value, bool) else value
                for key, value in data["filter"].items()
                if value not in (None, "")
            }
            filterset = ImageFilter(data=wanted, queryset=images, request=request)
            if not filterset.is_valid():
                raise ValidationError(filterset.errors)
            images = filterset.qs
        selected = project.images.filter(pk__in=images.order_by().values("pk"))
        affected = services.images_bulk(
            project=project, images=selected, action=data["action"], value=data.get("value")
        )
        return Response({"action": data["action"], "affected": affected})


class ImageDetailView(APIView):
    """One image. PATCH `label` / `split` / `defect_type` (owners, labellers); DELETE removes it with its files."""

    permission_classes = [*APIView.permission_classes, CanEditProjectData]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_object(self):
        image = selectors.image_for_user(self.request.user, self.kwargs["pk"])
        self.check_object_permissions(self.request, image)
        return image

    @extend_schema(tags=["images"], responses={200: s.ImageSerializer, **errors(404)})
    def get(self, request, pk):
        return Response(s.ImageSerializer(self.get_object(), context={"request": request}).data)

    @extend_schema(
        tags=["images"], request=s.ImageUpdateSerializer, responses={200: s.ImageSerializer, **errors(400, 403, 404)}
    )
    def patch(self, request, pk):
        image = self.get_object()
        serializer = s.ImageUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.image_update(image=image, **serializer.validated_data)
        return Response(
            s.ImageSerializer(selectors.image_for_user(request.user, pk), context={"request": request}).data
        )

    @extend_schema(tags=["images"], responses={204: None, **errors(403, 404)})
    def delete(self, request, pk):
        services.image_delete(image=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class _ImageFileBase(APIView):
    permission_classes = [*APIView.permission_classes, IsProjectMember]
    field = "file"

    def get(self, request, pk):
        image = selectors.images_for_user(request.user).filter(pk=pk).first()
        if image is None:
            raise Http404("No such image.")
        self.check_object_permissions(request, image)
        name = getattr(image, self.field).name
        response = FileResponse(files.open_stored(name), content_type=content_type_for(name))
        response["Cache-Control"] = IMMUTABLE
        return response


class ImageFileView(_ImageFileBase):
    """The original bytes as uploaded, with their content type."""

    @extend_schema(
        tags=["images"],
        responses={(200, "image/*"): OpenApiTypes.BINARY, **errors(404)},
    )
    def get(self, request, pk):
        return super().get(request, pk)


class ImageThumbnailView(_ImageFileBase):
    """JPEG thumbnail, longest side at most 256 px."""

    field = "thumbnail"

    @extend_schema(tags=["images"], responses={(200, "image/jpeg"): OpenApiTypes.BINARY, **errors(404)})
    def get(self, request, pk):
        return super().get(request, pk)


class ImageMaskView(APIView):
    """The defect mask: a {0,255} single-channel PNG at the image's resolution."""

    permission_classes = [*APIView.permission_classes, CanEditProjectData]

    def get_object(self):
        image = selectors.images_for_user(self.request.user).filter(pk=self.kwargs["pk"]).first()
        if image is None:
            raise Http404("No such image.")
        self.check_object_permissions(self.request, image)
        return image

    @extend_schema(tags=["masks"], responses={(200, "image/png"): OpenApiTypes.BINARY, **errors(404)})
    def get(self, request, pk):
        mask = selectors.mask_for_image(self.get_object())
        response = FileResponse(files.open_stored(mask.file.name), content_type="image/png")
        response["Cache-Control"] = "no-cache"
        return response

    @extend_schema(
        tags=["masks"],
        request={"image/png": OpenApiTypes.BINARY},
        responses={200: s.ImageSerializer, **errors(400, 403, 404, 413)},
        description="Body: the PNG itself (`Content-Type: image/png`), same width and height as the image; any "
        "non-zero pixel is a defect. Sets label=defective. A body that is not a PNG is 400 whatever its "
        "Content-Type; an all-zero mask is 400; a mask of another size is 400.",
    )
    def put(self, request, pk):
        image = self.get_object()
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.MAX_UPLOAD_BYTES:
            raise PayloadTooLarge(f"Mask is {length} bytes; the limit is {settings.MAX_UPLOAD_BYTES} bytes.")
        body = request.body
        if not body:
            raise InvalidInput("Send the mask as a PNG request body (Content-Type: image/png).")
        services.mask_set(image=image, data=body)
        return Response(
            s.ImageSerializer(selectors.image_for_user(request.user, pk), context={"request": request}).data
        )

    @extend_schema(tags=["masks"], responses={204: None, **errors(403, 404)})
    def delete(self, request, pk):
        services.mask_delete(image=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- imports


class ProjectImportListView(ProjectScopedMixin, generics.GenericAPIView):
    """Zip imports of a project: list them, or upload a zip (MVTec AD layout or flat) to import."""

    serializer_class = s.ImportJobSerializer
    parser_classes = [MultiPartParser, FormParser]
    queryset = ImportJob.objects.none()  # for the schema; requests use the project's imports

    @extend_schema(tags=["imports"], responses={200: s.ImportJobSerializer(many=True), **errors(404)})
    def get(self, request, project_id):
        page = self.paginate_queryset(self.get_project().imports.all())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        tags=["imports"],
        request={"multipart/form-data": s.ImportCreateSerializer},
        responses={202: s.ImportJobSerializer, **errors(400, 403, 404, 413, 503)},
    )
    def post(self, request, project_id):
        project = self.get_project()
        serializer = s.ImportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = importer.import_job_create(
            project=project, user=request.user, archive=serializer.validated_data["archive"]
        )
        data = self.get_serializer(job).data
        if getattr(job, "queue_ok", True) is False:
            # API.md: 503 when the queue is unreachable; the archive and the job are kept, and the periodic
            # dispatcher sends the import once the queue is back.
            detail = f"The task queue is unreachable; import {job.id} is saved and will start when it is back."
            return Response({"detail": detail, "id": job.id, "job": data}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(data, status=status.HTTP_202_ACCEPTED)


class ImportDetailView(generics.GenericAPIView):
    """Progress and report of one import."""

    serializer_class = s.ImportJobSerializer

    @extend_schema(tags=["imports"], responses={200: s.ImportJobSerializer, **errors(404)})
    def get(self, request, pk):
        return Response(self.get_serializer(selectors.import_job_for_user(request.user, pk)).data)
