"""One threshold rule everywhere: `score >= threshold` is defective, on the scores the product stores.

The version's metrics and threshold come from the production predictor's scores on the stored checkpoint,
and those scores are the test images' stored predictions; an image exactly at the threshold is defective
in the API, the gallery filter, the CSV and the synchronous predict endpoint.
"""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import csv
import io

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from ml.metrics import normalise, threshold_between
from webapp.datasets.models import Image, Label, Split
from webapp.training import evaluation, services
from webapp.training.inference import run_inference_chunk, score_project
from webapp.training.models import JobStatus, ModelVersion, Prediction, TrainingJob
from webapp.training.runner import run_training_job

from .factories import ModelVersionFactory, PredictionFactory, ProjectFactory
from .test_training_support import fake_ml, make_image, owner, owner_client, png, sent, tproject  # noqa: F401

pytestmark = pytest.mark.django_db


def product_score(value: int) -> float:
    """What the fake production predictor stores for an image whose pixels all equal `value`."""
    return normalise(value / 255)


def train(project) -> ModelVersion:
    job = services.create_training_job(project=project)
    assert run_training_job(job.id, worker="w") == JobStatus.SUCCEEDED
    return ModelVersion.objects.get(job_id=job.id)


def stored_names(prefix: str) -> list[str]:
    import os

    root = default_storage.path(prefix)
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs] if os.path.isdir(root) else []


# --- the version is evaluated on the scores it stores --------------------------------------------------------


def test_metrics_and_threshold_come_from_the_stored_scores_not_from_fits_own(tproject, fake_ml, sent, owner_client):
    # fit's in-memory model scored the defective image 200 a hair higher than the product does and put its
    # threshold on that score: kept, the stored score would sit just below it while recall said 1.0.
    fake_ml.metrics = {
        "image_auroc": 1.0,
        "recall": 1.0,
        "threshold": product_score(200) + 9e-7,
        "pixel_auroc": 0.75,
        "aupro": 0.5,
    }
    version = train(tproject)

    test_images = list(Image.objects.filter(project=tproject, split=Split.TEST).order_by("id"))
    shown = {image.id: owner_client.get(f"/api/v1/images/{image.id}/prediction/").json() for image in test_images}
    # Stored with the version, by the predictor the product scores with, before any scoring pass ran.
    assert all(body["model"] == version.id for body in shown.values())
    scores = sorted(p["score"] for p in shown.values())
    assert scores == [product_score(v) for v in (20, 40, 200, 220)]
    assert version.threshold not in scores and product_score(40) < version.threshold < product_score(200)
    # The metrics say what the API says, image by image.
    flagged = [shown[i.id]["is_defective"] for i in test_images if i.label == Label.DEFECTIVE]
    assert version.metrics["recall"] == sum(flagged) / len(flagged) == 1.0
    assert not any(shown[i.id]["is_defective"] for i in test_images if i.label == Label.GOOD)
    assert version.metrics["precision"] == 1.0 and version.metrics["image_auroc"] == pytest.approx(1.0)
    assert (version.metrics["pixel_auroc"], version.metrics["aupro"]) == (0.75, 0.5)  # from fit: no threshold
    assert sum(version.curves["histogram"]["defective"]) == 2

    # The scoring pass skips the test images: their displayed scores stay the evaluated ones.
    assert score_project(version.id) == Image.objects.filter(project=tproject, split=Split.TRAIN).count()
    again = {p.image_id: p.score for p in Prediction.objects.filter(model_version=version, image__in=test_images)}
    assert again == {image_id: body["score"] for image_id, body in shown.items()}


def test_without_a_test_split_the_threshold_lies_between_two_good_training_scores(owner, fake_ml, sent):
    project = ProjectFactory(owner=owner)
    for value in (40, 51, 51, 60):
        make_image(project, value=value)
    version = train(project)
    # The 0.99 quantile of the four good training scores lies between 51 and 60: so does the threshold,
    # at their float32 midpoint, on neither score.
    assert version.threshold == threshold_between(product_score(51), product_score(60))
    assert product_score(51) < version.threshold < product_score(60)
    assert version.metrics["per_defect_type"] == {} and version.metrics["untyped_defects"] is None


