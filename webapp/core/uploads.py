"""Upload handling shared by the views that take many files."""

from django.core.files.uploadhandler import TemporaryFileUploadHandler

from webapp.core.exceptions import InvalidInput


class SpoolUploadsToDisk:
    """View mixin: multipart files go to temporary files however small, so a request of many files never
    sits in memory (Django keeps each file under FILE_UPLOAD_MAX_MEMORY_SIZE in memory by default). Set
    before DRF wraps the request, so before authentication or anything else can read the body."""

    def initialize_request(self, request, *args, **kwargs):
        request.upload_handlers = [TemporaryFileUploadHandler(request)]
        return super().initialize_request(request, *args, **kwargs)


def single_file(request, field: str):
    """The one file sent as `field`, or None. Two parts of that name are refused (400), not settled by taking one
    silently: a client that attached the wrong zip next to the right one would not know which was used."""
    files = request.FILES.getlist(field)
    if len(files) > 1:
        raise InvalidInput(f"Send one {field!r} file per request; this one has {len(files)}.")
    return files[0] if files else None
