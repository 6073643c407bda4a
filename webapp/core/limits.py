"""Request bodies are refused by their declared size before a byte of them is read.

Django holds a JSON or form body in memory when it is parsed, and DRF's parsers read the whole stream
whatever DATA_UPLOAD_MAX_MEMORY_SIZE says, so a 300 MB JSON body would be read into a web worker. This
middleware answers 413 from the Content-Length alone:

- `multipart/form-data`: MAX_MULTIPART_BYTES (files stream to temp files; the text fields of the form
  count against DATA_UPLOAD_MAX_MEMORY_SIZE, which is MAX_REQUEST_BODY_BYTES);
- a raw file (`image/*`, `application/octet-stream`: a mask PUT): MAX_UPLOAD_BYTES;
- anything else (JSON, forms, text): MAX_REQUEST_BODY_BYTES.

A body sent without a Content-Length (chunked) is not read by Django at all, so it cannot grow a worker.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from .views import API_PREFIX


def body_limit(content_type: str) -> tuple[int, str]:
    """(limit in bytes, the setting that names it) for a body of this Content-Type."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        return settings.MAX_MULTIPART_BYTES, "MAX_MULTIPART_BYTES"
    if media_type.startswith("image/") or media_type == "application/octet-stream":
        return settings.MAX_UPLOAD_BYTES, "MAX_UPLOAD_BYTES"
    return settings.MAX_REQUEST_BODY_BYTES, "MAX_REQUEST_BODY_BYTES"


class RequestBodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return self._refuse(request, 400, "The Content-Length header is not a number.")
        limit, name = body_limit(request.META.get("CONTENT_TYPE", ""))
        if length > limit:
            detail = f"The request body is {length} bytes; the limit for this kind of body is {limit} bytes ({name})."
            return self._refuse(request, 413, detail)
        return self.get_response(request)

    @staticmethod
    def _refuse(request: HttpRequest, status: int, detail: str) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            response = JsonResponse({"detail": detail}, status=status)
        else:
            response = HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")
        # The unread body makes the connection unusable for another request.
        response["Connection"] = "close"
        return response
