"""Images: the gallery and uploads, one image, its files and its mask."""

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.core.exceptions import InvalidInput, PayloadTooLarge, none_accepted
from webapp.core.parsers import SafeJSONParser
from webapp.core.permissions import CanEditProjectData, IsProjectMember
from webapp.core.query import StrictQueryMixin
from webapp.core.schema import errors
from webapp.core.uploads import SpoolUploadsToDisk

from .. import files, imaging, selectors, services
from ..imaging import content_type_for
from ..models import Image
from . import image_serializers as s
from .base import ProjectScopedMixin
from .filters import ImageFilter

IMMUTABLE = "private, max-age=31536000, immutable"


class _UnpaginatedPostSchema(AutoSchema):
    """The upload's 201 is a plain list (one entry per file), not a page like the gallery's GET."""

    def _get_paginator(self):
        return None if self.method == "POST" else super()._get_paginator()


class ProjectImageListView(StrictQueryMixin, SpoolUploadsToDisk, ProjectScopedMixin, generics.ListAPIView):
    """The gallery (filters, ordering by the active model's score) and multi-file upload."""

    schema = _UnpaginatedPostSchema()

    serializer_class = s.ImageSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = ImageFilter
    parser_classes = [MultiPartParser, FormParser]
    paginated = True

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
                PolymorphicProxySerializer(
                    component_name="UploadEntry",
                    serializers=[s.UploadedImageSerializer, s.UploadErrorSerializer],
                    resource_type_field_name=None,
                    many=True,
                ),
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
            raise none_accepted("stored", [(r.filename, r.error) for r in failed])
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


