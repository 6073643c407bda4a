"""Automatic retraining: the first unsupervised model, then a run every `retrain_after_labels` labels."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import pytest

from webapp.datasets.models import Label, Project, Split
from webapp.datasets.signals import labels_changed
from webapp.training.models import JobStatus, TrainingJob, Trigger

from .factories import ModelVersionFactory, ProjectFactory, TrainingJobFactory
from .test_training_support import make_image, owner, owner_client, sent  # noqa: F401

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
