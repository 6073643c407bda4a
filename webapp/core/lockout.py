"""Failed-login lockout (django-axes) for the login page, the token endpoint and the admin.

After LOGIN_FAILURE_LIMIT failed logins for one user name from one address, further attempts are refused
for LOGIN_LOCKOUT_MINUTES, the right password too: 429 with `Retry-After`, JSON `{"detail"}` under /api/,
the login page with the reason elsewhere. Other users, and the same user from elsewhere, are not affected.
"""

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render

from .views import API_PREFIX


class LockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check before any password is tried.

    A login without a request (a management command, the test client's `login`) is not a web login and
    is not counted."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_seconds(request=None) -> int:
    cool_off = get_cool_off(request)
    return max(1, int(cool_off.total_seconds())) if cool_off else 3600


def lockout_message(request=None) -> str:
    minutes = max(1, round(lockout_seconds(request) / 60))
    return (
        f"Too many failed logins for this user from your address. Try again in {minutes} minutes, "
        "or ask an administrator to unlock the account (manage.py axes_reset_username)."
    )


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: what a locked-out login attempt gets."""
    message = lockout_message(request)
    if request.path.startswith(API_PREFIX):
        response = JsonResponse({"detail": message}, status=429)
    else:
        form = AuthenticationForm(request)
        username = (credentials or {}).get("username") or request.POST.get("username", "")
        form.initial["username"] = username
        context = {"form": form, "lockout": message, "next": request.POST.get("next", "")}
        response = render(request, "ui/login.html", context, status=429)
    response["Retry-After"] = str(lockout_seconds(request))
    return response
