"""The periodic dispatcher and reaper, the beat schedule, the heartbeat thread, one training per worker."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from webapp.training import services
from webapp.training.models import InferenceBatch, InferenceItem, JobStatus, TrainingJob
from webapp.training.reporter import JobReporter

from .factories import ModelVersionFactory, ProjectFactory, TrainingJobFactory
from .test_training_support import owner, sent  # noqa: F401

pytestmark = pytest.mark.django_db


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def test_a_running_job_with_a_stale_heartbeat_is_failed_with_the_reason(owner, settings, sent):
    settings.TRAINING_STALE_AFTER_SECONDS = 60
    project = ProjectFactory(owner=owner)
    lost = TrainingJobFactory(project=project, status=JobStatus.RUNNING, heartbeat_at=ago(90), worker="celery@gpu1")
    alive = TrainingJobFactory(project=ProjectFactory(owner=owner), status=JobStatus.RUNNING, heartbeat_at=ago(5))

    result = services.dispatch_and_reap()

    assert result["failed"] == [lost.id]
    lost.refresh_from_db()
    assert lost.status == JobStatus.FAILED and lost.finished_at
    # an absolute time: the sentence stays true however long after the reap it is read
    since = timezone.localtime(lost.heartbeat_at).strftime("%Y-%m-%d %H:%M:%S")
    assert lost.error.startswith(f"The worker running this training stopped answering at {since} ")
    assert lost.error_detail.startswith("worker lost: no heartbeat since ") and "celery@gpu1" in lost.error_detail
    assert TrainingJob.objects.get(id=alive.id).status == JobStatus.RUNNING


def test_after_the_reaper_a_new_job_can_be_created(owner, settings, sent):
    from .test_training_support import make_image

    settings.TRAINING_STALE_AFTER_SECONDS = 60
    project = ProjectFactory(owner=owner)
    make_image(project)
    running = TrainingJobFactory(project=project, status=JobStatus.RUNNING, heartbeat_at=ago(5))
    with pytest.raises(Exception, match="already running"):
        services.create_training_job(project=project)

    # its worker stops answering: a new job fails the lost one itself, even when no reaper has run
    settings.TRAINING_STALE_AFTER_SECONDS = 1

    assert services.create_training_job(project=project).status == JobStatus.QUEUED
    assert TrainingJob.objects.get(id=running.id).status == JobStatus.FAILED


def test_the_stale_timeout_is_a_setting(owner, settings, sent):
    job = TrainingJobFactory(project=ProjectFactory(owner=owner), status=JobStatus.RUNNING, heartbeat_at=ago(90))
    settings.TRAINING_STALE_AFTER_SECONDS = 120
    assert services.fail_stale_jobs() == []
    settings.TRAINING_STALE_AFTER_SECONDS = 30
    assert services.fail_stale_jobs() == [job.id]


def test_queued_jobs_never_sent_or_sent_long_ago_are_sent_again(owner, settings, sent):
    settings.TRAINING_REDISPATCH_AFTER_SECONDS = 600
    never = TrainingJobFactory(project=ProjectFactory(owner=owner), dispatched_at=None)
    lost = TrainingJobFactory(project=ProjectFactory(owner=owner), dispatched_at=ago(900))
    TrainingJobFactory(project=ProjectFactory(owner=owner), dispatched_at=ago(10))  # in the broker, waiting
    TrainingJobFactory(project=ProjectFactory(owner=owner), status=JobStatus.SUCCEEDED, dispatched_at=None)

    assert sorted(services.dispatch_and_reap()["sent"]) == sorted([never.id, lost.id])
    assert sorted(args[0] for _, args in sent) == sorted([never.id, lost.id])
    never.refresh_from_db()
    assert never.dispatched_at is not None and never.dispatch_count == 1


def test_a_queued_job_is_sent_again_after_a_minute_while_a_train_worker_sits_idle(owner, settings, sent):
    """A free worker takes a job within seconds: a job queued a minute with a train worker idle lost its
    message (a broker restart, a worker killed as it took it), and waits no ten minutes for a re-send."""
    from webapp.core import heartbeat

    settings.TRAINING_REDISPATCH_AFTER_SECONDS = 600
    settings.TRAINING_IDLE_REDISPATCH_SECONDS = 60
    lost = TrainingJobFactory(project=ProjectFactory(owner=owner), dispatched_at=ago(90))
    TrainingJobFactory(project=ProjectFactory(owner=owner), dispatched_at=ago(10))  # just sent: no re-send yet

    # no train worker beats (only a scoring worker): the job may simply wait for one, so nothing is sent
    heartbeat.beat("infer@a", queues=["infer"])
    assert services.dispatch_and_reap()["sent"] == []

    # one train worker beats, and it is busy with another project's training: the job waits its turn
    heartbeat.beat("train@a", queues=["train"])
    busy = TrainingJobFactory(project=ProjectFactory(owner=owner), status=JobStatus.RUNNING, heartbeat_at=ago(1))
    assert services.dispatch_and_reap()["sent"] == []

    # that training ends and the worker sits idle: the lost job is sent again, and only once a minute
    TrainingJob.objects.filter(id=busy.id).update(status=JobStatus.SUCCEEDED)
    assert services.dispatch_and_reap()["sent"] == [lost.id]
    assert services.dispatch_and_reap()["sent"] == []
    assert [args for name, args in sent if name == "training.run_job"] == [(lost.id,)]


def test_while_the_broker_is_still_down_nothing_changes(owner, sent):
    job = TrainingJobFactory(project=ProjectFactory(owner=owner), dispatched_at=None)
    sent.broker_up = False
    assert services.dispatch_and_reap()["sent"] == []
    assert TrainingJob.objects.get(id=job.id).dispatched_at is None


def test_inference_batches_that_were_never_sent_are_sent_per_unfinished_chunk(owner, sent):
    version = ModelVersionFactory(project=ProjectFactory(owner=owner))
    batch = InferenceBatch.objects.create(project=version.project, model_version=version, total=3)
    InferenceItem.objects.create(batch=batch, filename="a.png", file="x", chunk=0, processed_at=timezone.now())
    InferenceItem.objects.create(batch=batch, filename="b.png", file="x", chunk=1)
    InferenceItem.objects.create(batch=batch, filename="c.png", file="x", chunk=2)

    assert services.dispatch_and_reap()["batches"] == [batch.id]
    assert sent == [("training.run_inference_chunk", (batch.id, 1)), ("training.run_inference_chunk", (batch.id, 2))]


def test_celery_beat_runs_the_dispatcher_on_the_configured_interval(settings):
    from webapp.config.celery import app

    entry = app.conf.beat_schedule["training.dispatch_and_reap"]
    assert entry["task"] == "training.dispatch_and_reap"
    assert 10 <= entry["schedule"] <= 30


def test_tasks_have_names_and_queues():
    from webapp.training import tasks

    assert (tasks.run_training_job_task.name, tasks.run_training_job_task.queue) == ("training.run_job", "train")
    assert (tasks.score_project_task.name, tasks.score_project_task.queue) == ("training.score_project", "infer")
    assert tasks.run_inference_chunk_task.name == "training.run_inference_chunk"
    assert tasks.run_inference_chunk_task.queue == "infer"


def test_a_worker_holds_one_training_slot_at_a_time(settings, tmp_path):
    from webapp.training.tasks import _worker_training_slot

    with _worker_training_slot("celery@a") as first:
        assert first is True
        results = []
        thread = threading.Thread(target=lambda: results.append(_slot_free("celery@a")))
        thread.start()
        thread.join()
        assert results == [False]
        assert _slot_free("celery@b") is True  # another worker trains in parallel
    assert _slot_free("celery@a") is True


def _slot_free(hostname: str) -> bool:
    from webapp.training.tasks import _worker_training_slot

    with _worker_training_slot(hostname) as free:
        return free


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_beats_while_fit_reports_nothing_and_sees_a_cancel(owner):
    job = TrainingJobFactory(project=ProjectFactory(owner=owner), status=JobStatus.RUNNING, heartbeat_at=ago(300))
    reporter = JobReporter(job.id, progress_every=3600, heartbeat_every=0.05)
    reporter.start()
    try:
        deadline = time.monotonic() + 10
        while TrainingJob.objects.get(id=job.id).heartbeat_at < ago(60) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert TrainingJob.objects.get(id=job.id).heartbeat_at > ago(60)

        TrainingJob.objects.filter(id=job.id).update(cancel_requested=True)
        while not reporter._stop_requested.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reporter.should_stop() is True
    finally:
        reporter.close()


def test_images_uploaded_after_activation_get_scored_by_the_dispatcher(owner, sent):
    from webapp.training.models import ModelVersion, Prediction

    from .factories import PredictionFactory
    from .test_training_support import make_image

    project = ProjectFactory(owner=owner)
    version = ModelVersionFactory(project=project, is_active=True, scoring_dispatched_at=ago(300))
    scored = make_image(project)
    PredictionFactory(image=scored, model_version=version)
    Prediction.objects.filter(image=scored).update(created_at=ago(300))
    assert services.dispatch_and_reap()["scoring"] == []  # everything scored

    make_image(project)  # a new upload
    assert services.dispatch_and_reap()["scoring"] == [version.id]
    assert ("training.score_project", (version.id,)) in sent
    # Sent just now: the next beat does not send it again while it may still be running.
    assert services.dispatch_and_reap()["scoring"] == []
    ModelVersion.objects.filter(id=version.id).update(scoring_dispatched_at=ago(300))
    assert services.dispatch_and_reap()["scoring"] == [version.id]


def test_a_scoring_run_that_makes_progress_is_not_sent_twice(owner, sent):
    from .factories import PredictionFactory
    from .test_training_support import make_image

    project = ProjectFactory(owner=owner)
    version = ModelVersionFactory(project=project, is_active=True, scoring_dispatched_at=ago(300))
    PredictionFactory(image=make_image(project), model_version=version)  # created just now
    make_image(project)
    assert services.dispatch_and_reap()["scoring"] == []


def test_a_worker_whose_job_was_reaped_stops_at_its_next_write(owner):
    job = TrainingJobFactory(project=ProjectFactory(owner=owner), status=JobStatus.RUNNING, heartbeat_at=ago(1))
    reporter = JobReporter(job.id, progress_every=0, heartbeat_every=0)
    assert reporter.should_stop() is False

    TrainingJob.objects.filter(id=job.id).update(status=JobStatus.FAILED, error="worker lost")

    assert reporter.should_stop() is True
    assert TrainingJob.objects.get(id=job.id).status == JobStatus.FAILED  # nothing overwritten
