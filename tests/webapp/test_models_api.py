"""Model versions through the API: list, detail with null metrics, threshold PATCH, activate, export."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

from pathlib import Path

import numpy as np
import pytest
from rest_framework.test import APIClient

from webapp.datasets.models import Role
from webapp.training import engine
from webapp.training.models import ModelVersion

from .factories import MembershipFactory, ModelVersionFactory, PredictionFactory, ProjectFactory, UserFactory
from .test_training_support import make_image, owner, owner_client, sent  # noqa: F401

pytestmark = pytest.mark.django_db

METRICS = {"image_auroc", "image_ap", "pixel_auroc", "aupro", "f1", "precision", "recall"}


@pytest.fixture
def project(owner):
    return ProjectFactory(owner=owner)


def test_list_and_detail_carry_the_contract_fields_and_null_metrics(project, owner_client):
    ModelVersionFactory(project=project, version=1)
    v2 = ModelVersionFactory(
        project=project, version=2, is_active=True, metrics={"image_auroc": 0.93, "image_ap": 0.9, "f1": 0.8}
    )

    listing = owner_client.get(f"/api/v1/projects/{project.id}/models/").json()
    assert listing["count"] == 2 and [m["version"] for m in listing["results"]] == [2, 1]

    body = owner_client.get(f"/api/v1/models/{v2.id}/").json()
    for key in ("id", "project", "version", "mode", "backbone", "image_size", "threshold", "is_active", "created_at"):
        assert key in body
    assert body["train_counts"] == {"good": 10, "defective": 0, "masks": 0}
    assert set(body["metrics"]) == METRICS | {
        "per_defect_type",
        "untyped_defects",
        "threshold_cross_validated",
        "score_range",
    }
    assert body["metrics"]["per_defect_type"] is None  # a version stored before it was measured
    assert body["metrics"]["untyped_defects"] is None
    assert body["metrics"]["image_auroc"] == 0.93 and body["metrics"]["pixel_auroc"] is None
    assert body["metrics"]["aupro"] is None and body["is_active"] is True


def test_a_version_that_ranks_defects_below_good_parts_carries_an_inverted_warning(project, owner_client):
    good = ModelVersionFactory(project=project, version=1, metrics={"image_auroc": 0.93})
    inverted = ModelVersionFactory(project=project, version=2, metrics={"image_auroc": 0.39})
    licensed = ModelVersionFactory(project=project, version=3, backbone="resnet152", metrics={"image_auroc": 0.9})

    assert owner_client.get(f"/api/v1/models/{good.id}/").json()["warnings"] == []
    warnings = owner_client.get(f"/api/v1/models/{inverted.id}/").json()["warnings"]
    assert [w["code"] for w in warnings] == ["inverted"] and "0.39" in warnings[0]["detail"]
    warnings = owner_client.get(f"/api/v1/models/{licensed.id}/").json()["warnings"]
    assert [w["code"] for w in warnings] == ["non_commercial_backbone"]
    assert "Non-commercial" in warnings[0]["detail"]


def test_patch_threshold_moves_is_defective_of_every_prediction(project, owner_client):
    version = ModelVersionFactory(project=project, is_active=True, threshold=0.5)
    image = make_image(project)
    PredictionFactory(image=image, model_version=version, score=0.4)
    assert owner_client.get(f"/api/v1/images/{image.id}/prediction/").json()["is_defective"] is False

    response = owner_client.patch(f"/api/v1/models/{version.id}/", {"threshold": 0.3}, format="json")

    # Stored at the scores' precision: the nearest float32 (ml.metrics.normalise).
    assert response.status_code == 200 and response.json()["threshold"] == float(np.float32(0.3))
    assert owner_client.get(f"/api/v1/images/{image.id}/prediction/").json()["is_defective"] is True
    assert owner_client.get(f"/api/v1/images/{image.id}/").json()["prediction"]["is_defective"] is True


@pytest.mark.parametrize("threshold", [-0.1, 1.5, "high", None])
def test_a_threshold_outside_0_1_is_400(project, owner_client, threshold):
    version = ModelVersionFactory(project=project)
    response = owner_client.patch(f"/api/v1/models/{version.id}/", {"threshold": threshold}, format="json")
    assert response.status_code == 400 and response.json()["detail"]


def test_activate_switches_the_active_model_and_scores_the_project(project, owner_client, sent):
    v1 = ModelVersionFactory(project=project, version=1, is_active=True)
    v2 = ModelVersionFactory(project=project, version=2)

    response = owner_client.post(f"/api/v1/models/{v2.id}/activate/")

    assert response.status_code == 200 and response.json()["is_active"] is True
    assert not ModelVersion.objects.get(id=v1.id).is_active
    assert sent == [("training.score_project", (v2.id,))]


def test_viewers_cannot_change_threshold_or_activate_and_outsiders_see_nothing(project, owner_client):
    version = ModelVersionFactory(project=project)
    viewer = APIClient()
    viewer.force_authenticate(MembershipFactory(project=project, user=UserFactory(), role=Role.VIEWER).user)
    assert viewer.get(f"/api/v1/models/{version.id}/").status_code == 200
    assert viewer.patch(f"/api/v1/models/{version.id}/", {"threshold": 0.1}, format="json").status_code == 403
    assert viewer.post(f"/api/v1/models/{version.id}/activate/").status_code == 403

    outsider = APIClient()
    outsider.force_authenticate(UserFactory())
    for path in (f"/api/v1/models/{version.id}/", f"/api/v1/projects/{project.id}/models/"):
        assert outsider.get(path).status_code == 404
    assert outsider.get(f"/api/v1/models/{version.id}/export/?format=torch").status_code == 404


@pytest.mark.parametrize(("fmt", "suffix"), [("onnx", ".onnx"), ("torch", ".pt")])
def test_export_streams_the_file_in_the_asked_format(project, owner_client, monkeypatch, fmt, suffix):
    version = ModelVersionFactory(project=project, version=3)
    calls = []

    def fake_export(checkpoint, out, form, threshold=None):
        calls.append((Path(checkpoint).read_bytes(), form, threshold))
        Path(out).write_bytes(b"exported-" + form.encode())

    monkeypatch.setattr(engine, "export_model", fake_export)

    response = owner_client.get(f"/api/v1/models/{version.id}/export/?format={fmt}")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"exported-" + fmt.encode()
    assert response["Content-Disposition"].endswith(f'v3{suffix}"')
    assert calls == [(b"good", fmt, version.threshold)]  # the version's threshold travels with the model


def test_export_in_an_unknown_format_is_400(project, owner_client):
    version = ModelVersionFactory(project=project)
    response = owner_client.get(f"/api/v1/models/{version.id}/export/?format=tflite")
    assert response.status_code == 400 and "tflite" in response.json()["detail"]


def test_a_failed_export_answers_json_and_leaves_no_scratch_files(project, owner_client, monkeypatch, settings):
    version = ModelVersionFactory(project=project)

    def broken_export(checkpoint, out, form, **kwargs):
        Path(out).write_bytes(b"half")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(engine, "export_model", broken_export)
    owner_client.raise_request_exception = False

    response = owner_client.get(f"/api/v1/models/{version.id}/export/?format=onnx")

    # An unreadable checkpoint is the version's state, not a server crash: 409 with a sentence (issue 10).
    assert response.status_code == 409 and "cannot be exported" in response.json()["detail"]
    assert not list((Path(settings.DATA_DIR) / "tmp").glob("export-*"))
