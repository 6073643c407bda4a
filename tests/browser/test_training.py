"""The training dashboard: one-click training with a live progress bar, loss chart and cancel;
automatic-retraining settings; model versions with metrics and curves, threshold and activation.

The worker's part is played by the test: it writes the job's progress, loss history and finally a
prepared model version into the database exactly where the pipeline's runner writes them, while
the page polls the real API. Training a network here would only measure the CPU (the pipeline's
integration tests do that), not the page.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ml.metrics import normalise
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
    expect(page.get_by_test_id("job-detail")).to_contain_text("waiting for a train worker")  # not "0 %"
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
    # what it is doing, for how long, and how long training still needs at its pace
    TrainingJob.objects.filter(pk=job.pk).update(eta_seconds=150, started_at=timezone.now() - timedelta(seconds=200))
    detail = page.get_by_test_id("job-detail")
    expect(detail).to_contain_text("training · running for 3 min · about 3 min left in training")
    TrainingJob.objects.filter(pk=job.pk).update(phase="store", progress=0.95, eta_seconds=None)
    expect(detail).to_contain_text("scoring the test split with the stored model")
    expect(page.locator('[data-testid="loss-chart"] svg path.line')).to_have_count(1)
    expect(page.get_by_test_id("cancel-job")).to_be_visible()

    ids = list(Image.objects.filter(project=project).values_list("id", flat=True))
    # (thresholds are stored at the scores' float32 precision, as set_threshold keeps them)
    version = prepared_model(
        project, scores={i: 0.2 + 0.1 * n for n, i in enumerate(ids)}, threshold=normalise(0.6151050329)
    )
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

    # Set on the threshold as shown (6 decimals, "0.615105") keeps the stored 0.6151050329208374 exactly
    exact = ModelVersion.objects.get(pk=version.pk).threshold
    row.get_by_test_id("threshold-save").click()
    expect(page.locator(".toast", has_text="Threshold of v1 set to")).to_be_visible()
    assert ModelVersion.objects.get(pk=version.pk).threshold == exact

    # Threshold editing goes through PATCH and is kept.
    row.get_by_test_id("threshold-input").fill("0.42")
    row.get_by_test_id("threshold-save").click()
    expect(page.locator(".toast", has_text="Threshold of v1 set to 0.420")).to_be_visible()
    version.refresh_from_db()
    assert version.threshold == pytest.approx(0.42)

    # A threshold outside 0..1, or an emptied field (not 0!), is refused next to the field and nothing changes.
    for typed in ("1.5", ""):
        row.get_by_test_id("threshold-input").fill(typed)
        row.get_by_test_id("threshold-save").click()
        expect(row.get_by_test_id("threshold-error")).to_have_text("Enter a threshold from 0 to 1.")
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


def test_a_version_that_lost_the_comparison_says_why_it_is_not_active(page, trainable):
    project = trainable
    ids = list(Image.objects.filter(project=project).values_list("id", flat=True))
    prepared_model(project, scores={i: 0.3 for i in ids}, version=1, active=True)
    v2 = prepared_model(project, scores={i: 0.4 for i in ids}, version=2, active=False)
    compared = {"version": 1, "image_auroc": 0.85, "new_image_auroc": 0.8, "images": 42, "excluded": 0}
    ModelVersion.objects.filter(pk=v2.pk).update(metrics={**v2.metrics, "compared_with": compared})

    page.goto(f"/projects/{project.pk}/training/")

    row = page.locator(f'[data-testid="model-row"][data-id="{v2.pk}"]')
    expect(row.get_by_test_id("not-activated-why")).to_have_text(
        "Not activated by itself: on the 42 test images v1 never trained on, its image AUROC was 0.800, v1's 0.850."
    )
    expect(page.get_by_test_id("not-activated-why")).to_have_count(1)  # the active version needs no excuse


def test_activating_an_inverted_version_asks_first(page, trainable):
    project = trainable
    ids = list(Image.objects.filter(project=project).values_list("id", flat=True))
    inverted = prepared_model(project, scores={i: 0.3 for i in ids}, version=1, active=False)
    ModelVersion.objects.filter(pk=inverted.pk).update(metrics={**inverted.metrics, "image_auroc": 0.31})
    page.goto(f"/projects/{project.pk}/training/")
    row = page.locator(f'[data-testid="model-row"][data-id="{inverted.pk}"]')
    expect(row.get_by_test_id("warning-inverted")).to_be_visible()
    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    row.get_by_test_id("activate").click()
    expect(row.get_by_test_id("activate")).to_be_enabled()
    assert not ModelVersion.objects.get(pk=inverted.pk).is_active  # "no": nothing changed
    assert "image AUROC 0.310" in questions[0] and "Activate it anyway?" in questions[0]

    page.once("dialog", lambda d: answer(d, True))
    row.get_by_test_id("activate").click()
    expect(row.get_by_test_id("active-badge")).to_be_visible()
    assert ModelVersion.objects.get(pk=inverted.pk).is_active


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

    # Stopping a running training asks first: "no" leaves it running, "yes" asks the worker to stop.
    running = TrainingJob.objects.get(project=project, status="running")
    page.once("dialog", lambda d: d.dismiss())
    page.get_by_test_id("cancel-job").click()
    page.wait_for_timeout(300)
    assert not TrainingJob.objects.get(pk=running.pk).cancel_requested
    page.once("dialog", lambda d: d.accept() if "Stop training job" in d.message else d.dismiss())
    page.get_by_test_id("cancel-job").click()
    expect(page.get_by_test_id("cancel-job")).to_have_attribute("title", re.compile("^Cancelling"))  # answered
    assert TrainingJob.objects.get(pk=running.pk).cancel_requested


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


# --- the page tells the truth: the running job, why Train is disabled, a failure in words, pending changes ----


def test_a_running_automatic_job_shows_before_any_model_and_a_failure_reads_as_a_sentence(page, trainable, settings):
    # given the first automatic training, running, and no model yet
    project = trainable
    Project.objects.filter(pk=project.pk).update(auto_retrain=True, min_good_for_first_model=4)
    job = TrainingJob.objects.create(
        project=project, trigger="auto", status="running", phase="train", progress=0.3, epoch=3, epochs=10
    )
    page.goto(f"/projects/{project.pk}/training/")

    # then the job shows as running with its progress, and the disabled Train button says why
    expect(page.get_by_test_id("job-status")).to_have_text("running")
    expect(page.get_by_test_id("job-title")).to_contain_text("automatic retraining")
    expect(progress(page)).to_have_attribute("aria-valuenow", "30")
    expect(page.get_by_test_id("job-detail")).to_contain_text("epoch 3 / 10")
    reason = f"Training job {job.pk} (automatic retraining) is running."
    expect(page.get_by_test_id("models-status")).to_have_text(
        f"No model yet: training job {job.pk} (automatic retraining) is running."
    )
    expect(page.get_by_test_id("train")).to_be_disabled()
    expect(page.get_by_test_id("train")).to_have_attribute("title", reason)
    expect(page.get_by_test_id("train-reason")).to_have_text(reason)
    expect(page.get_by_test_id("labels-until")).to_contain_text(
        f"Training job {job.pk} (automatic retraining) is running"
    )

    # when the worker fails on a missing mask
    detail = "FileNotFoundError: [Errno 2] No such file or directory: 'masks/ab/abc.png'"
    sentence = (
        "The mask of image 7 (part_007.png) is missing from storage. "
        "Paint it again or delete the mask, then train again."
    )
    TrainingJob.objects.filter(pk=job.pk).update(
        status="failed",
        error=sentence,
        error_detail=detail,
        finished_at=timezone.now(),
    )

    # then the page says so in a sentence, with the engineers' detail behind a toggle and no server path
    expect(page.get_by_test_id("job-status")).to_have_text("failed")
    expect(page.get_by_test_id("job-error")).to_have_text(f"Training failed. {sentence}")
    toggle = page.get_by_test_id("job-error-detail")
    expect(toggle).to_be_visible()
    expect(toggle.locator("pre")).to_be_hidden()
    toggle.locator("summary").click()
    expect(toggle.locator("pre")).to_have_text(detail)
    text = page.locator("body").inner_text()
    for root in (settings.MEDIA_ROOT, settings.DATA_DIR, settings.BASE_DIR):
        assert str(root) not in text
    # and the policy line tells what happens next; Train is live again
    expect(page.get_by_test_id("labels-until")).to_have_text(
        "The last automatic training failed; the next one starts after the next label — or press Train."
    )
    expect(page.get_by_test_id("train")).to_be_enabled()
    expect(page.get_by_test_id("train-reason")).to_be_hidden()
    expect(page.get_by_test_id("models-status")).to_have_text("No model yet. Press Train.")


def test_without_good_images_the_train_button_says_why(page, logged_in):
    project = make_project(logged_in, "Empty line")
    add_textures(logged_in, project, 2)  # uploaded, not labelled
    page.goto(f"/projects/{project.pk}/training/")
    reason = "Label at least one good image in the train split."
    expect(page.get_by_test_id("train")).to_be_disabled()
    expect(page.get_by_test_id("train")).to_have_attribute("title", reason)
    expect(page.get_by_test_id("train-reason")).to_have_text(reason)
    expect(page.get_by_test_id("labels-until")).to_have_attribute("data-state", "no_good_images")
    expect(page.get_by_test_id("labels-until")).to_contain_text(
        "in the train split until the first model trains by itself: about"
    )


def test_a_viewer_reads_why_they_cannot_train(page, logged_in, django_user_model):
    from webapp.datasets.models import Membership

    owner = django_user_model.objects.create_user(username="lead", password="lead-password-1")
    project = make_project(owner, "Someone else's line")
    Membership.objects.create(project=project, user=logged_in, role="viewer")
    page.goto(f"/projects/{project.pk}/training/")
    expect(page.get_by_test_id("train-reason")).to_have_text(
        "Viewers cannot train: ask the project's owner for the labeller role."
    )
    expect(page.get_by_test_id("train-form")).to_be_hidden()
    # a running training's Cancel is there, disabled, with the reason (a click would be a silent 403)
    TrainingJob.objects.create(project=project, status="running", progress=0.3, epochs=10)
    page.reload()
    cancel = page.get_by_test_id("cancel-job")
    expect(cancel).to_be_disabled()
    expect(cancel).to_have_attribute(
        "title", "Viewers cannot cancel a training: an owner can give you the labeller role."
    )
    # the model settings, retraining and the versions' threshold and Activate are shown, read-only, with the reason
    prepared_model(project, scores={}, version=1)
    prepared_model(project, scores={}, version=2, active=False)
    page.reload()
    expect(page.get_by_test_id("model-row")).to_have_count(2)
    for control in (page.get_by_test_id("threshold-input"), page.get_by_test_id("threshold-save")):
        expect(control).to_have_count(2)
        for i in range(2):
            expect(control.nth(i)).to_be_disabled()
    expect(page.get_by_test_id("activate")).to_be_disabled()
    expect(page.get_by_test_id("activate")).to_have_attribute("title", re.compile("Viewers cannot set thresholds"))
    for field in (
        "setting-backbone",
        "setting-image-size",
        "setting-tiling",
        "setting-test-fraction",
        "auto-retrain",
        "retrain-after",
    ):
        expect(page.get_by_test_id(field)).to_be_disabled()
        expect(page.get_by_test_id(field)).to_have_attribute(
            "title", "Viewers cannot change the settings: an owner can give you the labeller role."
        )


def test_snapshots_of_the_last_job_and_versions_and_the_pending_changes(page, trainable):
    from webapp.training import snapshots

    # given version 1, trained on the 4 good images (its job's snapshot frozen the way the runner does)
    project = trainable
    job = TrainingJob.objects.create(project=project, status="running", resolved_mode="unsupervised")
    snapshots.freeze(job)
    TrainingJob.objects.filter(pk=job.pk).update(status="succeeded", progress=1.0, finished_at=timezone.now())
    version = prepared_model(project, scores={}, version=1)
    ModelVersion.objects.filter(pk=version.pk).update(job=job, snapshot=job.snapshot)

    page.goto(f"/projects/{project.pk}/training/")

    # then the last job and the version show what they trained on, and the next run would change nothing
    # (an unsupervised run learns from the good train images only, and says so)
    expect(page.get_by_test_id("job-snapshot")).to_have_text(
        "Trained on 4 good images (unsupervised: the defective ones are not trained on) · no test split (no metrics)"
        " · first version"
    )
    expect(page.get_by_test_id("version-changes")).to_have_text("first version")
    expect(page.get_by_test_id("pending-changes")).to_contain_text("nothing changed since version 1")
    expect(page.get_by_test_id("train-unchanged")).to_contain_text("Nothing changed since version 1")
    expect(page.get_by_test_id("train")).to_be_enabled()  # training anyway stays allowed

    # when an image is added and one relabelled defective
    extra = add_textures(trainable.owner, project, 1, seed0=50)[0]
    Image.objects.filter(pk=extra["id"]).update(label="good", split="train")
    first = Image.objects.filter(project=project).exclude(pk=extra["id"]).order_by("pk").first()
    Image.objects.filter(pk=first.pk).update(label="defective")
    page.reload()

    # then the pending changes say so, and the warning is gone
    expect(page.get_by_test_id("pending-changes")).to_contain_text("changed since version 1: +1 added, 1 relabelled")
    expect(page.get_by_test_id("train-unchanged")).to_be_hidden()


def test_a_silent_worker_is_flagged_then_its_job_fails_by_itself_and_train_works_again(page, trainable, settings):
    """No scheduler runs in this test: the page's own polls end a job whose worker stopped answering."""
    from datetime import timedelta

    settings.TRAINING_STALE_AFTER_SECONDS = 60
    project = trainable
    job = TrainingJob.objects.create(
        project=project,
        status="running",
        phase="train",
        progress=0.4,
        epoch=2,
        epochs=8,
        heartbeat_at=timezone.now() - timedelta(seconds=30),
        worker="train@lost",
    )
    page.goto(f"/projects/{project.pk}/training/")

    expect(page.get_by_test_id("job-status")).to_have_text("running")
    stale = page.get_by_test_id("job-stale")
    expect(stale).to_contain_text("No word from the worker for 3")  # 30-something seconds
    expect(stale).to_contain_text("given up after 60 s of silence")

    # the worker stays silent past the limit
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=90))

    expect(page.get_by_test_id("job-status")).to_have_text("failed")
    expect(page.get_by_test_id("job-error")).to_contain_text("The worker running this training stopped answering at")
    expect(stale).to_be_hidden()
    expect(page.get_by_test_id("train")).to_be_enabled()


