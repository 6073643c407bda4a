"""Comparing two versions (`GET /models/{a}/compare/{b}/`) on the images both held out: an image a version
trained on never counts as a test image for it, however the splits were changed since, and the metrics set
side by side are computed on those same images."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import pytest

from webapp.datasets.models import Image, Label, Split
from webapp.training import services
from webapp.training.inference import score_project
from webapp.training.models import ModelVersion
from webapp.training.runner import run_training_job

from .test_training_support import fake_ml, make_image, owner, owner_client, sent, tproject  # noqa: F401

pytestmark = pytest.mark.django_db


def train(project) -> ModelVersion:
    run_training_job(services.create_training_job(project=project).id, worker="w")
    return ModelVersion.objects.filter(project=project).order_by("-version").first()


def test_only_images_both_versions_held_out_are_compared(tproject, fake_ml, sent, owner_client):
    v1 = train(tproject)  # tested on g20, g40, d200, d220; trained on ten g30
    score_project(v1.id)  # v1 then scores every image of the project, its training images too
    test_good_40 = Image.objects.filter(project=tproject, split=Split.TEST, label=Label.GOOD).order_by("id")[1]
    trained_on = Image.objects.filter(project=tproject, split=Split.TRAIN).first()
    # an operator moves a test image to train, a train image (one v1 learnt from) to test, and adds one
    Image.objects.filter(id=test_good_40.id).update(split=Split.TRAIN)
    Image.objects.filter(id=trained_on.id).update(split=Split.TEST)
    make_image(tproject, split=Split.TEST, value=60)
    v2 = train(tproject)
    score_project(v2.id)

    body = owner_client.get(f"/api/v1/models/{v1.id}/compare/{v2.id}/").json()

    compared = {row["image"] for row in body["images"]}
    # g20, d200, d220: in both test splits. Not g40 (v2 trained on it), not the moved g30 (v1 trained on it),
    # not the new g60 (v1 was never tested on it).
    assert len(compared) == 3 and body["summary"]["images"] == 3
    assert test_good_40.id not in compared and trained_on.id not in compared
    for side in ("a", "b"):
        mine = body[side]["on_these_images"]
        assert mine["image_auroc"] == pytest.approx(1.0) and mine["recall"] is not None
        assert set(mine) == {"image_auroc", "image_ap", "f1", "precision", "recall"}
    assert body["a"]["metrics"]["image_auroc"] == v1.metrics["image_auroc"]  # its own, on its own split


def test_versions_from_before_snapshots_are_compared_on_todays_test_split(owner, owner_client):
    from .factories import ModelVersionFactory, PredictionFactory, ProjectFactory

    project = ProjectFactory(owner=owner)
    a = ModelVersionFactory(project=project, version=1, job=None, threshold=0.5)
    b = ModelVersionFactory(project=project, version=2, job=None, threshold=0.5)
    good = make_image(project, split=Split.TEST, value=20)
    bad = make_image(project, split=Split.TEST, label=Label.DEFECTIVE, value=200)
    trained = make_image(project, split=Split.TRAIN, value=30)
    for version in (a, b):
        for image, score in ((good, 0.2), (bad, 0.9), (trained, 0.1)):
            PredictionFactory(model_version=version, image=image, score=score)

    body = owner_client.get(f"/api/v1/models/{a.id}/compare/{b.id}/").json()

    assert {row["image"] for row in body["images"]} == {good.id, bad.id}
    assert body["b"]["on_these_images"]["f1"] == pytest.approx(1.0)
