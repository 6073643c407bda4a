"""Auth token and health endpoints."""

from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.core import queue
from webapp.core.schema import ERROR_RESPONSES


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    database = serializers.CharField(help_text="ok | error")
    broker = serializers.CharField(help_text="ok | error")
    workers = serializers.IntegerField(min_value=0)


class ObtainTokenView(APIView):
    """Exchange a username and password for the user's API token (`Authorization: Token <key>`)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=inline_serializer(
            "TokenRequest", {"username": serializers.CharField(), "password": serializers.CharField()}
        ),
        responses={200: TokenResponseSerializer, 400: ERROR_RESPONSES[400]},
        tags=["auth"],
    )
    def post(self, request):
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - health reports, never raises
        return False


class HealthView(APIView):
    """State of the database, the broker and the workers. Always 200, so monitors can read the parts."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: HealthSerializer}, tags=["health"])
    def get(self, request):
        broker_ok = queue.broker_reachable()
        return Response(
            {
                "database": "ok" if _database_ok() else "error",
                "broker": "ok" if broker_ok else "error",
                "workers": queue.worker_count() if broker_ok else 0,
            }
        )
