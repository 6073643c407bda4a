"""Every API error is JSON `{"detail": ...}` (plus `errors` for field errors), never HTML."""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


def api_exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return Response({"detail": "Internal server error."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    data = response.data
    if isinstance(data, dict) and "detail" in data:
        response.data = {"detail": str(data["detail"]), **{k: v for k, v in data.items() if k != "detail"}}
    elif isinstance(data, dict):
        first = next(iter(data.items()), None)
        reason = f"{first[0]}: {first[1][0] if isinstance(first[1], list) and first[1] else first[1]}" if first else ""
        response.data = {"detail": f"Invalid input. {reason}".strip(), "errors": data}
    else:
        response.data = {"detail": "Invalid input.", "errors": data}
    return response
