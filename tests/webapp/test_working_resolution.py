"""Working resolution in the web application: project settings image_size / tiling, the `auto` size resolved
at training time from the snapshot's images, image_height / image_width on the model version."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import importlib

import pytest
from django.apps import apps as django_apps

from webapp.datasets.models import Image, Project, Split
from webapp.training import services
from webapp.training.models import JobStatus, ModelVersion
from webapp.training.runner import SampleSet, run_training_job, train_image_dims

from .factories import ModelVersionFactory, ProjectFactory
from .test_training_support import fake_ml, make_image, owner, owner_client, sent  # noqa: F401

pytestmark = pytest.mark.django_db


def patch_settings(client, project, **values):
    return client.patch(f"/api/v1/projects/{project.pk}/", {"settings": values}, format="json")


@pytest.mark.parametrize(
    ("sent_value", "stored", "shown"),
    [(256, "256", 256), ("256", "256", 256), ("640x232", "640x232", "640x232"), ("auto", "auto", "auto")],
)
def test_image_size_takes_a_side_height_by_width_or_auto(api_client, project, sent_value, stored, shown):
    response = patch_settings(api_client, project, image_size=sent_value)
    assert response.status_code == 200, response.json()
    assert response.json()["settings"]["image_size"] == shown
    project.refresh_from_db()
    assert project.image_size == stored
    assert api_client.get(f"/api/v1/projects/{project.pk}/").json()["settings"]["image_size"] == shown


def test_a_new_project_defaults_to_auto(api_client):
    response = api_client.post("/api/v1/projects/", {"name": "Strips"}, format="json")
    assert response.status_code == 201
    assert response.json()["settings"]["image_size"] == "auto"
    assert response.json()["settings"]["tiling"] == "off"


@pytest.mark.parametrize("bad", ["640x231", "640x", "wide", 2048, 32, "1032x64", True, 2.5, [640, 232]])
def test_a_bad_image_size_is_400_naming_the_value_and_changes_nothing(api_client, project, bad):
    patch_settings(api_client, project, image_size="640x232")
    response = patch_settings(api_client, project, image_size=bad)
    assert response.status_code == 400
    body = response.json()
    assert body["errors"]["settings"]["image_size"][0].startswith(f"{bad!r} is not a valid image size")
    assert "image size" in body["detail"]
    project.refresh_from_db()
    assert project.image_size == "640x232"


def test_tiling_setting_accepts_off_auto_and_a_grid_and_names_bad_values(api_client, project):
    for value in ("2x2", "1x3", "auto", "off"):
        response = patch_settings(api_client, project, tiling=value)
        assert response.status_code == 200 and response.json()["settings"]["tiling"] == value
    for bad in ("5x5", "2x", 4):
        response = patch_settings(api_client, project, tiling=bad)
        assert response.status_code == 400
        assert response.json()["errors"]["settings"]["tiling"][0].startswith(f"{bad!r} is not a valid tiling")
    project.refresh_from_db()
    assert project.tiling == "off"


def strip_project(owner, image_size, tiling="off", width=1250, height=500):
    project = ProjectFactory(owner=owner, name="Strips", image_size=image_size, tiling=tiling)
    for _ in range(4):
        make_image(project, value=30, width=width, height=height)
    make_image(project, split=Split.TEST, value=20, width=width, height=height)
    return project


def test_auto_resolves_from_the_snapshots_images_and_the_version_records_height_and_width(owner, fake_ml, sent):
    project = strip_project(owner, "auto")
    job = services.create_training_job(project=project)
    assert run_training_job(job.id, worker="w") == JobStatus.SUCCEEDED
    cfg = fake_ml.calls[0]["cfg"]
    assert cfg.size == (320, 816)  # 500 x 1250 images: the strip stays a strip (ml.geometry.auto_size)
    version = ModelVersion.objects.get(project=project)
    assert (version.image_height, version.image_width, version.image_size, version.tiling) == (320, 816, 816, "off")
    project.refresh_from_db()
    assert project.image_size == "auto"  # the setting stays auto: the next run resolves again


def test_an_explicit_strip_size_and_tiling_reach_the_config_and_the_api(owner, owner_client, fake_ml, sent):
    project = strip_project(owner, "640x232", tiling="auto", width=500, height=1400)
    run_training_job(services.create_training_job(project=project).id, worker="w")
    cfg = fake_ml.calls[0]["cfg"]
    assert cfg.size == (640, 232) and cfg.tiling == "2x2"  # 1400 // 640 = 2 rows, 500 // 232 = 2 columns
    version = ModelVersion.objects.get(project=project)
    body = owner_client.get(f"/api/v1/models/{version.id}/").json()
    assert (body["image_height"], body["image_width"], body["image_size"], body["tiling"]) == (640, 232, 640, "2x2")


def test_versions_from_before_height_by_width_report_a_square(owner, owner_client):
    version = ModelVersionFactory(project=ProjectFactory(owner=owner), image_size=256)
    body = owner_client.get(f"/api/v1/models/{version.id}/").json()
    assert (body["image_size"], body["image_height"], body["image_width"]) == (256, 256, 256)


def test_train_image_dims_fall_back_to_the_file_header_for_a_deleted_image(owner, tmp_path):
    from PIL import Image as PILImage

    project = ProjectFactory(owner=owner)
    kept = make_image(project, width=90, height=30)
    PILImage.new("RGB", (70, 20)).save(tmp_path / "gone.png")
    sample = type("S", (), {"image_path": str(tmp_path / "gone.png")})()
    samples = SampleSet([sample, sample], [], {}, {}, train_image_ids=[kept.id, 10**9])
    assert train_image_dims(samples) == [(90, 30), (70, 20)]


def test_the_migrations_move_int_sizes_to_text_and_fill_height_and_width(owner):
    datasets = importlib.import_module("webapp.datasets.migrations.0004_working_resolution")
    training = importlib.import_module("webapp.training.migrations.0005_working_resolution")
    project = ProjectFactory(owner=owner)
    Project.objects.filter(id=project.id).update(image_size="0320")
    datasets.sizes_to_text(django_apps, None)
    project.refresh_from_db()
    assert project.image_size == "320"
    Project.objects.filter(id=project.id).update(image_size="640x232")
    datasets.sizes_to_int(django_apps, None)
    project.refresh_from_db()
    assert project.image_size == "640"
    version = ModelVersionFactory(project=project, image_size=192)
    training.square_versions(django_apps, None)
    version.refresh_from_db()
    assert (version.image_height, version.image_width) == (192, 192)
    assert Image.objects.count() == 0
