"""Server-rendered pages. Each page is a thin shell: it checks access, then boots an ES module from
`frontend/` that talks to the REST API with the session (see docs/ui.md)."""

import math

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from webapp.core.throttling import LoginRateThrottle
from webapp.datasets import selectors
from webapp.datasets.models import Image, Project


class StudioLoginView(LoginView):
    """The login page. Attempts are rate-limited per address (THROTTLE_LOGIN_RATE); failed ones lock a user
    name out from that address for a while (django-axes, webapp.core.lockout): both answer 429 with the form."""

    template_name = "ui/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        throttle = LoginRateThrottle()
        if not throttle.allow_request(request, self):
            wait = max(1, math.ceil(throttle.wait() or 1))
            context = self.get_context_data(form=self.get_form())
            context["lockout"] = f"Too many login attempts from your address. Try again in {wait} seconds."
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)


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
            "models": reverse("ui:models", args=[project.pk]),
            "inspect": reverse("ui:inspect", args=[project.pk]),
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
    from webapp.datasets.backbones import backbone_choices

    return _project_page(
        request, _project_for(request, project_id), "ui/training.html", "training", backbones=backbone_choices()
    )


@login_required
def members(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project_for(request, project_id)
    return _project_page(request, project, "ui/members.html", "members", userId=request.user.pk)


@login_required
def models(request: HttpRequest, project_id: int) -> HttpResponse:
    """Model versions: metrics, per-defect-type table, export, comparison of two versions, mistakes."""
    return _project_page(request, _project_for(request, project_id), "ui/models.html", "models")


@login_required
def inspect(request: HttpRequest, project_id: int) -> HttpResponse:
    """Score new images with a model version in the browser (inference batches); nothing joins the dataset."""
    return _project_page(request, _project_for(request, project_id), "ui/inspect.html", "inspect")
