from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from .views import HealthView, ObtainTokenView, ReadinessView, RevokeTokenView, RotateTokenView

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="auth-token"),
    path("auth/token/rotate/", RotateTokenView.as_view(), name="auth-token-rotate"),
    path("auth/token/revoke/", RevokeTokenView.as_view(), name="auth-token-revoke"),
    path("health/", HealthView.as_view(), name="health"),
    path("health/ready/", ReadinessView.as_view(), name="health-ready"),
    # Public to outsiders (docs/security.md), so a stale or wrong token sent along is not read: never 401.
    path("schema/", SpectacularAPIView.as_view(permission_classes=[], authentication_classes=[]), name="schema"),
    # The split view serves its start-up script as a file: the page passes the Content-Security-Policy.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", permission_classes=[], authentication_classes=[], template_name="api/swagger_ui.html"
        ),
        name="api-docs",
    ),
]
