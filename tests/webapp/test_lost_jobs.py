"""A training whose worker died is failed when somebody looks at it, also while the scheduler (celery beat, whose
reaper normally does it) is down: the training page's polls, the job, Cancel and Train all see it failed."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

from datetime import timedelta

import pytest
from django.utils import timezone

from webapp.training.models import JobStatus, TrainingJob

from .factories import TrainingJobFactory
from .test_training_support import owner, owner_client, sent, tproject  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def lost(tproject, settings):
    """A running job whose worker's last heartbeat is 90 s old; no reaper has run."""
    settings.TRAINING_STALE_AFTER_SECONDS = 60
    return TrainingJobFactory(
        project=tproject, status=JobStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(seconds=90), worker="w@x"
    )


def test_the_polled_job_list_and_the_job_show_it_failed_with_the_reason(lost, owner_client, sent):
    jobs = owner_client.get(f"/api/v1/projects/{lost.project_id}/training-jobs/").json()["results"]

    assert [(j["id"], j["status"]) for j in jobs] == [(lost.id, "failed")]
    assert "stopped answering" in jobs[0]["error"] and "Press Train to try again" in jobs[0]["error"]
    assert owner_client.get(f"/api/v1/training-jobs/{lost.id}/").json()["status"] == "failed"


def test_the_job_itself_is_failed_on_its_first_read(lost, owner_client, sent):
    body = owner_client.get(f"/api/v1/training-jobs/{lost.id}/").json()

    assert body["status"] == "failed" and body["finished_at"]


def test_training_status_no_longer_reports_it_active(lost, owner_client, sent):
    body = owner_client.get(f"/api/v1/projects/{lost.project_id}/training-status/").json()

    assert body["active_job"] is None
    assert TrainingJob.objects.get(id=lost.id).status == JobStatus.FAILED


def test_cancel_of_a_job_whose_worker_is_gone_ends_it_at_once(lost, owner_client, sent):
    response = owner_client.post(f"/api/v1/training-jobs/{lost.id}/cancel/")

    assert response.status_code == 200  # nothing is left to wait for (a live worker answers 202)
    assert response.json()["status"] == "failed" and "stopped answering" in response.json()["error"]


def test_train_is_not_blocked_by_it(lost, owner_client, sent):
    response = owner_client.post(f"/api/v1/projects/{lost.project_id}/training-jobs/", {}, format="json")

    assert response.status_code == 201, response.json()
    assert TrainingJob.objects.get(id=lost.id).status == JobStatus.FAILED
    assert ("training.run_job", (response.json()["id"],)) in sent


def test_a_job_with_a_fresh_heartbeat_is_left_running(tproject, owner_client, sent, settings):
    settings.TRAINING_STALE_AFTER_SECONDS = 60
    alive = TrainingJobFactory(project=tproject, status=JobStatus.RUNNING, heartbeat_at=timezone.now())

    assert owner_client.get(f"/api/v1/training-jobs/{alive.id}/").json()["status"] == "running"
    assert owner_client.post(f"/api/v1/training-jobs/{alive.id}/cancel/").status_code == 202
    assert owner_client.post(f"/api/v1/projects/{tproject.id}/training-jobs/", {}, format="json").status_code == 409
