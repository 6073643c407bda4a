"""Every API error is JSON `{"detail": ...}` (plus `errors` for field errors), never HTML.

Services raise `ServiceError` subclasses (plain Python, usable outside HTTP: tasks, commands); the DRF
exception handler below turns them into responses with the status code each one names.
"""

import errno
import logging

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """A refused operation with a human-readable reason and the HTTP status that describes it."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, detail: str, **extra):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra  # more fields of the JSON answer, next to `detail`


class InvalidInput(ServiceError):
    status_code = status.HTTP_400_BAD_REQUEST


class NotFound(ServiceError):
    status_code = status.HTTP_404_NOT_FOUND


class Conflict(ServiceError):
    status_code = status.HTTP_409_CONFLICT


class PreconditionFailed(ServiceError):
    """The client's `If-Match` revision is no longer the resource's: someone changed it meanwhile."""

    status_code = status.HTTP_412_PRECONDITION_FAILED


class PayloadTooLarge(ServiceError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


class UnsupportedMediaType(ServiceError):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE


class QueueUnavailable(ServiceError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


DISK_FULL = (
    "The server's disk is full: nothing more can be stored until an administrator frees space. "
    "What was stored before is kept."
)


class InsufficientStorage(ServiceError):
    """The server's disk (or the database's) is full: 507, the request can be sent again once there is room."""

    status_code = status.HTTP_507_INSUFFICIENT_STORAGE

    def __init__(self, detail: str = DISK_FULL, **extra):
        super().__init__(detail, **extra)


_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_DISK_FULL_TEXT = ("database or disk is full", "no space left on device", "disk quota exceeded")


def is_disk_full(exc: BaseException | None) -> bool:
    """True when `exc` (or what caused it: torch wraps the OSError of a checkpoint write) says the disk is full."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, InsufficientStorage):
            return True
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
            return True
        if any(text in str(exc).lower() for text in _DISK_FULL_TEXT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


STORAGE_DOWN = (
    "The file storage is not answering: nothing was lost, and nothing more can be stored or shown until it "
    "answers again. Try again in a minute."
)


class StorageUnavailable(Exception):
    """A stored file exists but could not be read or written now (object storage or its network down)."""


def is_storage_unreachable(exc: BaseException | None) -> bool:
    """True when `exc` (or its cause) says the object storage did not answer: a connection or timeout error of
    botocore, or a 5xx / throttling answer. A missing object or a refused request is not."""
    try:
        from botocore import exceptions as boto
    except ImportError:  # no object storage support installed
        boto = None
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, StorageUnavailable):
            return True
        if boto is not None:
            if isinstance(exc, boto.HTTPClientError | boto.ConnectionError | boto.ReadTimeoutError):
                return True
            if isinstance(exc, boto.ClientError):
                answer = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
                code = exc.response.get("Error", {}).get("Code", "")
                if answer >= 500 or code in ("SlowDown", "ServiceUnavailable", "RequestTimeout", "Throttling"):
                    return True
        exc = exc.__cause__ or exc.__context__
    return False


def none_accepted(done: str, failures: list[tuple[str, ServiceError]]) -> ServiceError:
    """The answer to a request whose every file was refused (`failures`: (filename, error) each): one file gets
    its own error; several get `{detail, errors: [{filename, status, error}]}` with their common status, or 400
    when they differ. `done`: what would have happened to them ("stored", "scored")."""
    if len(failures) == 1:
        return failures[0][1]
    codes = {error.status_code for _, error in failures}
    refused = ServiceError(
        f"None of the {len(failures)} files was {done}.",
        errors=[{"filename": name, "status": error.status_code, "error": error.detail} for name, error in failures],
    )
    refused.status_code = codes.pop() if len(codes) == 1 else status.HTTP_400_BAD_REQUEST
    return refused


def _first_message(value) -> str:
    return _first_error(value)[1]


def _first_error(value, path: tuple[str, ...] = ()) -> tuple[str, str]:
    """("settings.image_size", "'250' is not a multiple of 8"): where the first error is, dotted, and what it
    says (list positions and non_field_errors are not part of the path)."""
    while isinstance(value, list | dict) and value:
        if isinstance(value, list):
            value = value[0]
            continue
        key, value = next(iter(value.items()))
        if key != "non_field_errors":
            path = (*path, str(key))
    return ".".join(path), str(value)


def _request_refusal(exc: SuspiciousOperation) -> Response:
    """Django's own refusals of a request body (raised while DRF parses it): a 4xx, never a 500."""
    from django.conf import settings

    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return Response({"detail": f"Too many files in one request; the limit is {limit}."}, status=413)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "The request body is too large."}, status=413)
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return Response({"detail": f"Too many form fields in one request; the limit is {limit}."}, status=400)
    return Response({"detail": "The request was refused as malformed."}, status=400)


def api_exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return Response({"detail": exc.detail, **exc.extra}, status=exc.status_code)
    if isinstance(exc, SuspiciousOperation):
        return _request_refusal(exc)
    if is_disk_full(exc):
        logger.error("Disk full: %s", exc)
        return Response({"detail": DISK_FULL}, status=status.HTTP_507_INSUFFICIENT_STORAGE)
    if is_storage_unreachable(exc):
        logger.error("Storage unreachable: %s", exc)
        return Response(
            {"detail": STORAGE_DOWN}, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "30"}
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return Response({"detail": "Internal server error."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    data = response.data
    if isinstance(data, dict) and "detail" in data:
        response.data = {"detail": str(data["detail"]), **{k: v for k, v in data.items() if k != "detail"}}
    elif isinstance(data, dict) and set(data) == {"non_field_errors"}:
        response.data = {"detail": _first_message(data["non_field_errors"]), "errors": data}
    elif isinstance(data, dict):
        where, message = _first_error(data)
        reason = f"{where}: {message}" if where else message
        response.data = {"detail": f"Invalid input. {reason}".strip(), "errors": data}
    else:
        response.data = {"detail": f"Invalid input. {_first_message(data)}".strip(), "errors": data}
    return response
