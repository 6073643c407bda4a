"""JSON error pages for /api/ paths (wired as handler404/handler500 in webapp/config/urls.py), and the page of a
refused CSRF check (CSRF_FAILURE_VIEW).

DRF views already answer errors in JSON through `api_exception_handler`; these cover what Django
answers itself: unknown URLs under /api/ and exceptions outside DRF views.
"""

from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent from a page opened before the person signed in or out (a second tab on the login page): the
    studio's own page says so and links back to the form, instead of Django's bare "CSRF verification failed"."""
    if _is_api(request):
        detail = "CSRF check failed: reload the page (you signed in or out since it was opened) and try again."
        return JsonResponse({"detail": detail}, status=403)
    referer = request.headers.get("Referer", "")
    safe = url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()})
    retry = urlsplit(referer)._replace(scheme="", netloc="").geturl() if referer and safe else request.path
    return render(request, "403_csrf.html", {"retry": retry or "/"}, status=403)
