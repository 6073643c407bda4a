"""Auth token and health endpoints."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.contrib.auth.signals import user_logged_in
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.core import heartbeat, queue, tokens
from webapp.core.lockout import lockout_message, lockout_seconds
from webapp.core.schema import ERROR_RESPONSES, errors
from webapp.core.throttling import LoginRateThrottle

# Seconds the health endpoint gives the broker to accept a connection.
HEALTH_BROKER_TIMEOUT_S = 1.0


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="When it stops working (TOKEN_TTL_HOURS).")


class TokenRequestSerializer(AuthTokenSerializer):
    username = serializers.CharField(label="Username", max_length=150, write_only=True)
    password = serializers.CharField(
        label="Password", max_length=4096, style={"input_type": "password"}, trim_whitespace=False, write_only=True
    )


class HealthSerializer(serializers.Serializer):
    database = serializers.CharField(help_text="ok | error")
    broker = serializers.CharField(help_text="ok | error")
    workers = serializers.IntegerField(min_value=0, help_text="Workers whose heartbeat is fresh.")
    scheduler = serializers.CharField(
        help_text="ok | late | unknown: whether the periodic dispatcher and reaper (celery beat, run by a worker of "
        "queue infer) ran within three of its intervals; late means lost trainings are not being failed."
    )
    scheduler_last_run_seconds = serializers.FloatField(
        allow_null=True, help_text="Seconds since the dispatcher last ran (null: never)."
    )
    storage = serializers.CharField(
        help_text="ok | error: whether the file storage (local folder or object storage) answers; checked at most "
        "every 10 s. With error, uploads and image files answer 503 until it does."
    )
    workers_by_queue = serializers.DictField(
        child=serializers.IntegerField(min_value=0),
        help_text="{train, infer}: live workers consuming each queue; train 0 means no training can start.",
    )


def _token_body(token) -> dict:
    return {"token": token.key, "expires_at": tokens.expires_at(token)}


class ObtainTokenView(APIView):
    """Exchange a username and password for the user's API token (`Authorization: Token <key>`).

    The same token comes back while it is valid; an expired one is replaced. Attempts are limited per client
    address (THROTTLE_LOGIN_RATE), and LOGIN_FAILURE_LIMIT failures lock the user name out from that address
    for LOGIN_LOCKOUT_MINUTES: both 429 with `Retry-After`."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenResponseSerializer,
            400: ERROR_RESPONSES[400],
            429: ERROR_RESPONSES[429],
        },
        tags=["auth"],
    )
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data, context={"request": request})
        if not serializer.is_valid():
            # django-axes flags the request it saw refused for a locked-out user name.
            if getattr(request, "axes_locked_out", False):
                raise exceptions.Throttled(wait=lockout_seconds(request), detail=lockout_message(request))
            raise exceptions.ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        # A token login is a login: last_login is updated and django-axes forgets earlier failures.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        return Response(_token_body(tokens.token_for_login(user=user)))


class RotateTokenView(APIView):
    """Replace your API token with a new one; the old one stops working at once."""

    @extend_schema(request=None, responses={200: TokenResponseSerializer, **errors(429)}, tags=["auth"])
    def post(self, request):
        return Response(_token_body(tokens.token_rotate(user=request.user)))


class RevokeTokenView(APIView):
    """Delete your API token (log out every script using it); POST /api/v1/auth/token/ issues a new one."""

    @extend_schema(
        request=None,
        responses={204: OpenApiResponse(description="Revoked (also when you had none)."), **errors(429)},
        tags=["auth"],
    )
    def post(self, request):
        tokens.token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - health reports, never raises
        return False


STORAGE_CHECK_EVERY_S = 10.0  # a probe starts at most this often per process
STORAGE_PROBE_WAIT_S = 1.0  # ...and a health request waits for it this long: slower counts as not answering
_probe_lock = threading.Lock()
_probe_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage-probe")
_probe: dict = {"future": None, "started": -STORAGE_CHECK_EVERY_S, "state": "unknown"}


def _ask_storage() -> None:
    from django.core.files.storage import default_storage

    default_storage.exists("health-probe")  # one request on object storage


def _storage_state() -> str:
    """Whether the default storage answers: ok | error. A hung storage (the probe still waiting after
    STORAGE_PROBE_WAIT_S) is error at once; the probe runs in its own thread, one at a time, so health never
    waits for the storage's own timeouts."""
    with _probe_lock:
        future = _probe["future"]
        if future is None and time.monotonic() - _probe["started"] >= STORAGE_CHECK_EVERY_S:
            future = _probe["future"] = _probe_pool.submit(_ask_storage)
            _probe["started"] = time.monotonic()
    if future is None:
        return _probe["state"]
    try:
        future.result(timeout=STORAGE_PROBE_WAIT_S)
        state = "ok"
    except FutureTimeout:
        return "error"  # still waiting: the next request reads its answer once it comes
    except Exception:  # noqa: BLE001 - health reports, never raises
        state = "error"
    with _probe_lock:
        if _probe["future"] is future:
            _probe["future"], _probe["state"] = None, state
    return state


def health_report() -> dict:
    """Database, broker and storage reachability and the live workers (from heartbeats, never a ping)."""
    broker_ok = queue.broker_reachable(timeout=HEALTH_BROKER_TIMEOUT_S)
    try:
        workers, by_queue = heartbeat.live_by_queue() if broker_ok else (0, {"train": 0, "infer": 0})
    except Exception:  # noqa: BLE001 - health reports, never raises
        workers, by_queue = 0, {"train": 0, "infer": 0}
    try:
        scheduler, age = heartbeat.scheduler_state()
    except Exception:  # noqa: BLE001
        scheduler, age = "unknown", None
    return {
        "database": "ok" if _database_ok() else "error",
        "broker": "ok" if broker_ok else "error",
        "workers": workers,
        "scheduler": scheduler,
        "scheduler_last_run_seconds": None if age is None else round(age, 1),
        "storage": _storage_state(),
        "workers_by_queue": by_queue,
    }


class HealthView(APIView):
    """State of the database, the broker, the storage and the workers. Always 200, so monitors can read the parts.

    Cheap enough to probe often: one `SELECT 1`, one broker connection, a few cache reads, and a storage probe
    at most every 10 s."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(responses={200: HealthSerializer}, tags=["health"])
    def get(self, request):
        return Response(health_report())


class ReadinessView(HealthView):
    """For load balancers: 200 when this web process can serve (its database answers), else 503; same body."""

    @extend_schema(responses={200: HealthSerializer, 503: HealthSerializer}, tags=["health"])
    def get(self, request):
        report = health_report()
        return Response(report, status=200 if report["database"] == "ok" else 503)
