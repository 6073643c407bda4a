"""The training task body with a patched `fit`: versions, metrics, thresholds, activation, faults, idempotency."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import pytest
from django.core.files.storage import default_storage
from django.db.models import F

from webapp.datasets.models import Image, Label, Project, Split
from webapp.training import reporter as reporter_module
from webapp.training import runner, services
from webapp.training.models import JobStatus, ModelVersion, TrainingJob
from webapp.training.runner import run_training_job

from .test_training_support import fake_ml, make_image, owner, owner_client, sent, tproject  # noqa: F401

pytestmark = pytest.mark.django_db


def stored(prefix: str) -> list[str]:
    root = default_storage.path(prefix)
    import os

    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs] if os.path.isdir(root) else []


def new_job(project, **kwargs) -> TrainingJob:
    return services.create_training_job(project=project, **kwargs)


def test_it_trains_stores_an_active_version_with_test_split_metrics_and_scores_the_project(tproject, fake_ml, sent):
    job = new_job(tproject)

    assert run_training_job(job.id, worker="w1") == JobStatus.SUCCEEDED

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.progress == 1.0 and job.finished_at
    assert job.history == [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.3}]
    assert job.device == "cpu" and job.worker == "w1"
    version = ModelVersion.objects.get(project=tproject)
    assert job.model_version == version
    assert (version.version, version.mode, version.is_active, version.image_size) == (1, "unsupervised", True, 64)
    assert version.train_counts == {"good": 10, "defective": 0, "masks": 0}
    assert version.test_counts == {"good": 2, "defective": 2, "masks": 1}
    # Good test images are dark, defective bright: the fake model separates them perfectly.
    assert version.metrics["image_auroc"] == pytest.approx(1.0)
    assert version.metrics["image_ap"] == pytest.approx(1.0)
    assert 0.15 < version.threshold <= 0.8
    assert version.curves["roc"]["fpr"]
    assert default_storage.exists(version.checkpoint.name)
    assert ("training.score_project", (version.id,)) in sent


def test_it_reports_metrics_the_test_split_cannot_give_as_null(owner, fake_ml, sent):
    from .factories import ProjectFactory

    project = ProjectFactory(owner=owner)
    for _ in range(3):
        make_image(project, value=30)
    make_image(project, split=Split.TEST, value=30)  # test split: good images only
    run_training_job(new_job(project).id, worker="w")

    metrics = ModelVersion.objects.get(project=project).metrics
    assert metrics["image_auroc"] is None and metrics["image_ap"] is None
    assert metrics["pixel_auroc"] is None and metrics["aupro"] is None


def test_without_a_test_split_all_metrics_are_null_and_the_threshold_comes_from_good_scores(owner, fake_ml, sent):
    from .factories import ProjectFactory

    project = ProjectFactory(owner=owner)
    for _ in range(4):
        make_image(project, value=51)  # fake score 0.2
    run_training_job(new_job(project).id, worker="w")

    version = ModelVersion.objects.get(project=project)
    assert all(version.metrics[k] is None for k in ("image_auroc", "image_ap", "pixel_auroc", "aupro", "f1"))
    assert version.threshold == pytest.approx(0.2, abs=1e-3)
    assert fake_ml.calls[0]["eval"] == []


def test_auto_mode_trains_supervised_with_masks_and_weak_labels_from_the_train_split(tproject, fake_ml, sent):
    make_image(tproject, label=Label.DEFECTIVE, value=210, mask=True)
    make_image(tproject, label=Label.DEFECTIVE, value=230)  # weak label: no mask
    job = new_job(tproject)
    assert job.resolved_mode == "supervised"

    run_training_job(job.id, worker="w")

    samples = fake_ml.calls[0]["samples"]
    assert sorted(s.label for s in samples).count(1) == 2
    assert sum(s.mask_path is not None for s in samples) == 1
    assert ModelVersion.objects.get(project=tproject).train_counts == {"good": 10, "defective": 2, "masks": 1}


def test_unsupervised_training_leaves_defective_train_images_out(tproject, fake_ml, sent):
    make_image(tproject, label=Label.DEFECTIVE, value=210)
    run_training_job(new_job(tproject, mode="unsupervised").id, worker="w")
    assert all(s.label == 0 for s in fake_ml.calls[0]["samples"])


def test_a_redelivered_task_for_a_finished_job_does_nothing(tproject, fake_ml, sent):
    job = new_job(tproject)
    run_training_job(job.id, worker="w")

    assert run_training_job(job.id, worker="w2") is None
    assert len(fake_ml.calls) == 1
    assert ModelVersion.objects.filter(project=tproject).count() == 1


def test_a_task_for_a_job_another_worker_runs_does_nothing(tproject, fake_ml, sent):
    job = new_job(tproject)
    TrainingJob.objects.filter(id=job.id).update(status=JobStatus.RUNNING, worker="other")

    assert run_training_job(job.id, worker="w") is None
    assert fake_ml.calls == []
    assert TrainingJob.objects.get(id=job.id).worker == "other"


def test_a_task_for_a_cancelled_job_does_nothing(tproject, fake_ml, sent):
    job = new_job(tproject)
    services.cancel_training_job(job=job)
    assert run_training_job(job.id, worker="w") is None
    assert fake_ml.calls == []


def test_cancel_while_running_stops_within_a_step_and_leaves_no_version_and_no_file(tproject, fake_ml, sent):
    job = new_job(tproject)
    fake_ml.during = lambda: services.cancel_training_job(job=TrainingJob.objects.get(id=job.id))

    assert run_training_job(job.id, worker="w") == JobStatus.CANCELLED

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.finished_at
    assert job.epoch == 1  # it stopped in the step after the request, not at the end
    assert not ModelVersion.objects.exists()
    assert stored("models") == []


def test_a_failing_fit_is_recorded_and_leaves_nothing_half_written(tproject, fake_ml, sent):
    fake_ml.error = RuntimeError("out of memory")
    job = new_job(tproject)

    assert run_training_job(job.id, worker="w") == JobStatus.FAILED

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "out of memory" in job.error
    assert not ModelVersion.objects.exists()
    assert stored("models") == []
    # A failed job no longer blocks the project.
    assert new_job(tproject).status == JobStatus.QUEUED


def test_a_checkpoint_that_does_not_fit_on_the_disk_fails_with_the_reason_and_leaves_no_heatmap(
    tproject, fake_ml, sent, monkeypatch
):
    import errno

    from webapp.training import engine, failures

    def full(src, name):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(engine, "store_file_atomically", full)
    job = new_job(tproject)

    assert run_training_job(job.id, worker="w") == JobStatus.FAILED

    job.refresh_from_db()
    assert job.error == failures.DISK_FULL and "No space left" in job.error_detail
    assert stored("predictions") == [] and stored("models") == []  # the test heatmaps went with it
    assert not ModelVersion.objects.exists()


def test_progress_epoch_and_loss_history_are_written_while_it_runs(tproject, fake_ml, sent):
    job = new_job(tproject)
    seen = []
    fake_ml.during = lambda: seen.append(
        TrainingJob.objects.values("progress", "epoch", "history", "phase").get(id=job.id)
    )

    run_training_job(job.id, worker="w")

    mid = seen[0]
    # fit's half is 0.45 of the job: after fit the test split is scored with the stored model (phase "store")
    assert mid["progress"] == pytest.approx(0.5 * runner.JobReporter.FIT_SHARE) and mid["epoch"] == 1
    assert mid["phase"] == "train"
    assert mid["history"] == [{"epoch": 1, "loss": pytest.approx((1 / 2 + 1 / 3) / 2, abs=1e-6)}]
    done = TrainingJob.objects.get(id=job.id)
    assert (done.progress, done.phase, done.eta_seconds) == (1.0, "done", None)


def test_labels_counted_at_start_are_subtracted_and_labels_during_the_run_count_towards_the_next(
    tproject, fake_ml, sent
):
    Project.objects.filter(id=tproject.id).update(labels_since_training=7)
    job = new_job(tproject)
    bump = Project.objects.filter(id=tproject.id)
    fake_ml.during = lambda: bump.update(labels_since_training=F("labels_since_training") + 2)

    run_training_job(job.id, worker="w")

    assert TrainingJob.objects.get(id=job.id).labels_counted == 7
    assert Project.objects.get(id=tproject.id).labels_since_training == 2


def test_enough_labels_during_a_run_queue_the_next_training_when_it_finishes(tproject, fake_ml, sent):
    run_training_job(new_job(tproject).id, worker="w")  # first model exists now
    job = new_job(tproject)
    bump = Project.objects.filter(id=tproject.id)

    def five_new_labels():
        for _ in range(5):
            make_image(tproject, value=30)
        bump.update(labels_since_training=F("labels_since_training") + 5)

    fake_ml.during = five_new_labels

    run_training_job(job.id, worker="w")

    follow_up = TrainingJob.objects.filter(project=tproject, status=JobStatus.QUEUED).get()
    assert follow_up.trigger == "auto"
    assert ("training.run_job", (follow_up.id,)) in sent


def test_a_better_or_equal_version_becomes_active(tproject, fake_ml, sent):
    run_training_job(new_job(tproject).id, worker="w")
    run_training_job(new_job(tproject).id, worker="w")

    v1, v2 = ModelVersion.objects.filter(project=tproject).order_by("version")
    assert (v1.is_active, v2.is_active) == (False, True)
    assert v2.metrics["compared_with"] == {
        "version": 1,
        "image_auroc": pytest.approx(1.0),
        "new_image_auroc": pytest.approx(1.0),
        "images": 4,
        "excluded": 0,
    }


def test_a_worse_version_stays_available_but_inactive(tproject, fake_ml, sent):
    run_training_job(new_job(tproject).id, worker="w")
    fake_ml.checkpoint_bytes = b"inverted"  # scores good images above defective ones

    run_training_job(new_job(tproject).id, worker="w")

    v1, v2 = ModelVersion.objects.filter(project=tproject).order_by("version")
    assert v2.metrics["image_auroc"] == pytest.approx(0.0)
    assert (v1.is_active, v2.is_active) == (True, False)
    assert [name for name, args in sent if name == "training.score_project"] == ["training.score_project"]


def test_an_inverted_version_is_never_activated_by_itself_even_the_first(tproject, fake_ml, sent, owner_client):
    fake_ml.checkpoint_bytes = b"inverted"  # ranks defective test images below good ones: AUROC 0

    run_training_job(new_job(tproject).id, worker="w")

    v1 = ModelVersion.objects.get(project=tproject, version=1)
    assert v1.metrics["image_auroc"] == pytest.approx(0.0) and not v1.is_active
    assert "training.score_project" not in [name for name, _ in sent]  # nothing is scored with it
    detail = owner_client.get(f"/api/v1/models/{v1.id}/").json()
    assert [w["code"] for w in detail["warnings"]] == ["inverted"]
    assert "does not activate such a version by itself" in detail["warnings"][0]["detail"]
    assert owner_client.get(f"/api/v1/projects/{tproject.id}/").json()["active_model"] is None
    # A person who knows better may still activate it by hand.
    assert owner_client.post(f"/api/v1/models/{v1.id}/activate/").status_code == 200
    assert ModelVersion.objects.get(pk=v1.pk).is_active


def test_a_version_that_gives_every_image_one_score_is_not_activated_and_says_why(
    tproject, fake_ml, sent, owner_client
):
    fake_ml.checkpoint_bytes = b"constant"  # as when every image reached the model blank

    run_training_job(new_job(tproject).id, worker="w")

    v1 = ModelVersion.objects.get(project=tproject, version=1)
    assert v1.metrics["image_auroc"] == pytest.approx(0.5) and not v1.is_active
    assert v1.metrics["score_range"] == [0.25, 0.25]
    detail = owner_client.get(f"/api/v1/models/{v1.id}/").json()
    assert [w["code"] for w in detail["warnings"]] == ["chance"]
    assert "the same score (0.2500)" in detail["warnings"][0]["detail"]
    assert detail["metrics"]["score_range"] == [0.25, 0.25]


def test_the_version_keeps_the_depth_fit_read_16_bit_images_with(tproject, fake_ml, sent, owner_client):
    fake_ml.sample_depth = 12

    run_training_job(new_job(tproject).id, worker="w")

    v1 = ModelVersion.objects.get(project=tproject, version=1)
    assert v1.sample_depth == 12
    assert owner_client.get(f"/api/v1/models/{v1.id}/").json()["sample_depth"] == 12


def test_the_active_version_is_compared_on_todays_test_split(tproject, fake_ml, sent):
    run_training_job(new_job(tproject).id, worker="w")
    ModelVersion.objects.filter(project=tproject).update(metrics={"image_auroc": 1.0})
    # The split changed since v1 trained: a bright good image now makes v1 imperfect on it.
    make_image(tproject, split=Split.TEST, value=210)
    fake_ml.metrics = {"image_auroc": 0.9, "threshold": 0.5}

    run_training_job(new_job(tproject).id, worker="w")

    v2 = ModelVersion.objects.get(project=tproject, version=2)
    assert v2.metrics["compared_with"]["image_auroc"] < 0.9
    assert v2.is_active


def test_the_active_version_is_not_compared_on_images_it_trained_on(tproject, fake_ml, sent):
    """An image moved from train to test after v1 trained is one v1 knows: scoring v1 on it would favour the
    version in place, so both versions are compared on the test images v1 never trained on."""
    known = make_image(tproject, value=210)  # a bright good part, in v1's train split
    run_training_job(new_job(tproject).id, worker="w")
    Image.objects.filter(id=known.id).update(split=Split.TEST)  # an operator moves it to the test split

    run_training_job(new_job(tproject).id, worker="w")

    v2 = ModelVersion.objects.get(project=tproject, version=2)
    # v2's own metrics use its whole test split, the bright good part included (it outscores a defect) ...
    assert v2.metrics["image_auroc"] == pytest.approx(5 / 6)
    # ... the comparison leaves out what v1 trained on, for both versions alike
    compared = v2.metrics["compared_with"]
    assert (compared["images"], compared["excluded"]) == (4, 1)
    assert compared["image_auroc"] == pytest.approx(1.0) and compared["new_image_auroc"] == pytest.approx(1.0)
    assert v2.is_active


def test_version_numbers_count_per_project(tproject, owner, fake_ml, sent):
    from .factories import ProjectFactory

    other = ProjectFactory(owner=owner)
    make_image(other, value=30)
    run_training_job(new_job(tproject).id, worker="w")
    run_training_job(new_job(other).id, worker="w")
    run_training_job(new_job(tproject).id, worker="w")
    assert sorted(ModelVersion.objects.filter(project=tproject).values_list("version", flat=True)) == [1, 2]
    assert list(ModelVersion.objects.filter(project=other).values_list("version", flat=True)) == [1]


def test_training_on_cuda_always_uses_mixed_precision_and_cpu_keeps_the_presets_choice():
    from webapp.training import engine

    common = {"mode": "unsupervised", "backbone": "efficientnet_lite0", "image_size": 64, "epochs": None}
    assert engine.train_config(preset="paper", device="cuda", **common).autocast is True
    assert engine.train_config(preset="paper", device="cpu", **common).autocast is False
    assert engine.train_config(preset="fast", device="cpu", **common).epochs >= 1


def test_auto_device_follows_torch(settings, monkeypatch):
    import torch

    from webapp.training import engine

    settings.ML_DEVICE = "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert engine.resolve_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert engine.resolve_device() == "cpu"
    settings.ML_DEVICE = "cuda:1"
    assert engine.resolve_device() == "cuda:1"


def test_the_heartbeat_keeps_beating_while_the_version_is_evaluated_and_stored(
    tproject, fake_ml, sent, monkeypatch, settings
):
    # given a worker whose final evaluation is slow: the reaper must not take it for a lost worker
    import threading

    settings.TRAINING_HEARTBEAT_SECONDS = 30.0

    store = runner._store_version
    beating = []

    def observed(job, *args, **kwargs):
        beating.append(any(t.name == f"heartbeat-job-{job.id}" and t.is_alive() for t in threading.enumerate()))
        return store(job, *args, **kwargs)

    monkeypatch.setattr(runner, "_store_version", observed)
    job = new_job(tproject)

    # when the job runs
    assert run_training_job(job.id, worker="w1") == JobStatus.SUCCEEDED

    # then its heartbeat thread was alive during the final step, and stopped afterwards
    assert beating == [True]
    assert not any(t.name == f"heartbeat-job-{job.id}" for t in threading.enumerate())


# --- a run that ends without a version gives its counted labels back ----------------------------------


def test_a_failed_or_cancelled_run_gives_the_labels_it_counted_back(tproject, fake_ml, sent):
    # (automatic retraining off: the labels during the failed run would otherwise start the next run at once)
    Project.objects.filter(id=tproject.id).update(labels_since_training=7, auto_retrain=False)
    bump = Project.objects.filter(id=tproject.id)
    fake_ml.during = lambda: bump.update(labels_since_training=F("labels_since_training") + 2)
    fake_ml.error = RuntimeError("boom")
    job = new_job(tproject)
    assert run_training_job(job.id, worker="w") == JobStatus.FAILED
    job.refresh_from_db()

    assert job.labels_counted == 7
    assert Project.objects.get(id=tproject.id).labels_since_training == 9  # 7 given back + 2 during the run

    fake_ml.error = None
    job = new_job(tproject, trigger="manual")
    fake_ml.during = lambda: services.cancel_training_job(job=TrainingJob.objects.get(id=job.id))
    assert run_training_job(job.id, worker="w") == JobStatus.CANCELLED
    assert TrainingJob.objects.get(id=job.id).error == ""  # a cancel is not an error
    assert Project.objects.get(id=tproject.id).labels_since_training == 9


def test_a_reaped_job_whose_slow_worker_fails_later_gives_nothing_back_twice(tproject, fake_ml, sent):
    Project.objects.filter(id=tproject.id).update(labels_since_training=4)
    job = new_job(tproject)

    def reaped_meanwhile():
        TrainingJob.objects.filter(id=job.id).update(status=JobStatus.FAILED, error="reaped")
        Project.objects.filter(id=tproject.id).update(labels_since_training=F("labels_since_training") + 4)

    fake_ml.during = reaped_meanwhile
    fake_ml.error = RuntimeError("late failure")
    run_training_job(job.id, worker="w")

    assert TrainingJob.objects.get(id=job.id).error == "reaped"  # the slow worker wrote nothing
    assert Project.objects.get(id=tproject.id).labels_since_training == 4


def test_the_job_shows_the_epochs_fit_will_run_from_the_start_when_the_preset_budgets_them(
    tproject, fake_ml, sent, monkeypatch
):
    """The fast preset runs fewer epochs on a large unsupervised set (a draw budget): the progress bar's "epoch
    1 of N" shows that N before the first epoch, not the preset's count."""
    import dataclasses

    from webapp.training import engine

    real = engine.train_config
    # 10 good training images and a budget of 30 draws: ceil(30 / 10) = 3 epochs instead of the preset's 8
    monkeypatch.setattr(engine, "train_config", lambda **kw: dataclasses.replace(real(**kw), draw_budget=30))

    def shown():
        return TrainingJob.objects.values_list("epochs", flat=True).get(project=tproject)

    at_start, during = [], []

    def fit(*args, **kwargs):
        at_start.append(shown())
        return fake_ml(*args, **kwargs)

    monkeypatch.setattr(engine, "fit", fit)
    fake_ml.during = lambda: during.append(shown())
    job = new_job(tproject)
    assert job.epochs is None  # the preset's default was asked for

    run_training_job(job.id, worker="w")

    assert fake_ml.calls[0]["cfg"].epochs == 8 and fake_ml.calls[0]["cfg"].draw_budget == 30
    assert at_start == [3]
    # fit's own progress reports (2 epochs in the fake) then keep it in step with what fit says
    assert during == [2]