class ProjectDefectTypeListView(StrictQueryMixin, ProjectScopedMixin, generics.GenericAPIView):
    """The project's defect types with how many images have each, by name (the gallery's filter and the
    labeller's suggestions)."""

    project_permission = IsProjectMember
    serializer_class = s.DefectTypeCountSerializer
    paginated = True
    queryset = Image.objects.none()  # for the schema; requests use the project's images

    @extend_schema(tags=["images"], responses={200: s.DefectTypeCountSerializer(many=True), **errors(400, 404)})
    def get(self, request, project_id):
        page = self.paginate_queryset(selectors.defect_types_for_project(self.get_project()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


def if_match(request) -> str | None:
    """The `If-Match` revision a write is conditional on (an image's `revision`, quoted or not); None: none.
    A header sent empty is 400: a client that meant to send a revision and sent nothing would otherwise write
    unconditionally, over a colleague's edit."""
    if "If-Match" not in request.headers:
        return None
    value = request.headers["If-Match"].strip()
    if value == "*":
        return None
    revision = value.removeprefix("W/").strip('"').strip()
    if not revision:
        raise InvalidInput(
            "The If-Match header is empty: send the image's revision (as read), or leave the header out to write "
            "whatever the image is now."
        )
    return revision


IF_MATCH_HELP = (
    " Send `If-Match: <revision>` (the image's `revision` when you read it) to make the write conditional: 412, "
    "with nothing written, when someone else changed the image since."
)


class ImageDetailView(StrictQueryMixin, APIView):
    """One image. PATCH `label` / `split` / `defect_type` (owners, labellers); DELETE removes it with its files."""

    permission_classes = [*APIView.permission_classes, CanEditProjectData]
    parser_classes = [SafeJSONParser, FormParser, MultiPartParser]

    def get_object(self):
        image = selectors.image_for_user(self.request.user, self.kwargs["pk"])
        self.check_object_permissions(self.request, image)
        return image

    @extend_schema(tags=["images"], responses={200: s.ImageSerializer, **errors(404)})
    def get(self, request, pk):
        return Response(s.ImageSerializer(self.get_object(), context={"request": request}).data)

    @extend_schema(
        tags=["images"],
        request=s.ImageUpdateSerializer,
        responses={200: s.ImageSerializer, **errors(400, 403, 404, 412)},
        description="Set `label`, `split` and/or `defect_type`." + IF_MATCH_HELP,
    )
    def patch(self, request, pk):
        image = self.get_object()
        serializer = s.ImageUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.image_update(image=image, expected_revision=if_match(request), **serializer.validated_data)
        return Response(
            s.ImageSerializer(selectors.image_for_user(request.user, pk), context={"request": request}).data
        )

    @extend_schema(tags=["images"], responses={204: None, **errors(403, 404)})
    def delete(self, request, pk):
        services.image_delete(image=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class _ImageFileBase(StrictQueryMixin, APIView):
    permission_classes = [*APIView.permission_classes, IsProjectMember]
    field = "file"
    cache_control = IMMUTABLE  # an image's bytes never change under its id

    def member_image(self, request, pk) -> Image:
        image = selectors.images_for_user(request.user).filter(pk=pk).first()
        if image is None:
            raise Http404("No such image.")
        self.check_object_permissions(request, image)
        return image

    def get(self, request, pk):
        return self.stored_file(getattr(self.member_image(request, pk), self.field).name)

    def stored_file(self, name: str) -> FileResponse:
        response = FileResponse(files.open_stored(name), content_type=content_type_for(name))
        response["Cache-Control"] = self.cache_control
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
    # `v` (thumbnail_url carries it): the drawing rule's version, imaging.THUMBNAIL_RULE; any value serves the
    # stored thumbnail. A new rule is a new URL, so each URL's bytes never change.
    query_params_allowed = ("v",)

    @extend_schema(tags=["images"], responses={(200, "image/jpeg"): OpenApiTypes.BINARY, **errors(404)})
    def get(self, request, pk):
        return super().get(request, pk)


class ImageViewView(_ImageFileBase):
    """What the browser shows: the image at full resolution, 8 bits per channel, as the model sees it (16-bit,
    float and TIFF images rendered to PNG by ml.pixels, with the active model's sample_depth; other files sent
    as stored)."""

    @extend_schema(
        tags=["images"],
        responses={(200, "image/*"): OpenApiTypes.BINARY, **errors(404)},
    )
    def get(self, request, pk):
        image = self.member_image(request, pk)
        name = image.file.name
        if not name.lower().endswith((".tif", ".tiff")):  # TIFF is never shown as stored
            with files.opened_header(name) as header:  # the first bytes only (a ranged GET on S3)
                if imaging.browser_native(header):
                    return self.stored_file(name)
        depth = selectors.active_sample_depth(image.project_id)
        # The rendering follows the active model's depth and the drawing rule: a browser asks again each time
        # (no-cache) and gets 304 while neither changed.
        etag = f'"{image.sha256[:20]}-{depth or 0}-{imaging.THUMBNAIL_RULE}"'
        if request.headers.get("If-None-Match") == etag:
            response = HttpResponse(status=304)
        else:
            with files.open_stored(name) as handle:
                response = HttpResponse(imaging.view_png(handle, depth), content_type="image/png")
        response["ETag"] = etag
        response["Cache-Control"] = "private, no-cache"
        return response


class ImageMaskView(StrictQueryMixin, APIView):
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
        responses={200: s.ImageSerializer, **errors(400, 403, 404, 412, 413)},
        description="Body: the PNG itself (`Content-Type: image/png`), same width and height as the image; a "
        "pixel at least half as bright as the brightest is a defect (0/1 masks: any non-zero). Sets "
        "label=defective. A body that is not a PNG is 400 whatever its "
        "Content-Type; an all-zero mask is 400; a mask of another size is 400." + IF_MATCH_HELP,
    )
    def put(self, request, pk):
        image = self.get_object()
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.MAX_UPLOAD_BYTES:
            raise PayloadTooLarge(f"Mask is {length} bytes; the limit is {settings.MAX_UPLOAD_BYTES} bytes.")
        # Read from the stream: `request.body` would hold the mask to DATA_UPLOAD_MAX_MEMORY_SIZE, the limit
        # of JSON bodies; a mask's limit is MAX_UPLOAD_BYTES, checked above (and by webapp.core.limits).
        body = request.stream.read() if request.stream is not None else b""
        if not body:
            raise InvalidInput("Send the mask as a PNG request body (Content-Type: image/png).")
        services.mask_set(image=image, data=body, expected_revision=if_match(request))
        return Response(
            s.ImageSerializer(selectors.image_for_user(request.user, pk), context={"request": request}).data
        )

    @extend_schema(
        tags=["masks"], responses={204: None, **errors(403, 404, 412)}, description="Remove the mask." + IF_MATCH_HELP
    )
    def delete(self, request, pk):
        services.mask_delete(image=self.get_object(), expected_revision=if_match(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
