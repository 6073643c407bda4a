"""Upload handling shared by the views that take many files."""

from django.core.files.uploadhandler import TemporaryFileUploadHandler


class SpoolUploadsToDisk:
    """View mixin: multipart files go to temporary files however small, so a request of many files never
    sits in memory (Django keeps each file under FILE_UPLOAD_MAX_MEMORY_SIZE in memory by default). Set
    before DRF wraps the request, so before authentication or anything else can read the body."""

    def initialize_request(self, request, *args, **kwargs):
        request.upload_handlers = [TemporaryFileUploadHandler(request)]
        return super().initialize_request(request, *args, **kwargs)
