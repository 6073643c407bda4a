"""Server-rendered pages. Each page is a thin shell: it checks access, then boots an ES module from
`frontend/` that talks to the REST API with the session (see docs/ui.md)."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from webapp.datasets import selectors
from webapp.datasets.models import Image, Project


class StudioLoginView(LoginView):
    template_name = "ui/login.html"
    redirect_authenticated_user = True


def _project_for(request: HttpRequest, project_id: int) -> Project:
    """The project if the user belongs to it; 404 otherwise, as the API does, so ids are not probed."""
    return selectors.project_for_user(request.user, project_id)


def _project_page(request: HttpRequest, project: Project, template: str, page: str, **extra) -> HttpResponse:
    config = {
        "page": page,
        "projectId": project.pk,
        "projectName": project.name,
        "urls": {
            "projects": reverse("ui:projects"),
            "gallery": reverse("ui:gallery", args=[project.pk]),
            "review": reverse("ui:review", args=[project.pk]),
            "training": reverse("ui:training", args=[project.pk]),
            "labellerPrefix": reverse("ui:gallery", args=[project.pk]) + "images/",
        },
        **extra,
    }
    role = getattr(project, "my_role", None) or ""
    config["role"] = role
    return render(request, template, {"project": project, "page": page, "config": config, "role": role})


@login_required
def projects(request: HttpRequest) -> HttpResponse:
    return render(request, "ui/projects.html", {"page": "projects", "config": {"page": "projects"}})


@login_required
def gallery(request: HttpRequest, project_id: int) -> HttpResponse:
    return _project_page(request, _project_for(request, project_id), "ui/gallery.html", "gallery")


@login_required
def labeller(request: HttpRequest, project_id: int, image_id: int) -> HttpResponse:
    project = _project_for(request, project_id)
    if not Image.objects.filter(pk=image_id, project=project).exists():
        raise Http404("No such image.")
    return _project_page(request, project, "ui/labeller.html", "labeller", imageId=image_id)


@login_required
def review(request: HttpRequest, project_id: int) -> HttpResponse:
    return _project_page(request, _project_for(request, project_id), "ui/review.html", "review")


@login_required
def training(request: HttpRequest, project_id: int) -> HttpResponse:
    return _project_page(request, _project_for(request, project_id), "ui/training.html", "training")
