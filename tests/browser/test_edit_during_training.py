"""Operators keep working while a model trains: a mask repainted in the labeller, an image deleted, and
the running job still succeeds on its snapshot; a new label shows the split the server really chose.

The training runs for real through the pipeline's runner (claim, snapshot, samples, evaluation,
version), in a thread beside the live server; only the network is replaced by the test suite's
stand-in for `ml.fit` (the integration tests train a real one), which pauses mid-run until the
browser has finished editing.
"""

import threading

import pytest
from django.db import connection
from playwright.sync_api import expect

from tests.webapp.test_training_support import FakeFit, FakePredictor, make_image
from webapp.datasets import services as datasets
from webapp.datasets.models import Image, Label, Split
from webapp.training import engine, services
from webapp.training.models import JobStatus, ModelVersion, TrainingJob
from webapp.training.runner import run_training_job

from .helpers import make_project
from .test_labeller import save, stroke

pytestmark = pytest.mark.browser

W, H = 1600, 1200  # the labeller helpers' geometry


@pytest.fixture
def worker(monkeypatch, settings):
    """The runner with the stand-in network; `fit.during` blocks until `resume` is set."""
    settings.TRAINING_HEARTBEAT_SECONDS = 0.0
    settings.TRAINING_PROGRESS_SECONDS = 0.0
    settings.ML_DEVICE = "cpu"
    resume, paused = threading.Event(), threading.Event()

    def pause():
        paused.set()
        assert resume.wait(60), "the browser never finished editing"

    fit = FakeFit(during=pause)
    monkeypatch.setattr(engine, "fit", fit)
    monkeypatch.setattr(engine, "load_predictor", FakePredictor)
    monkeypatch.setattr(services, "enqueue", lambda task, *args, **kwargs: True)
    engine.forget_predictors()
    yield fit, paused, resume
    resume.set()
    engine.forget_predictors()


def test_repainting_a_mask_and_deleting_an_image_during_a_run_does_not_fail_it(page, logged_in, worker):
    fit, paused, resume = worker
    # given a project with good train images and a masked defect in test
    project = make_project(logged_in, "Edits during a run", auto_retrain=False)
    for _ in range(10):
        make_image(project, value=30)
    make_image(project, split=Split.TEST, value=20)
    doomed = make_image(project, split=Split.TEST, value=40)
    masked = make_image(project, split=Split.TEST, label=Label.DEFECTIVE, value=200, mask=True, width=W, height=H)
    job = services.create_training_job(project=project)

    # when the run is under way
    outcome = {}

    def run():
        try:
            outcome["status"] = run_training_job(job.id, worker="w")
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert paused.wait(30)
    page.goto(f"/projects/{project.pk}/training/")
    expect(page.get_by_test_id("job-status")).to_have_text("running")

    # and the operator repaints the defect's mask and deletes an image meanwhile
    old_mask = masked.mask.file.name
    page.goto(f"/projects/{project.pk}/images/{masked.pk}/")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    page.get_by_test_id("brush-size").fill("80")
    stroke(page, [(100, 100), (700, 100)])
    save(page)
    masked.refresh_from_db()
    assert masked.mask.file.name != old_mask
    datasets.image_delete(image=doomed)  # a colleague, elsewhere
    resume.set()
    thread.join(60)

    # then the job succeeded on what it froze, and the page says so
    assert outcome["status"] == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.snapshot["test"]["good"] == 2
    assert ModelVersion.objects.filter(job=job).exists()
    page.goto(f"/projects/{project.pk}/training/")
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded")
    expect(page.get_by_test_id("model-row")).to_have_count(1)
    assert TrainingJob.objects.get(pk=job.pk).error == ""


def test_the_labeller_shows_the_split_the_server_chose(page, logged_in, settings):
    # given a project whose test split is still too small to measure good images
    settings.SPLIT_MIN_TEST_PER_LABEL = 10
    project = make_project(logged_in, "Fresh line", auto_retrain=False)
    image = make_image(project, label=Label.UNLABELED, width=W, height=H)
    page.goto(f"/projects/{project.pk}/images/{image.pk}/")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("current-split")).to_have_text("train")

    # when it is labelled good with the keyboard
    page.keyboard.press("g")

    # then the page shows the split the policy chose (test, to fill the test split), as the API does
    expect(page.get_by_test_id("current-label")).to_have_text("label good")
    expect(page.get_by_test_id("current-split")).to_have_text("test")
    assert Image.objects.get(pk=image.pk).split == Split.TEST
