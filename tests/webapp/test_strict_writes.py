"""A write with a misspelt or read-only field is a 400 that names it, never a 200 that changed nothing: a script
with a typo must not believe it labelled an image or changed a setting."""

import pytest

from webapp.datasets.models import Image, Project

from .factories import ImageFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("body", "named"),
    [({"lable": "defective"}, "'lable'"), ({"width": 5}, "'width'"), ({"label": "good", "x": 1}, "'x'")],
)
def test_an_image_patch_with_an_unknown_or_read_only_field_is_400_and_changes_nothing(api_client, project, body, named):
    image = ImageFactory(project=project, label="unlabeled")

    response = api_client.patch(f"/api/v1/images/{image.pk}/", body, format="json")

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert named in detail and "label, split, defect_type" in detail
    # The refusal is filed under the unknown key itself, as any field error is, so a client can point at it.
    assert list(response.json()["errors"]) == [named.strip("'")]
    image.refresh_from_db()
    assert image.label == "unlabeled" and image.width != 5


def test_a_project_patch_with_a_misspelt_field_or_setting_is_400_and_changes_nothing(api_client, project):
    before = Project.objects.get(pk=project.pk)

    typo = api_client.patch(f"/api/v1/projects/{project.pk}/", {"nmae": "Line 4"}, format="json")
    setting = api_client.patch(f"/api/v1/projects/{project.pk}/", {"settings": {"imagesize": 512}}, format="json")

    assert typo.status_code == 400 and "'nmae'" in typo.json()["detail"]
    assert setting.status_code == 400 and "Unknown setting 'imagesize'" in setting.json()["detail"]
    assert "image_size" in setting.json()["detail"]
    assert list(setting.json()["errors"]["settings"]) == ["imagesize"]
    after = Project.objects.get(pk=project.pk)
    assert (after.name, after.image_size) == (before.name, before.image_size)


def test_a_project_read_back_and_patched_whole_still_works(api_client, project):
    """Read-only fields a client sends back (id, counts, role ...) are ignored, as before."""
    body = api_client.get(f"/api/v1/projects/{project.pk}/").json()
    body["name"] = "Renamed"

    response = api_client.patch(f"/api/v1/projects/{project.pk}/", body, format="json")

    assert response.status_code == 200 and response.json()["name"] == "Renamed"


def test_valid_patches_still_work(api_client, project):
    image = ImageFactory(project=project)

    response = api_client.patch(f"/api/v1/images/{image.pk}/", {"label": "good", "defect_type": ""}, format="json")

    assert response.status_code == 200 and Image.objects.get(pk=image.pk).label == "good"


def test_a_training_job_with_a_misspelt_option_is_400_and_no_job_is_queued(api_client, project):
    from webapp.training.models import TrainingJob

    response = api_client.post(f"/api/v1/projects/{project.pk}/training-jobs/", {"epoch": 1}, format="json")

    assert response.status_code == 400 and "'epoch'" in response.json()["detail"]
    assert "mode, preset, epochs" in response.json()["detail"]
    assert not TrainingJob.objects.filter(project=project).exists()


def test_a_member_added_with_an_unknown_field_is_400_and_nobody_is_added(api_client, project):
    from .factories import UserFactory

    bob = UserFactory(username="bob")
    body = {"username": "bob", "role": "viewer", "rol": "owner"}

    response = api_client.post(f"/api/v1/projects/{project.pk}/members/", body, format="json")

    assert response.status_code == 400 and "'rol'" in response.json()["detail"]
    assert not project.memberships.filter(user=bob).exists()


def test_a_model_patch_names_unknown_fields_and_points_is_active_to_activate(api_client, project):
    from .factories import ModelVersionFactory

    version = ModelVersionFactory(project=project, version=1, threshold=0.4, is_active=False)
    url = f"/api/v1/models/{version.pk}/"

    extra = api_client.patch(url, {"threshold": 0.5, "version": 9}, format="json")
    active = api_client.patch(url, {"is_active": True}, format="json")

    assert extra.status_code == 400 and "'version'" in extra.json()["detail"]
    assert active.status_code == 400 and "/activate/" in active.json()["detail"]
    version.refresh_from_db()
    assert (version.threshold, version.version, version.is_active) == (0.4, 1, False)


@pytest.mark.parametrize(
    ("body", "field", "kind"),
    [
        ({"name": 123}, "name", "a number"),
        ({"description": True}, "description", "true/false"),
        ({"name": ["Line 4"]}, "name", "a list"),
        ({"settings": {"backbone": 18}}, "settings", "a number"),
    ],
)
def test_a_project_patch_with_a_number_where_text_belongs_is_400_and_changes_nothing(
    api_client, project, body, field, kind
):
    """A client that sent a number as a name (the wrong variable, say) hears of it instead of a project named "123"."""
    before = Project.objects.get(pk=project.pk)

    response = api_client.patch(f"/api/v1/projects/{project.pk}/", body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"] and f"not {kind}" in response.json()["detail"]
    after = Project.objects.get(pk=project.pk)
    assert (after.name, after.description, after.backbone) == (before.name, before.description, before.backbone)


def test_a_member_named_by_a_number_is_400(api_client, project):
    response = api_client.post(f"/api/v1/projects/{project.pk}/members/", {"username": 7}, format="json")

    assert response.status_code == 400 and "Must be text" in response.json()["detail"]
    assert project.memberships.count() == 1
