from django.contrib import admin
from django.urls import include, path, register_converter

from webapp.core.converters import IdConverter

# `<id:pk>`: a positive 64-bit integer; a longer number is a 404, never a database overflow (500).
register_converter(IdConverter, "id")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("webapp.core.api.urls")),
    path("api/v1/", include("webapp.datasets.api.urls")),
    path("api/v1/", include("webapp.training.api.urls")),
    path("", include("webapp.ui.urls")),
]

# Stored files (images, masks, heatmaps, models) are served only through the API, which checks membership; never
# under MEDIA_URL, not even with DEBUG: their names are content hashes and small sequential ids.

# JSON error bodies for /api/ paths that no DRF view answers (HTML elsewhere).
handler404 = "webapp.core.views.handler404"
handler500 = "webapp.core.views.handler500"