def test_a_job_waiting_in_the_queue_says_for_how_long_and_why(page, trainable):
    from datetime import timedelta

    job = TrainingJob.objects.create(project=trainable, status="queued")
    TrainingJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=4))
    page.goto(f"/projects/{trainable.pk}/training/")

    expect(page.get_by_test_id("job-status")).to_have_text("queued")
    waiting = page.get_by_test_id("job-stale")
    expect(waiting).to_contain_text("Waiting 4 min for a train worker")
    expect(waiting).to_contain_text("one job at a time")

    # Once a worker takes it, the line goes.
    TrainingJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now())
    expect(page.get_by_test_id("job-status")).to_have_text("running")
    expect(waiting).to_be_hidden()


def test_model_settings_are_changed_on_the_page_and_a_refused_one_says_why(page, trainable, allowed_console_errors):
    project = trainable
    allowed_console_errors.append("status of 400")
    page.goto(f"/projects/{project.pk}/training/")
    backbone = page.get_by_test_id("setting-backbone")
    size = page.get_by_test_id("setting-image-size")
    expect(size).to_have_value(str(Project.objects.get(pk=project.pk).image_size))
    assert "efficientnet_lite0" in backbone.locator("option").all_inner_texts()

    size.fill("250")
    size.dispatch_event("change")
    error = page.get_by_test_id("model-settings-error")
    expect(error).to_contain_text("Setting not saved:")
    expect(error).to_contain_text("multiple of 8")
    expect(error).not_to_contain_text("Invalid input")  # the setting's own words, not the API's prefix
    expect(size).to_have_value(str(Project.objects.get(pk=project.pk).image_size))  # the saved value again

    size.fill("320")
    size.dispatch_event("change")
    expect(error).to_be_hidden()
    page.get_by_test_id("setting-tiling").fill("2x2")
    page.get_by_test_id("setting-tiling").dispatch_event("change")
    backbone.select_option("efficientnet_lite1")
    page.get_by_test_id("setting-test-fraction").fill("0.3")
    page.get_by_test_id("setting-test-fraction").dispatch_event("change")
    expect(page.locator(".toast").last).to_contain_text("applies from the next training")
    expect(error).to_be_hidden()

    def saved():
        p = Project.objects.get(pk=project.pk)
        return (p.image_size, p.tiling, p.backbone, p.test_fraction)

    for _ in range(100):  # the last PATCH may still be on its way
        if saved() == ("320", "2x2", "efficientnet_lite1", 0.3):
            break
        page.wait_for_timeout(50)
    assert saved() == ("320", "2x2", "efficientnet_lite1", 0.3)


