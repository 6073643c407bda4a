"""Training jobs through the API: create (201/409/503/400), list, detail, cancel, permissions."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import pytest
from rest_framework.test import APIClient

from webapp.datasets.models import Label, Role
from webapp.training import services
from webapp.training.models import JobStatus, TrainingJob

from .factories import MembershipFactory, ProjectFactory, TrainingJobFactory, UserFactory
from .test_training_support import fake_ml, make_image, owner, owner_client, sent, tproject  # noqa: F401

pytestmark = pytest.mark.django_db


def client_of(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def url(project) -> str:
    return f"/api/v1/projects/{project.id}/training-jobs/"


def test_it_creates_a_queued_job_and_sends_it_to_the_train_queue(tproject, owner_client, sent):
    response = owner_client.post(url(tproject), {"mode": "auto", "preset": "fast", "epochs": 3}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "queued" and body["progress"] == 0 and body["epochs"] == 3
    assert body["mode"] == "auto" and body["resolved_mode"] == "unsupervised"
    assert body["model"] is None and body["history"] == [] and body["error"] == ""
    for key in ("id", "project", "preset", "epoch", "created_at", "started_at", "finished_at"):
        assert key in body
    assert sent == [("training.run_job", (body["id"],))]
    assert TrainingJob.objects.get(id=body["id"]).dispatched_at is not None


def test_auto_means_supervised_when_the_train_split_holds_weakly_labelled_defects(tproject, owner_client, sent):
    make_image(tproject, label=Label.DEFECTIVE, value=200)  # no mask

    response = owner_client.post(url(tproject), {}, format="json")

    assert response.status_code == 201
    assert response.json()["resolved_mode"] == "supervised"


def test_a_second_job_while_one_is_queued_or_running_is_a_conflict(tproject, owner_client, sent):
    first = owner_client.post(url(tproject), {}, format="json").json()
    again = owner_client.post(url(tproject), {}, format="json")
    assert again.status_code == 409 and str(first["id"]) in again.json()["detail"]

    TrainingJob.objects.filter(id=first["id"]).update(status=JobStatus.RUNNING)
    assert owner_client.post(url(tproject), {}, format="json").status_code == 409

    TrainingJob.objects.filter(id=first["id"]).update(status=JobStatus.SUCCEEDED)
    assert owner_client.post(url(tproject), {}, format="json").status_code == 201


def test_the_database_refuses_two_active_jobs_even_without_the_service_check(tproject):
    from django.db import IntegrityError, transaction

    TrainingJobFactory(project=tproject, status=JobStatus.RUNNING)
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingJobFactory(project=tproject, status=JobStatus.QUEUED)


def test_supervised_without_defects_or_any_training_without_good_images_is_400(owner, owner_client, sent):
    project = ProjectFactory(owner=owner)
    empty = owner_client.post(url(project), {}, format="json")
    assert empty.status_code == 400 and "good" in empty.json()["detail"]

    make_image(project, value=30)
    supervised = owner_client.post(url(project), {"mode": "supervised"}, format="json")
    assert supervised.status_code == 400 and "defective" in supervised.json()["detail"]


def test_bad_mode_preset_or_epochs_are_400_with_field_errors(tproject, owner_client, sent):
    for body in ({"mode": "magic"}, {"preset": "slow"}, {"epochs": 0}):
        response = owner_client.post(url(tproject), body, format="json")
        assert response.status_code == 400 and response.json()["errors"]
    assert sent == []


def test_when_the_queue_is_down_the_job_is_kept_queued_and_the_api_says_503(tproject, owner_client, sent):
    sent.broker_up = False

    response = owner_client.post(url(tproject), {}, format="json")

    assert response.status_code == 503
    body = response.json()
    assert "queue" in body["detail"] and body["job"]["status"] == "queued"
    job = TrainingJob.objects.get(id=body["id"])
    assert job.status == JobStatus.QUEUED and job.dispatched_at is None

    # The dispatcher sends it once the broker answers again.
    sent.broker_up = True
    assert services.dispatch_and_reap()["sent"] == [job.id]
    assert sent == [("training.run_job", (job.id,))]


def test_list_and_detail_show_the_projects_jobs(tproject, owner_client, sent):
    old = TrainingJobFactory(project=tproject, status=JobStatus.FAILED, error="worker lost")
    new = TrainingJobFactory(project=tproject, status=JobStatus.QUEUED)

    listing = owner_client.get(url(tproject)).json()
    assert listing["count"] == 2 and [j["id"] for j in listing["results"]] == [new.id, old.id]

    detail = owner_client.get(f"/api/v1/training-jobs/{old.id}/").json()
    assert detail["status"] == "failed" and detail["error"] == "worker lost"


def test_cancel_of_a_queued_job_is_immediate(tproject, owner_client, sent):
    job = TrainingJobFactory(project=tproject)

    response = owner_client.post(f"/api/v1/training-jobs/{job.id}/cancel/")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert response.json()["finished_at"]


def test_cancel_of_a_running_job_asks_the_worker_to_stop(tproject, owner_client, sent):
    job = TrainingJobFactory(project=tproject, status=JobStatus.RUNNING)

    response = owner_client.post(f"/api/v1/training-jobs/{job.id}/cancel/")

    assert response.status_code == 202
    assert response.json()["status"] == "running" and response.json()["cancel_requested"] is True


def test_cancel_of_a_finished_job_is_a_conflict(tproject, owner_client, sent):
    job = TrainingJobFactory(project=tproject, status=JobStatus.SUCCEEDED)
    response = owner_client.post(f"/api/v1/training-jobs/{job.id}/cancel/")
    assert response.status_code == 409 and response.json()["detail"]


def test_viewers_read_but_cannot_train_or_cancel(tproject, sent):
    viewer = MembershipFactory(project=tproject, user=UserFactory(), role=Role.VIEWER).user
    client = client_of(viewer)
    job = TrainingJobFactory(project=tproject)

    assert client.get(url(tproject)).status_code == 200
    assert client.get(f"/api/v1/training-jobs/{job.id}/").status_code == 200
    assert client.post(url(tproject), {}, format="json").status_code == 403
    assert client.post(f"/api/v1/training-jobs/{job.id}/cancel/").status_code == 403
    assert TrainingJob.objects.get(id=job.id).status == JobStatus.QUEUED


def test_labellers_may_train(tproject, sent):
    labeller = MembershipFactory(project=tproject, user=UserFactory(), role=Role.LABELLER).user
    assert client_of(labeller).post(url(tproject), {}, format="json").status_code == 201


def test_outsiders_get_404_and_anonymous_401(tproject, sent):
    job = TrainingJobFactory(project=tproject)
    outsider = client_of(UserFactory())
    for path in (url(tproject), f"/api/v1/training-jobs/{job.id}/", f"/api/v1/projects/{tproject.id}/training-status/"):
        assert outsider.get(path).status_code == 404
        assert APIClient().get(path).status_code == 401
    assert outsider.post(url(tproject), {}, format="json").status_code == 404
    assert outsider.post(f"/api/v1/training-jobs/{job.id}/cancel/").status_code == 404


def test_job_and_version_payloads_carry_the_snapshot_and_the_error_detail(tproject, owner_client, sent, fake_ml):
    from webapp.training.runner import run_training_job

    first = owner_client.post(url(tproject), {}, format="json").json()
    assert first["snapshot"] is None and first["error_detail"] == ""  # frozen only when a worker claims it
    run_training_job(first["id"], worker="w")
    make_image(tproject, value=30)  # one more good image for version 2
    second = owner_client.post(url(tproject), {}, format="json").json()
    run_training_job(second["id"], worker="w")

    job = owner_client.get(f"/api/v1/training-jobs/{second['id']}/").json()
    counts = {"images": 15, "good": 13, "defective": 2, "masks": 1}
    assert {key: job["snapshot"][key] for key in counts} == counts
    assert job["snapshot"]["train"] == {"images": 11, "good": 11, "defective": 0, "masks": 0}
    assert job["snapshot"]["test"] == {"images": 4, "good": 2, "defective": 2, "masks": 1}
    assert job["snapshot"]["previous_version"] == 1
    assert job["snapshot"]["changed"] == {"added": 1, "removed": 0, "relabelled": 0, "masks": 0, "moved": 0}

    versions = owner_client.get(f"/api/v1/projects/{tproject.id}/models/").json()["results"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["snapshot"] == job["snapshot"]
    assert versions[1]["snapshot"]["changed"] is None and versions[1]["snapshot"]["previous_version"] is None


def test_a_failed_jobs_payload_has_a_sentence_and_never_a_server_path(tproject, owner_client, sent, settings):
    raw = f"FileNotFoundError: [Errno 2] No such file or directory: '{settings.MEDIA_ROOT}/masks/ab/x.png'"
    legacy = TrainingJobFactory(project=tproject, status=JobStatus.FAILED, error=raw)  # written before error_detail
    failed = TrainingJobFactory(
        project=tproject, status=JobStatus.FAILED, error="The worker ran out of memory.", error_detail="RuntimeError: x"
    )

    body = owner_client.get(f"/api/v1/training-jobs/{legacy.id}/").json()
    assert body["error"] == "FileNotFoundError: [Errno 2] No such file or directory: 'masks/ab/x.png'"
    body = owner_client.get(f"/api/v1/training-jobs/{failed.id}/").json()
    assert (body["error"], body["error_detail"]) == ("The worker ran out of memory.", "RuntimeError: x")
    listing = owner_client.get(url(tproject)).content.decode()
    assert str(settings.MEDIA_ROOT) not in listing
