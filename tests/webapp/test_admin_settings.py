"""The Django admin checks a project's training settings as the API does: no setting the API refuses can be
saved there and fail the next training."""

import pytest
from django.forms.models import model_to_dict

from webapp.datasets.admin import ProjectAdminForm
from webapp.datasets.models import Project

pytestmark = pytest.mark.django_db


def form_for(project, **changes):
    data = {**model_to_dict(project), **changes}
    data = {key: value for key, value in data.items() if value is not None}
    return ProjectAdminForm(data=data, instance=project)


def test_sizes_tilings_and_backbones_the_api_refuses_are_refused_with_its_reasons(project):
    form = form_for(project, image_size="250", tiling="9x9", backbone="resnet18")

    assert not form.is_valid()
    assert "multiple of 8" in " ".join(form.errors["image_size"])
    assert "not a valid tiling" in " ".join(form.errors["tiling"])
    assert "backbone" in " ".join(form.errors["backbone"])
    assert Project.objects.get(pk=project.pk).image_size == project.image_size


def test_valid_settings_save_in_the_apis_canonical_form(project):
    form = form_for(project, image_size="256", tiling="2X2", test_fraction=0.3)

    assert form.is_valid(), form.errors
    saved = form.save()
    assert (saved.image_size, saved.tiling, saved.test_fraction) == ("256", "2x2", 0.3)


def test_the_admin_page_refuses_a_bad_size_in_words(admin_client, project):
    page = admin_client.get(f"/admin/datasets/project/{project.pk}/change/")
    assert page.status_code == 200

    data = {**{k: v for k, v in model_to_dict(project).items() if v is not None}, "image_size": "250"}
    data.update({"memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0", "_save": "Save"})
    response = admin_client.post(f"/admin/datasets/project/{project.pk}/change/", data)

    assert response.status_code == 200  # the form again, not a redirect to "changed successfully"
    assert "multiple of 8" in response.content.decode()
    assert Project.objects.get(pk=project.pk).image_size == project.image_size


def test_the_training_page_lists_the_backbones_the_api_accepts_without_loading_torch():
    import subprocess
    import sys

    code = (
        "import os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'webapp.config.test_settings');"
        "import django; django.setup();"
        "from webapp.datasets.backbones import available_backbones as listed;"
        "print(listed(), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout.strip()
    from ml.backbones import available_backbones, backbone_status

    # the same list the engine builds from, with the opt-in ones only where their weights are
    assert out == f"{available_backbones()} False"
    assert all(backbone_status(name)[0] for name in available_backbones() if name != "wide_resnet50_2")