def test_per_defect_type_recall_and_auroc_on_the_test_split(tproject, fake_ml, sent, owner_client):
    Image.objects.filter(project=tproject, split=Split.TEST, label=Label.DEFECTIVE).update(defect_type="scratch")
    faint = make_image(tproject, split=Split.TEST, label=Label.DEFECTIVE, value=10)  # darker than every good one
    Image.objects.filter(id=faint.id).update(defect_type="faint")
    make_image(tproject, split=Split.TEST, label=Label.DEFECTIVE, value=250)  # a defect without a type

    version = train(tproject)

    per_type = owner_client.get(f"/api/v1/models/{version.id}/").json()["metrics"]["per_defect_type"]
    assert per_type == version.metrics["per_defect_type"]
    assert set(per_type) == {"faint", "scratch"}  # the untyped defect is under no key
    assert per_type["scratch"] == {"count": 2, "recall": 1.0, "image_auroc": 1.0}
    assert per_type["faint"] == {"count": 1, "recall": 0.0, "image_auroc": 0.0}
    # recall is the share with score >= the version's threshold, by the stored scores
    assert Prediction.objects.get(model_version=version, image=faint).score < version.threshold
    # ... and measured on its own, so the rows add up to the test split's defective images
    untyped = owner_client.get(f"/api/v1/models/{version.id}/").json()["metrics"]["untyped_defects"]
    assert untyped == {"count": 1, "recall": 1.0, "image_auroc": 1.0}


def test_per_defect_type_auroc_is_null_without_good_test_images(owner, fake_ml, sent):
    project = ProjectFactory(owner=owner)
    for _ in range(3):
        make_image(project, value=30)
    for value in (200, 220):
        image = make_image(project, split=Split.TEST, label=Label.DEFECTIVE, value=value)
        Image.objects.filter(id=image.id).update(defect_type="pit")
    version = train(project)
    pit = version.metrics["per_defect_type"]["pit"]
    assert pit["count"] == 2 and pit["image_auroc"] is None and pit["recall"] is not None


def test_a_test_split_of_defects_only_takes_its_threshold_from_good_training_images(owner, fake_ml, sent):
    # given good training images scoring ~0.12 and a test split with nothing but clear defects
    project = ProjectFactory(owner=owner)
    for _ in range(3):
        make_image(project, value=30)
    for value in (150, 200, 220):
        make_image(project, split=Split.TEST, label=Label.DEFECTIVE, value=value)

    version = train(project)

    # then the threshold sits just above the good training scores and every defect is found
    assert product_score(30) < version.threshold < product_score(150)
    assert version.metrics["recall"] == pytest.approx(1.0)
    # not tuned on the test split: nothing flatters its figures, so there is no cross-validated check
    assert version.metrics["threshold_cross_validated"] is None


def test_a_threshold_tuned_on_the_test_split_comes_with_what_the_rule_gets_on_unseen_images(
    tproject, fake_ml, sent, owner_client
):
    version = train(tproject)  # 2 good and 2 defective test images: the threshold is chosen on them

    body = owner_client.get(f"/api/v1/models/{version.id}/").json()["metrics"]

    assert body["threshold_cross_validated"]["folds"] == 2
    assert body["threshold_cross_validated"]["f1"] <= body["f1"]


def test_a_test_image_deleted_during_the_run_gets_no_prediction_and_leaves_no_heatmap(tproject, fake_ml, sent):
    doomed = Image.objects.filter(project=tproject, split=Split.TEST).order_by("id").first()
    fake_ml.during = lambda: Image.objects.filter(id=doomed.id).delete()

    version = train(tproject)

    assert Prediction.objects.filter(model_version=version, image__split=Split.TEST).count() == 3
    assert not any(name.endswith(f"/{doomed.id}.png") for name in stored_names("predictions"))


def test_a_cancel_while_the_version_is_evaluated_leaves_no_heatmap_and_no_version(tproject, fake_ml, sent, monkeypatch):
    job = services.create_training_job(project=tproject)
    evaluate = evaluation.evaluate

    def evaluate_then_cancel(*args, **kwargs):
        result = evaluate(*args, **kwargs)
        TrainingJob.objects.filter(id=job.id).update(cancel_requested=True)
        return result

    monkeypatch.setattr(evaluation, "evaluate", evaluate_then_cancel)

    assert run_training_job(job.id, worker="w") == JobStatus.CANCELLED
    assert not ModelVersion.objects.exists() and stored_names("predictions") == []


