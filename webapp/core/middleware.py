"""Under /api/, an error answered by anything but DRF (Django's debug 404 page, a CSRF failure page, a
middleware's refusal) becomes JSON `{"detail": ...}` with the same status: API clients never get HTML.

An API path sent without its trailing slash (`POST /api/v1/projects`) is served as the path with it, instead of
Django's redirect: a client that follows a 301 re-sends a POST as a GET and loses its body.

A request refused before its body was read (401, 403, 404 on an upload) has the body read and dropped here, up
to UNREAD_BODY_DRAIN_BYTES: gunicorn itself drains only 64 KB and then closes the connection without telling
the client, whose next request on that keep-alive connection then gets no answer at all."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

from .views import API_PREFIX

logger = logging.getLogger(__name__)

# Headers that still mean something once the body is replaced.
_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After", "Vary")


class ApiJsonErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        _add_missing_slash(request)
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith(API_PREFIX)
            or response.get("Content-Type", "").startswith("application/json")
            or getattr(response, "streaming", False)
        ):
            return response
        replacement = JsonResponse({"detail": response.reason_phrase or "Error."}, status=response.status_code)
        for header in _KEPT_HEADERS:
            if header in response:
                replacement[header] = response[header]
        return replacement


def _add_missing_slash(request: HttpRequest) -> None:
    path = request.path_info
    if not path.startswith(API_PREFIX) or path.endswith("/"):
        return
    try:
        resolve(path)
        return  # a route of its own
    except Resolver404:
        pass
    try:
        resolve(path + "/")
    except Resolver404:
        return  # no such route either way: the 404 stays
    request.path_info = path + "/"
    request.path = request.path + "/"


class DrainUnreadBodyMiddleware:
    """Read and drop the body of a request answered without reading it, when it is small enough, so the
    keep-alive connection stays usable (see the module docstring). A larger one is left to the server, which
    closes the connection: reading gigabytes to refuse them would let anyone hold a thread."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return response
        unread = not getattr(request, "_read_started", False)
        # A 413 refused the body for its size: it is never read, whatever its size.
        if 0 < length <= settings.UNREAD_BODY_DRAIN_BYTES and unread and response.status_code != 413:
            try:
                while request.read(1 << 16):
                    pass
            except OSError:  # the client went away: nothing to keep alive
                logger.info("Client left while its unread request body was drained")
        return response