def test_a_backbone_without_weights_on_this_server_says_so_before_a_training_fails_on_it(
    page, trainable, monkeypatch, tmp_path
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))  # no wide_resnet50_2 file here
    monkeypatch.delenv("ML_WEIGHTS_WIDE_RESNET50_2", raising=False)
    page.goto(f"/projects/{trainable.pk}/training/")
    backbone = page.get_by_test_id("setting-backbone")
    note = page.get_by_test_id("backbone-note")
    expect(backbone.locator('option[value="wide_resnet50_2"]')).to_have_text(
        "wide_resnet50_2 (weights not on this server)"
    )
    expect(backbone.locator('option[value="efficientnet_lite0"]')).to_have_text("efficientnet_lite0")
    expect(note).to_be_hidden()

    backbone.select_option("wide_resnet50_2")

    expect(note).to_be_visible()
    expect(note).to_contain_text("not installed on this server: a training fails unless the train worker has them")
    expect(note).to_contain_text("ImageNet")  # its licence
    for _ in range(100):  # it is saved all the same: a worker elsewhere may hold the file
        if Project.objects.get(pk=trainable.pk).backbone == "wide_resnet50_2":
            break
        page.wait_for_timeout(50)
    assert Project.objects.get(pk=trainable.pk).backbone == "wide_resnet50_2"
    backbone.select_option("efficientnet_lite0")
    expect(note).to_be_hidden()
