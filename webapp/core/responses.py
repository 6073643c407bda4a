"""Answers shared by the apps' API views."""

from rest_framework import status
from rest_framework.response import Response


def queue_down(*, what: str, obj_id: int, key: str, data: dict) -> Response:
    """API.md's 503 for work that was saved but could not be sent to the task queue (the dispatcher sends it
    when the queue is back): `{detail, id, <key>: <the saved row>}`."""
    detail = f"The task queue is unreachable; the {what} is saved and will be sent when the queue is back."
    return Response({"detail": detail, "id": obj_id, key: data}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
