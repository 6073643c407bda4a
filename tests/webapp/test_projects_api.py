"""Projects: visibility, counts, active model, settings, roles."""

import pytest

from webapp.datasets.models import Label, Membership, Project, Role

from .conftest import collect_unreferenced, stored_files
from .factories import ImageFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_it_creates_a_project_owned_by_the_caller(api_client, user):
    response = api_client.post("/api/v1/projects/", {"name": "Tiles", "description": "line 3"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Tiles" and body["description"] == "line 3"
    assert body["role"] == "owner"
    assert body["counts"] == {"images": 0, "good": 0, "defective": 0, "unlabeled": 0, "masks": 0}
    assert body["active_model"] is None
    assert set(body["settings"]) >= {"image_size", "backbone", "auto_retrain", "retrain_after_labels"}
    assert Membership.objects.get(project_id=body["id"], user=user).role == Role.OWNER


def test_a_project_needs_a_name(api_client):
    response = api_client.post("/api/v1/projects/", {}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["errors"]


def test_users_only_see_their_projects(api_client, project, outsider_client):
    ProjectFactory(name="Someone else's")

    names = [p["name"] for p in api_client.get("/api/v1/projects/").json()["results"]]
    assert names == ["Tiles"]
    assert outsider_client.get("/api/v1/projects/").json()["count"] == 0


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_another_users_project_is_404(outsider_client, project, method):
    response = getattr(outsider_client, method)(f"/api/v1/projects/{project.pk}/", {}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."} or response.json()["detail"]
    assert Project.objects.filter(pk=project.pk).exists()


def test_counts_follow_labels_and_masks(api_client, project):
    ImageFactory(project=project, label=Label.GOOD)
    ImageFactory(project=project, label=Label.GOOD)
    ImageFactory(project=project, label=Label.DEFECTIVE, has_mask=True)
    ImageFactory(project=project)

    counts = api_client.get(f"/api/v1/projects/{project.pk}/").json()["counts"]

    assert counts == {"images": 4, "good": 2, "defective": 1, "unlabeled": 1, "masks": 1}


def test_active_model_is_the_active_version_id(api_client, project):
    from webapp.training.models import ModelVersion

    ModelVersion.objects.create(
        project=project, version=1, mode="unsupervised", backbone="b", image_size=256, threshold=0.5
    )
    active = ModelVersion.objects.create(
        project=project, version=2, mode="supervised", backbone="b", image_size=256, threshold=0.5, is_active=True
    )

    assert api_client.get(f"/api/v1/projects/{project.pk}/").json()["active_model"] == active.pk
    assert api_client.get("/api/v1/projects/").json()["results"][0]["active_model"] == active.pk


def test_settings_can_be_patched(api_client, project):
    response = api_client.patch(
        f"/api/v1/projects/{project.pk}/",
        {
            "name": "Tiles v2",
            "settings": {
                "image_size": 320,
                "backbone": "wide_resnet50_2",
                "auto_retrain": False,
                "retrain_after_labels": 7,
                "test_fraction": 0.3,
            },
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["name"] == "Tiles v2"
    assert body["settings"] == {
        "image_size": 320,
        "backbone": "wide_resnet50_2",
        "auto_retrain": False,
        "retrain_after_labels": 7,
        "min_good_for_first_model": 10,
        "test_fraction": 0.3,
        "tiling": "off",
    }
    project.refresh_from_db()
    assert (project.image_size, project.backbone, project.auto_retrain) == ("320", "wide_resnet50_2", False)


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"image_size": 300}, "image_size"),
        ({"image_size": 32}, "image_size"),
        ({"image_size": 2048}, "image_size"),
        ({"backbone": "vgg11"}, "backbone"),
        ({"retrain_after_labels": 0}, "retrain_after_labels"),
        ({"test_fraction": 1.5}, "test_fraction"),
    ],
)
def test_invalid_settings_are_400(api_client, project, patch, field):
    response = api_client.patch(f"/api/v1/projects/{project.pk}/", {"settings": patch}, format="json")

    assert response.status_code == 400
    assert field in response.json()["detail"] or field in str(response.json()["errors"])
    project.refresh_from_db()
    assert project.image_size == "auto"  # the default, unchanged


def test_the_opt_in_resnet152_is_refused_with_install_command_and_licence_until_installed(api_client, project):
    from ml.backbones import backbone_status

    if backbone_status("resnet152")[0]:
        pytest.skip("resmem is installed here")
    response = api_client.patch(
        f"/api/v1/projects/{project.pk}/", {"settings": {"backbone": "resnet152"}}, format="json"
    )

    assert response.status_code == 400
    assert "resmem==1.1.6" in str(response.json()) and "Non-commercial" in str(response.json())
    ok = api_client.patch(
        f"/api/v1/projects/{project.pk}/", {"settings": {"backbone": "efficientnet_lite2"}}, format="json"
    )
    assert ok.status_code == 200, ok.json()


def test_viewers_cannot_change_or_delete_a_project(project, member_client):
    viewer = member_client(Role.VIEWER)

    assert viewer.get(f"/api/v1/projects/{project.pk}/").status_code == 200
    assert viewer.patch(f"/api/v1/projects/{project.pk}/", {"name": "x"}, format="json").status_code == 403
    assert viewer.delete(f"/api/v1/projects/{project.pk}/").status_code == 403


def test_labellers_change_settings_but_only_owners_delete(project, member_client):
    labeller = member_client(Role.LABELLER)

    assert (
        labeller.patch(
            f"/api/v1/projects/{project.pk}/", {"settings": {"auto_retrain": False}}, format="json"
        ).status_code
        == 200
    )
    response = labeller.delete(f"/api/v1/projects/{project.pk}/")
    assert response.status_code == 403
    assert response.json()["detail"]


def test_deleting_a_project_removes_its_files(api_client, project, settings, django_capture_on_commit_callbacks):
    kept_elsewhere = ImageFactory(project=ProjectFactory(owner=UserFactory()))
    ImageFactory(project=project)
    ImageFactory(project=project)
    # The same bytes in another project share the content-addressed file: it must survive.
    ImageFactory(
        project=project,
        sha256=kept_elsewhere.sha256,
        file=kept_elsewhere.file.name,
        thumbnail=kept_elsewhere.thumbnail.name,
    )
    assert len(stored_files(settings.MEDIA_ROOT)) == 6

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.delete(f"/api/v1/projects/{project.pk}/")

    assert response.status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    collect_unreferenced()
    assert stored_files(settings.MEDIA_ROOT) == sorted([kept_elsewhere.file.name, kept_elsewhere.thumbnail.name])


def test_deleting_a_project_removes_its_model_files(api_client, project, settings, django_capture_on_commit_callbacks):
    from .factories import ModelVersionFactory, PredictionFactory

    version = ModelVersionFactory(project=project)
    PredictionFactory(image=ImageFactory(project=project), model_version=version)
    assert len(stored_files(settings.MEDIA_ROOT)) == 4  # image, thumbnail, checkpoint, heatmap

    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.delete(f"/api/v1/projects/{project.pk}/").status_code == 204

    collect_unreferenced()
    assert stored_files(settings.MEDIA_ROOT) == []


def test_deleting_a_project_removes_import_archives_not_yet_imported(
    api_client, project, settings, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from webapp.datasets.models import ImportJob

    name = default_storage.save("imports/waiting.zip", ContentFile(b"PK\x05\x06" + b"\0" * 18))
    ImportJob.objects.create(project=project, archive=name, archive_name="lot.zip")
    assert stored_files(settings.MEDIA_ROOT) == [name]

    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.delete(f"/api/v1/projects/{project.pk}/").status_code == 204

    collect_unreferenced()
    assert stored_files(settings.MEDIA_ROOT) == []


def test_a_backbone_refusal_lists_the_available_backbones_once(api_client, project):
    from ml.registry import available_backbones

    url = f"/api/v1/projects/{project.pk}/"
    unknown = api_client.patch(url, {"settings": {"backbone": "vgg"}}, format="json").json()["detail"]
    opt_in = api_client.patch(url, {"settings": {"backbone": "resnet152"}}, format="json").json()["detail"]

    listed = f"the available ones are: {', '.join(available_backbones())}."
    assert unknown.endswith(f"Unknown backbone 'vgg'; {listed}") and unknown.count("choose") == 0
    if "resnet152" not in available_backbones():  # the opt-in weights are not installed here
        assert opt_in.startswith("Invalid input. settings.backbone: Backbone 'resnet152' is not available (")
        assert opt_in.endswith(listed)


def test_a_bad_id_in_the_gallery_filter_names_the_key_once(api_client, project):
    detail = api_client.get(f"/api/v1/projects/{project.pk}/images/?ids=1,x").json()["detail"]
    assert detail.count("ids") == 1 and "'x' is not an id" in detail
