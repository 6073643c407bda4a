"""Automatic retraining: the first unsupervised model, then a run every `retrain_after_labels` labels."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import pytest

from webapp.datasets.models import Label, Project, Split
from webapp.datasets.signals import labels_changed
from webapp.training.models import JobStatus, TrainingJob, Trigger

from .factories import ModelVersionFactory, ProjectFactory, TrainingJobFactory
from .test_training_support import fake_ml, make_image, owner, owner_client, sent  # noqa: F401

pytestmark = pytest.mark.django_db


def labels_arrive(project, count: int = 1) -> None:
    """What the datasets app does after a label/mask commit: bump the counter, send the signal."""
    Project.objects.filter(id=project.id).update(labels_since_training=project.labels_since_training + count)
    project.refresh_from_db()
    labels_changed.send(sender=Project, project_id=project.id)


def jobs(project):
    return list(TrainingJob.objects.filter(project=project))


@pytest.fixture
def fresh(owner):
    return ProjectFactory(owner=owner, min_good_for_first_model=10, retrain_after_labels=5)


def test_the_first_unsupervised_model_starts_once_enough_good_images_are_labelled(fresh, sent):
    for _ in range(9):
        make_image(fresh, value=30)
    labels_arrive(fresh, 9)
    assert jobs(fresh) == []

    make_image(fresh, value=30)
    labels_arrive(fresh)

    (job,) = jobs(fresh)
    assert (job.trigger, job.mode, job.resolved_mode, job.status) == (
        Trigger.AUTO,
        "unsupervised",
        "unsupervised",
        "queued",
    )
    assert sent == [("training.run_job", (job.id,))]


def test_good_images_in_the_test_split_do_not_count_for_the_first_model(fresh, sent):
    for _ in range(10):
        make_image(fresh, split=Split.TEST, value=30)
    labels_arrive(fresh, 10)
    assert jobs(fresh) == []


def test_with_a_model_it_retrains_every_n_labels_supervised_when_defects_exist(fresh, sent):
    for _ in range(10):
        make_image(fresh, value=30)
    make_image(fresh, label=Label.DEFECTIVE, value=200)
    ModelVersionFactory(project=fresh, is_active=True)

    labels_arrive(fresh, 4)
    assert jobs(fresh) == []
    labels_arrive(fresh, 1)

    (job,) = jobs(fresh)
    assert job.trigger == Trigger.AUTO and job.mode == "auto" and job.resolved_mode == "supervised"


def test_never_two_at_once(fresh, sent):
    for _ in range(10):
        make_image(fresh, value=30)
    running = TrainingJobFactory(project=fresh, status=JobStatus.RUNNING)
    labels_arrive(fresh, 20)
    assert jobs(fresh) == [running]


def test_nothing_happens_when_auto_retrain_is_off(fresh, sent):
    Project.objects.filter(id=fresh.id).update(auto_retrain=False)
    for _ in range(12):
        make_image(fresh, value=30)
    labels_arrive(fresh, 12)
    assert jobs(fresh) == []


def test_turning_auto_retrain_on_asks_the_policy_at_once(fresh, owner_client, sent):
    # given enough good images labelled while automatic retraining was off
    Project.objects.filter(id=fresh.id).update(auto_retrain=False)
    for _ in range(12):
        make_image(fresh, value=30)
    labels_arrive(fresh, 12)
    assert jobs(fresh) == []

    # when the owner turns it on
    response = owner_client.patch(f"/api/v1/projects/{fresh.id}/", {"settings": {"auto_retrain": True}}, format="json")

    # then the first model starts without waiting for another label
    assert response.status_code == 200
    (job,) = jobs(fresh)
    assert job.trigger == Trigger.AUTO and ("training.run_job", (job.id,)) in sent


def test_a_label_through_the_api_feeds_the_policy(fresh, owner_client, sent):
    images = [make_image(fresh, label=Label.UNLABELED, value=30) for _ in range(10)]
    for image in images:
        response = owner_client.patch(f"/api/v1/images/{image.id}/", {"label": "good", "split": "train"}, format="json")
        assert response.status_code == 200
    (job,) = jobs(fresh)
    assert job.trigger == Trigger.AUTO


def test_training_status_says_how_many_labels_until_the_next_run(fresh, owner_client, sent):
    for _ in range(7):
        make_image(fresh, value=30)
    status = owner_client.get(f"/api/v1/projects/{fresh.id}/training-status/").json()
    assert status["next_run"] == "first_model" and status["labels_until_next_run"] == 3
    assert status["auto_retrain"] is True and status["active_job"] is None and status["active_model"] is None

    version = ModelVersionFactory(project=fresh, is_active=True)
    Project.objects.filter(id=fresh.id).update(labels_since_training=2)
    job = TrainingJobFactory(project=fresh, status=JobStatus.RUNNING)

    status = owner_client.get(f"/api/v1/projects/{fresh.id}/training-status/").json()
    assert status["next_run"] == "retrain" and status["labels_until_next_run"] == 3
    assert status["labels_since_training"] == 2 and status["next_mode"] == "unsupervised"
    assert status["active_job"]["id"] == job.id and status["active_model"]["id"] == version.id


# --- the retrain policy: failed/cancelled/lost runs, unchanged snapshots, the status for every state -------


def add_labels(project, count: int = 1, *, new_images: bool = True) -> None:
    """`count` images labelled good in the train split (or, without new images, only the counter moves)."""
    from django.db.models import F

    for _ in range(count if new_images else 0):
        make_image(project, value=30)
    Project.objects.filter(id=project.id).update(labels_since_training=F("labels_since_training") + count)
    labels_changed.send(sender=Project, project_id=project.id)


def status_of(project) -> dict:
    from webapp.training import services

    project.refresh_from_db()
    return services.retrain_status(project=project)


def queued(project):
    return list(TrainingJob.objects.filter(project=project, status=JobStatus.QUEUED))


def test_an_automatic_run_that_fails_gives_its_labels_back_and_the_next_label_starts_the_next(fresh, fake_ml, sent):
    # given the first automatic run, started by the tenth good image
    from webapp.training.runner import run_training_job

    add_labels(fresh, 10)
    (job,) = queued(fresh)
    fake_ml.error = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    # when it fails
    assert run_training_job(job.id, worker="w") == JobStatus.FAILED

    # then its 10 labels count again, nothing restarts by itself, and the status says what happens next
    status = status_of(fresh)
    assert fresh.labels_since_training == 10 and queued(fresh) == []
    assert status["state"] == "last_failed"
    assert status["reason"] == (
        "The last automatic training failed; the next one starts after the next label — or press Train."
    )
    assert status["last_job"] == {"id": job.id, "status": "failed", "trigger": "auto"}
    # the reaper's pass and a label-less signal do not retry the same attempt (no loop of a failing run)
    from webapp.training import services

    services.dispatch_and_reap()
    labels_changed.send(sender=Project, project_id=fresh.id)
    assert queued(fresh) == []

    # when the next label arrives, the next automatic run really starts
    add_labels(fresh, 1)
    (retry,) = queued(fresh)
    assert retry.trigger == Trigger.AUTO and ("training.run_job", (retry.id,)) in sent


def test_labels_that_arrive_during_a_failing_run_start_the_next_run_when_it_fails(fresh, fake_ml, sent):
    from webapp.training.runner import run_training_job

    add_labels(fresh, 10)
    (job,) = queued(fresh)
    fake_ml.error = RuntimeError("boom")
    fake_ml.during = lambda: add_labels(fresh, 2)  # the signal finds the job running: nothing starts then

    run_training_job(job.id, worker="w")

    (follow_up,) = queued(fresh)
    assert follow_up.trigger == Trigger.AUTO
    assert Project.objects.get(id=fresh.id).labels_since_training == 12


def test_a_cancelled_run_gives_its_labels_back_and_waits_for_the_next_label(fresh, fake_ml, sent):
    from webapp.training import services
    from webapp.training.runner import run_training_job

    add_labels(fresh, 10)
    (job,) = queued(fresh)
    fake_ml.during = lambda: services.cancel_training_job(job=TrainingJob.objects.get(id=job.id))

    assert run_training_job(job.id, worker="w") == JobStatus.CANCELLED

    status = status_of(fresh)
    assert fresh.labels_since_training == 10 and queued(fresh) == []
    assert status["state"] == "last_cancelled"
    assert status["reason"].startswith("The last automatic training was cancelled; the next one starts after")
    add_labels(fresh, 1)
    assert len(queued(fresh)) == 1


def test_a_run_reaped_as_lost_gives_its_labels_back_once(fresh, sent, settings):
    from datetime import timedelta

    from django.utils import timezone

    from webapp.training import services

    settings.TRAINING_STALE_AFTER_SECONDS = 60
    for _ in range(10):
        make_image(fresh, value=30)
    old = timezone.now() - timedelta(seconds=120)
    lost = TrainingJobFactory(
        project=fresh, status=JobStatus.RUNNING, trigger=Trigger.AUTO, labels_counted=10, heartbeat_at=old
    )

    assert services.fail_stale_jobs() == [lost.id]
    assert services.fail_stale_jobs() == []  # a second pass finds nothing: no double give-back

    assert status_of(fresh)["state"] == "last_failed" and fresh.labels_since_training == 10
    assert queued(fresh) == []


def test_a_retrain_whose_snapshot_equals_the_previous_versions_is_not_started(fresh, fake_ml, sent, owner_client):
    # given version 1, trained on the current labels (the snapshot entries are kept with the version)
    from webapp.training.runner import run_training_job

    add_labels(fresh, 10)
    run_training_job(queued(fresh)[0].id, worker="w")
    assert fresh.model_versions.count() == 1

    # when the counter reaches the threshold without any real change (a label set and set back)
    add_labels(fresh, 5, new_images=False)

    # then no run starts, and the policy says why
    assert queued(fresh) == []
    status = status_of(fresh)
    assert status["state"] == "unchanged" and status["reason"].startswith("Nothing changed since version 1")
    assert status["pending"]["changed"] == {"added": 0, "removed": 0, "relabelled": 0, "masks": 0, "moved": 0}
    # the Train button still trains (another preset or more epochs may be the point)
    response = owner_client.post(f"/api/v1/projects/{fresh.id}/training-jobs/", {"epochs": 3}, format="json")
    assert response.status_code == 201
    TrainingJob.objects.filter(id=response.json()["id"]).update(status=JobStatus.CANCELLED)

    # a real change starts it at the next label
    add_labels(fresh, 1)
    (job,) = queued(fresh)
    assert job.trigger == Trigger.AUTO


def test_the_status_names_every_state_in_a_sentence(fresh, owner_client, sent):
    def status():
        body = owner_client.get(f"/api/v1/projects/{fresh.id}/training-status/").json()
        return body["state"], body["reason"]

    # the split policy first sends 10 good labels to test, then 1 in 5: 10 + ceil(10 / 0.8) labels
    assert status() == (
        "no_good_images",
        "10 more good images in the train split until the first model trains by itself: "
        "about 23 more good labels, as the split policy keeps some for testing.",
    )
    for _ in range(7):
        make_image(fresh, value=30)
    assert status() == (
        "waiting_for_good",
        "3 more good images in the train split until the first model trains by itself: "
        "about 14 more good labels, as the split policy keeps some for testing.",
    )

    version = ModelVersionFactory(project=fresh, is_active=True)
    Project.objects.filter(id=fresh.id).update(labels_since_training=4)
    assert status() == ("waiting_for_labels", "1 more label until the next automatic training (4 since the last run).")

    job = TrainingJobFactory(project=fresh, status=JobStatus.RUNNING, trigger=Trigger.AUTO)
    assert status() == (
        "running",
        f"Training job {job.id} (automatic retraining) is running; nothing else starts until it ends.",
    )
    TrainingJob.objects.filter(id=job.id).update(status=JobStatus.SUCCEEDED)

    Project.objects.filter(id=fresh.id).update(auto_retrain=False)
    assert status() == ("off", "Automatic retraining is off.")

    # enough labels, a version trained before snapshots existed (nothing to compare): ready
    Project.objects.filter(id=fresh.id).update(auto_retrain=True, labels_since_training=5)
    state, reason = status()
    assert state == "ready" and "next label starts an automatic training" in reason
    assert version.snapshot is None


def test_the_status_shows_the_pending_snapshot_against_the_newest_version(fresh, fake_ml, sent, owner_client):
    from webapp.training.runner import run_training_job

    add_labels(fresh, 10)
    run_training_job(queued(fresh)[0].id, worker="w")
    image = make_image(fresh, label=Label.DEFECTIVE, value=200, mask=True)
    first = fresh.images.filter(label=Label.GOOD).order_by("id").first()
    first.label = Label.DEFECTIVE
    first.save(update_fields=["label"])

    pending = owner_client.get(f"/api/v1/projects/{fresh.id}/training-status/").json()["pending"]

    assert pending["previous_version"] == 1 and pending["images"] == 11
    assert pending["train"] == {"images": 11, "good": 9, "defective": 2, "masks": 1}
    assert pending["changed"] == {"added": 1, "removed": 0, "relabelled": 1, "masks": 1, "moved": 0}
    assert image.has_mask


def test_good_labels_that_went_to_the_test_split_are_explained_not_called_missing(fresh, owner_client, sent):
    """An operator labels 10 images good in a new project: all 10 go to test (to measure the first model)."""
    images = [make_image(fresh, label=Label.UNLABELED, value=30 + i) for i in range(12)]
    response = owner_client.post(
        f"/api/v1/projects/{fresh.id}/images/bulk/",
        {"ids": [i.id for i in images[:10]], "action": "label", "value": "good"},
        format="json",
    )
    assert response.status_code == 200, response.json()

    body = owner_client.get(f"/api/v1/projects/{fresh.id}/training-status/").json()

    assert body["state"] == "no_good_images" and body["good_train_images"] == 0
    assert "The 10 good images labelled so far went to the test split, to measure it." in body["reason"]
    assert "No good images yet" not in body["reason"]
    assert body["labels_until_next_run"] == 10 and body["good_labels_until_first_model"] == 13
