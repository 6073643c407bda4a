"""The training dashboard: one-click training with a live progress bar, loss chart and cancel;
automatic-retraining settings; model versions with metrics and curves, threshold and activation.

The worker's part is played by the test: it writes the job's progress, loss history and finally a
prepared model version into the database exactly where the pipeline's runner writes them, while
the page polls the real API. Training a network here would only measure the CPU (the pipeline's
integration tests do that), not the page.
"""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from webapp.datasets.models import Image, Project
from webapp.training.models import ModelVersion, TrainingJob

from .helpers import add_textures, make_project, prepared_model

pytestmark = pytest.mark.browser


@pytest.fixture
def trainable(logged_in):
    project = make_project(logged_in, "Magnetic tiles", auto_retrain=False)
    images = add_textures(logged_in, project, 4)
    Image.objects.filter(pk__in=[i["id"] for i in images]).update(label="good", split="train")
    return project


def progress(page):
    return page.get_by_test_id("job-progress")


def test_train_watch_progress_finish_and_edit_the_model(page, trainable, allowed_console_errors):
    project = trainable
    page.goto(f"/projects/{project.pk}/training/")
    expect(page.get_by_test_id("models-status")).to_have_text("No model yet. Press Train.")
    expect(page.get_by_test_id("train-mode")).to_have_value("auto")

    page.get_by_test_id("train-epochs").fill("4")
    page.get_by_test_id("train").click()
    expect(page.get_by_test_id("job-status")).to_have_text("queued")
    job = TrainingJob.objects.get(project=project)
    assert (job.mode, job.preset, job.epochs, job.resolved_mode) == ("auto", "fast", 4, "unsupervised")
    expect(page.get_by_test_id("train")).to_be_disabled()  # one job at a time

    # The worker starts and reports each epoch; the page follows by polling.
    history = []
    for epoch, loss in enumerate([0.91, 0.62, 0.44, 0.37], start=1):
        history.append({"epoch": epoch, "loss": loss})
        TrainingJob.objects.filter(pk=job.pk).update(
            status="running",
            phase="train",
            epoch=epoch,
            progress=epoch / 4 * 0.8,
            history=history,
            started_at=job.created_at,
            heartbeat_at=timezone.now(),
        )
        expect(progress(page)).to_have_attribute("aria-valuenow", str(epoch * 20))
        expect(page.get_by_test_id("job-detail")).to_contain_text(f"epoch {epoch} / 4")
    expect(page.get_by_test_id("job-status")).to_have_text("running")
    expect(page.locator('[data-testid="loss-chart"] svg path.line')).to_have_count(1)
    expect(page.get_by_test_id("cancel-job")).to_be_visible()

    ids = list(Image.objects.filter(project=project).values_list("id", flat=True))
    version = prepared_model(project, scores={i: 0.2 + 0.1 * n for n, i in enumerate(ids)}, threshold=0.55)
    ModelVersion.objects.filter(pk=version.pk).update(job=job)
    TrainingJob.objects.filter(pk=job.pk).update(status="succeeded", progress=1.0, finished_at=timezone.now())

    expect(progress(page)).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded")
    expect(page.get_by_test_id("model-row")).to_have_count(1)
    row = page.get_by_test_id("model-row").first
    expect(row).to_contain_text("v1")
    expect(row).to_contain_text("0.940")  # image AUROC
    expect(row.get_by_test_id("active-badge")).to_be_visible()
    expect(page.locator('[data-testid="histogram"] rect.bar.good').first).to_be_visible()
    expect(page.locator('[data-testid="roc"] path.line')).to_have_count(1)
    expect(page.locator('[data-testid="pr"] path.line')).to_have_count(1)

    # Threshold editing goes through PATCH and is kept.
    row.get_by_test_id("threshold-input").fill("0.42")
    row.get_by_test_id("threshold-save").click()
    expect(page.locator(".toast", has_text="Threshold of v1 set to 0.420")).to_be_visible()
    version.refresh_from_db()
    assert version.threshold == pytest.approx(0.42)

    # A threshold outside 0..1 is refused by the API, and the reason shows next to the field.
    allowed_console_errors.append("status of 400")
    row.get_by_test_id("threshold-input").fill("1.5")
    row.get_by_test_id("threshold-save").click()
    expect(row.get_by_test_id("threshold-error")).to_contain_text("1")
    version.refresh_from_db()
    assert version.threshold == pytest.approx(0.42)


def test_activate_an_older_version(page, trainable):
    project = trainable
    ids = list(Image.objects.filter(project=project).values_list("id", flat=True))
    v1 = prepared_model(project, scores={i: 0.3 for i in ids}, version=1, active=False)
    prepared_model(project, scores={i: 0.4 for i in ids}, version=2, active=True)
    page.goto(f"/projects/{project.pk}/training/")
    expect(page.get_by_test_id("model-row")).to_have_count(2)
    old = page.locator(f'[data-testid="model-row"][data-id="{v1.pk}"]')
    old.get_by_test_id("activate").click()
    expect(old.get_by_test_id("active-badge")).to_be_visible()
    v1.refresh_from_db()
    assert v1.is_active


def test_cancel_a_queued_job_and_conflicts_are_explained(page, trainable, allowed_console_errors):
    project = trainable
    page.goto(f"/projects/{project.pk}/training/")
    page.get_by_test_id("train").click()
    expect(page.get_by_test_id("job-status")).to_have_text("queued")
    page.get_by_test_id("cancel-job").click()
    expect(page.get_by_test_id("job-status")).to_have_text("cancelled")
    assert TrainingJob.objects.get(project=project).status == "cancelled"

    # Another job started elsewhere (automatic retraining): the page picks it up; a second Train is a 409.
    allowed_console_errors.append("409")
    TrainingJob.objects.create(project=project, status="running", progress=0.1, epochs=10)
    page.reload()
    expect(page.get_by_test_id("job-status")).to_have_text("running")
    expect(page.get_by_test_id("train")).to_be_disabled()
    # Between two polls the button can still be live: the API's 409 is then shown in words.
    page.evaluate("document.getElementById('train-form').requestSubmit()")
    expect(page.get_by_test_id("train-error")).to_contain_text("already running")


def test_automatic_retraining_setting_and_labels_until_the_next_run(page, trainable):
    project = trainable
    Project.objects.filter(pk=project.pk).update(auto_retrain=True, retrain_after_labels=5)
    prepared_model(project, scores={}, version=1)
    page.goto(f"/projects/{project.pk}/training/")
    expect(page.get_by_test_id("auto-retrain")).to_be_checked()
    expect(page.get_by_test_id("labels-until")).to_contain_text("until the next automatic training")
    page.get_by_test_id("retrain-after").fill("8")
    page.get_by_test_id("retrain-after").press("Enter")
    expect(page.locator(".toast", has_text="Settings saved.")).to_be_visible()
    page.get_by_test_id("auto-retrain").uncheck()
    expect(page.get_by_test_id("labels-until")).to_have_text("Automatic retraining is off.")
    project.refresh_from_db()
    assert (project.auto_retrain, project.retrain_after_labels) == (False, 8)