# --- exactly at the threshold: defective everywhere -------------------------------------------------------


@pytest.fixture
def at_threshold(owner, owner_client):
    """An active version whose threshold was PATCHed to one image's stored score, and a second image just below."""
    project = ProjectFactory(owner=owner)
    version = ModelVersionFactory(project=project, is_active=True, threshold=0.9)
    at, below = make_image(project), make_image(project)
    score = product_score(143)  # 0.56078434...: a float32 value held as a Python float
    PredictionFactory(image=at, model_version=version, score=score)
    PredictionFactory(image=below, model_version=version, score=float(np.nextafter(np.float32(score), np.float32(0))))
    response = owner_client.patch(f"/api/v1/models/{version.id}/", {"threshold": score}, format="json")
    assert response.status_code == 200 and response.json()["threshold"] == score
    return project, version, at, below


def test_an_image_exactly_at_the_threshold_is_defective_in_the_api_and_the_gallery_filter(at_threshold, owner_client):
    project, version, at, below = at_threshold
    version.refresh_from_db()
    assert version.threshold == Prediction.objects.get(image=at).score  # same double after the round trip

    assert owner_client.get(f"/api/v1/images/{at.id}/prediction/").json()["is_defective"] is True
    assert owner_client.get(f"/api/v1/images/{below.id}/prediction/").json()["is_defective"] is False
    assert owner_client.get(f"/api/v1/images/{at.id}/").json()["prediction"]["is_defective"] is True
    listing = owner_client.get(f"/api/v1/projects/{project.id}/images/").json()["results"]
    assert {r["id"]: r["prediction"]["is_defective"] for r in listing} == {at.id: True, below.id: False}

    def ids(predicted):
        body = owner_client.get(f"/api/v1/projects/{project.id}/images/", {"predicted": predicted}).json()
        return [r["id"] for r in body["results"]]

    assert ids("defective") == [at.id] and ids("good") == [below.id]


def test_a_threshold_typed_from_a_float32_display_is_normalised_onto_the_score(at_threshold, owner_client):
    project, version, at, _ = at_threshold
    score = Prediction.objects.get(image=at).score
    typed = float(np.format_float_positional(np.float32(score)))  # "0.56078434", the float32's shortest text
    assert typed != score and normalise(typed) == score
    owner_client.patch(f"/api/v1/models/{version.id}/", {"threshold": typed}, format="json")
    version.refresh_from_db()
    assert version.threshold == score
    assert owner_client.get(f"/api/v1/images/{at.id}/prediction/").json()["is_defective"] is True


def test_predict_and_batch_results_and_csv_call_a_score_at_the_threshold_defective(
    at_threshold, owner_client, fake_ml, sent
):
    project, version, _, _ = at_threshold
    version.refresh_from_db()
    files = [
        SimpleUploadedFile("at.png", png(6, 4, 143), content_type="image/png"),
        SimpleUploadedFile("below.png", png(6, 4, 142), content_type="image/png"),
    ]
    body = owner_client.post(f"/api/v1/projects/{project.id}/predict/", {"files": files}, format="multipart").json()
    assert [(r["score"], r["is_defective"]) for r in body["results"]] == [
        (version.threshold, True),
        (product_score(142), False),
    ]

    files = [
        SimpleUploadedFile(f"{n}.png", png(6, 4, v), content_type="image/png") for n, v in (("at", 143), ("below", 142))
    ]
    response = owner_client.post(f"/api/v1/projects/{project.id}/inference-batches/", {"files": files})
    batch_id = response.json()["id"]
    for name, args in list(sent):
        if name == "training.run_inference_chunk" and args[0] == batch_id:
            run_inference_chunk(*args)
    results = owner_client.get(f"/api/v1/inference-batches/{batch_id}/results/").json()["results"]
    assert [(r["filename"], r["score"] == version.threshold, r["is_defective"]) for r in results] == [
        ("at.png", True, True),
        ("below.png", False, False),
    ]
    response = owner_client.get(f"/api/v1/inference-batches/{batch_id}/results/?format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["filename"], r["is_defective"]) for r in rows] == [("at.png", "True"), ("below.png", "False")]
    assert float(rows[0]["score"]) == version.threshold  # the CSV's text round-trips to the same double