def test_the_reporter_says_how_long_the_current_phase_still_needs_at_its_pace(tproject, monkeypatch):
    from types import SimpleNamespace as Progress

    job = new_job(tproject)
    TrainingJob.objects.filter(id=job.id).update(status=JobStatus.RUNNING)
    clock = [1000.0]
    monkeypatch.setattr(reporter_module.time, "monotonic", lambda: clock[0])
    reporter = reporter_module.JobReporter(job.id, progress_every=0, heartbeat_every=0)

    def at(seconds, **p):
        clock[0] = 1000.0 + seconds
        reporter.on_progress(Progress(**{"loss": 0.5, "epochs": 4, "steps": 10, "phase": "train", **p}))
        return TrainingJob.objects.get(id=job.id)

    assert at(0, epoch=1, step=1, fraction=0.2).eta_seconds is None  # the phase just began: no pace yet
    # 10 more of 40 steps in 20 s: the other 29 need 58 s
    later = at(20, epoch=2, step=1, fraction=0.4)
    assert later.eta_seconds == pytest.approx(58.0) and later.progress == pytest.approx(0.4 * 0.9)
    # the run's own scoring of the test split after fit is a phase of its own, with its own pace
    clock[0] = 1100.0
    reporter.store_progress(10, 100)
    stored = TrainingJob.objects.get(id=job.id)
    assert stored.phase == "store" and stored.eta_seconds is None and 0.9 < stored.progress < 1.0
    clock[0] = 1110.0
    reporter.store_progress(30, 100)
    assert TrainingJob.objects.get(id=job.id).eta_seconds == pytest.approx(35.0)
