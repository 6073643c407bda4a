"""A model version's threshold-dependent figures follow its threshold: PATCHing it recomputes F1, precision,
recall and per-defect-type recall from the test scores the version stored, on the split it was tested on."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import pytest

from webapp.datasets.models import Label
from webapp.training import services
from webapp.training.models import ModelVersion
from webapp.training.runner import run_training_job

from .test_training_support import fake_ml, make_image, owner, sent, tproject  # noqa: F401

pytestmark = pytest.mark.django_db


def new_job(project, **kwargs):
    return services.create_training_job(project=project, **kwargs)


def test_a_new_threshold_moves_f1_precision_recall_and_per_type_recall_on_the_versions_test_split(
    tproject, fake_ml, sent
):
    from rest_framework.test import APIClient

    from webapp.datasets.models import Image

    # the two defective test images (brightness 200 and 220: fake scores 0.784 and 0.863) have a type each
    crack, fray = Image.objects.filter(project=tproject, label=Label.DEFECTIVE).order_by("id")
    Image.objects.filter(id=crack.id).update(defect_type="crack")
    Image.objects.filter(id=fray.id).update(defect_type="fray")
    run_training_job(new_job(tproject).id, worker="w")
    version = ModelVersion.objects.get(project=tproject)
    assert (version.metrics["recall"], version.metrics["precision"]) == (1.0, 1.0)
    # an operator relabels a test image afterwards: the version's figures stay on the split it was tested on
    Image.objects.filter(id=crack.id).update(label=Label.GOOD)
    client = APIClient()
    client.force_authenticate(tproject.owner)

    response = client.patch(f"/api/v1/models/{version.id}/", {"threshold": 0.82}, format="json")

    assert response.status_code == 200
    metrics = response.json()["metrics"]
    assert metrics["recall"] == pytest.approx(0.5) and metrics["precision"] == pytest.approx(1.0)
    assert metrics["f1"] == pytest.approx(2 / 3)
    assert metrics["per_defect_type"]["crack"]["recall"] == 0.0
    assert metrics["per_defect_type"]["fray"]["recall"] == 1.0
    # the threshold-free figures do not move
    assert metrics["image_auroc"] == pytest.approx(1.0) and metrics["image_ap"] == pytest.approx(1.0)
    version.refresh_from_db()
    assert version.metrics["recall"] == pytest.approx(0.5)


def test_a_new_threshold_moves_the_recall_of_the_untyped_defects_too(tproject, fake_ml, sent):
    from webapp.datasets.models import Image

    # fake scores 0.784 (typed "crack") and 0.863 (no type)
    crack, untyped = Image.objects.filter(project=tproject, label=Label.DEFECTIVE).order_by("id")
    Image.objects.filter(id=crack.id).update(defect_type="crack")
    run_training_job(new_job(tproject).id, worker="w")
    version = ModelVersion.objects.get(project=tproject)
    assert version.metrics["untyped_defects"]["count"] == 1

    services.set_threshold(version=version, threshold=0.9)
    assert version.metrics["untyped_defects"]["recall"] == 0.0
    services.set_threshold(version=version, threshold=0.82)
    assert version.metrics["untyped_defects"]["recall"] == 1.0
    assert version.metrics["per_defect_type"]["crack"]["recall"] == 0.0


def test_a_version_without_a_snapshot_keeps_its_figures_and_takes_the_threshold(owner):
    """Versions trained before snapshots existed have nothing to recompute from: only the threshold moves."""
    from rest_framework.test import APIClient

    from .factories import ModelVersionFactory, ProjectFactory

    version = ModelVersionFactory(project=ProjectFactory(owner=owner), job=None, metrics={"f1": 0.8, "recall": 0.9})
    client = APIClient()
    client.force_authenticate(owner)

    response = client.patch(f"/api/v1/models/{version.id}/", {"threshold": 0.7}, format="json")

    assert response.status_code == 200
    assert response.json()["metrics"]["f1"] == 0.8 and response.json()["metrics"]["recall"] == 0.9
    assert response.json()["threshold"] == pytest.approx(0.7)
