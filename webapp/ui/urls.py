from django.contrib.auth.views import LogoutView
from django.urls import path

from . import views

app_name = "ui"

urlpatterns = [
    path("accounts/login/", views.StudioLoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("", views.projects, name="projects"),
    path("projects/<id:project_id>/", views.gallery, name="gallery"),
    path("projects/<id:project_id>/images/<id:image_id>/", views.labeller, name="labeller"),
    path("projects/<id:project_id>/review/", views.review, name="review"),
    path("projects/<id:project_id>/training/", views.training, name="training"),
    path("projects/<id:project_id>/models/", views.models, name="models"),
    path("projects/<id:project_id>/inspect/", views.inspect, name="inspect"),
    path("projects/<id:project_id>/members/", views.members, name="members"),
]
