"""Shared OpenAPI pieces: the error body every endpoint may answer with."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    "Error",
    {
        "detail": serializers.CharField(help_text="Human-readable reason."),
        "errors": serializers.DictField(required=False, help_text="Field errors, when the input was invalid."),
    },
)

ERROR_RESPONSES = {
    code: OpenApiResponse(ErrorSerializer, description=text)
    for code, text in {
        400: "Invalid, corrupt or mismatched input.",
        401: "Not authenticated.",
        403: "Your role in the project does not allow this.",
        404: "Not found, or not one of your projects.",
        409: "Conflict with the current state.",
        412: "`If-Match` names an older revision: the resource was changed by someone else; nothing was written.",
        413: "Upload too large (bytes or pixels).",
        415: "Unsupported image format.",
        429: "Too many requests or failed logins; retry after the `Retry-After` header's seconds.",
        503: "The task queue is unreachable; the data is saved.",
    }.items()
}


def errors(*codes: int) -> dict:
    """`responses` entries for the given error codes, plus 401 (every endpoint using this needs a login) and 429
    (every endpoint is throttled per user and per address: docs/security.md)."""
    return {code: ERROR_RESPONSES[code] for code in sorted({401, 429, *codes})}
