"""Under /api/, an error answered by anything but DRF (Django's debug 404 page, a CSRF failure page, a
middleware's refusal) becomes JSON `{"detail": ...}` with the same status: API clients never get HTML.

An API path sent without its trailing slash (`POST /api/v1/projects`) is served as the path with it, instead of
Django's redirect: a client that follows a 301 re-sends a POST as a GET and loses its body."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

from .views import API_PREFIX

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
