"""Predictions of the project's images: scoring by the active version, the prediction and heatmap endpoints."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import io

import pytest
from PIL import Image as PILImage
from rest_framework.test import APIClient

from webapp.training.inference import score_project
from webapp.training.models import Prediction

from .factories import ModelVersionFactory, ProjectFactory, UserFactory
from .test_training_support import fake_ml, make_image, owner, owner_client, sent  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(owner):
    return ProjectFactory(owner=owner)


def test_scoring_stores_a_prediction_with_an_image_aligned_8bit_heatmap_per_image(project, owner_client, fake_ml):
    version = ModelVersionFactory(project=project, is_active=True, threshold=0.5)
    dark = make_image(project, value=51, width=40, height=30)
    bright = make_image(project, value=204, width=17, height=23)

    assert score_project(version.id) == 2

    body = owner_client.get(f"/api/v1/images/{bright.id}/prediction/").json()
    assert body["model"] == version.id and body["score"] == pytest.approx(0.8)
    assert body["is_defective"] is True and body["created_at"]
    assert owner_client.get(f"/api/v1/images/{dark.id}/prediction/").json()["is_defective"] is False

    heatmap = owner_client.get(body["heatmap_url"])
    assert heatmap.status_code == 200 and heatmap["Content-Type"] == "image/png"
    png = PILImage.open(io.BytesIO(b"".join(heatmap.streaming_content)))
    assert png.mode == "L" and png.size == (17, 23)
    assert png.getpixel((0, 0)) == 204  # 0..255 = sigmoid 0..1


def test_scoring_again_only_scores_what_is_missing(project, fake_ml):
    version = ModelVersionFactory(project=project, is_active=True)
    make_image(project)
    assert score_project(version.id) == 1
    make_image(project)
    assert score_project(version.id) == 1
    assert score_project(version.id) == 0
    assert Prediction.objects.filter(model_version=version).count() == 2


def test_an_inactive_version_does_not_score(project, fake_ml):
    version = ModelVersionFactory(project=project, is_active=False)
    make_image(project)
    assert score_project(version.id) == 0


def test_the_gallery_sorts_by_the_active_models_score(project, owner_client, fake_ml):
    version = ModelVersionFactory(project=project, is_active=True)
    images = [make_image(project, value=v) for v in (120, 30, 220)]
    score_project(version.id)

    listing = owner_client.get(f"/api/v1/projects/{project.id}/images/?ordering=-score").json()
    assert [i["id"] for i in listing["results"]] == [images[2].id, images[0].id, images[1].id]


def test_no_prediction_yet_is_404_and_other_peoples_predictions_are_invisible(project, owner_client, fake_ml):
    image = make_image(project)
    assert owner_client.get(f"/api/v1/images/{image.id}/prediction/").status_code == 404

    version = ModelVersionFactory(project=project, is_active=True)
    score_project(version.id)
    prediction = Prediction.objects.get(image=image)
    outsider = APIClient()
    outsider.force_authenticate(UserFactory())
    assert outsider.get(f"/api/v1/images/{image.id}/prediction/").status_code == 404
    assert outsider.get(f"/api/v1/predictions/{prediction.id}/heatmap/").status_code == 404
    assert APIClient().get(f"/api/v1/predictions/{prediction.id}/heatmap/").status_code == 401


def test_a_heatmap_missing_from_storage_is_404_not_500(project, owner_client, fake_ml):
    from django.core.files.storage import default_storage

    image = make_image(project)
    score_project(ModelVersionFactory(project=project, is_active=True).id)
    prediction = Prediction.objects.get(image=image)
    default_storage.delete(prediction.heatmap.name)

    response = owner_client.get(f"/api/v1/predictions/{prediction.id}/heatmap/")

    assert response.status_code == 404 and "missing" in response.json()["detail"]


def test_only_the_active_versions_prediction_is_shown(project, owner_client, fake_ml):
    old = ModelVersionFactory(project=project, version=1, is_active=True)
    image = make_image(project, value=100)
    score_project(old.id)
    old.is_active = False
    old.save()
    assert owner_client.get(f"/api/v1/images/{image.id}/prediction/").status_code == 404

    new = ModelVersionFactory(project=project, version=2, is_active=True)
    score_project(new.id)
    assert owner_client.get(f"/api/v1/images/{image.id}/prediction/").json()["model"] == new.id


@pytest.mark.django_db(transaction=True)  # foreign keys are checked at commit: it needs real commits
def test_an_image_deleted_while_it_is_scored_is_skipped_without_failing_the_rest(project, fake_ml, monkeypatch):
    from webapp.training import inference

    version = ModelVersionFactory(project=project, is_active=True)
    doomed, kept = make_image(project), make_image(project)
    real_predict = inference.engine.predictor_for(version).predict

    def predict_then_delete(images, batch_size=16):
        results = real_predict(images, batch_size)
        doomed.delete()
        return results

    monkeypatch.setattr(inference.engine.predictor_for(version), "predict", predict_then_delete)

    assert inference.score_images(version, [doomed.id, kept.id]) == 1
    assert list(Prediction.objects.values_list("image_id", flat=True)) == [kept.id]
