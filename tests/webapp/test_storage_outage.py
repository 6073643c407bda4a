"""Object storage that does not answer: requests say so with 503 and Retry-After (never a 500), nothing saved
is lost, and an inference batch waits, saying why, instead of failing for good."""

import io
from datetime import timedelta
from unittest import mock

import numpy as np
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from webapp.core.exceptions import is_storage_unreachable
from webapp.datasets import files
from webapp.datasets.models import Image
from webapp.training import engine, inference
from webapp.training.models import InferenceBatch, InferenceItem, JobStatus

from .conftest import image_bytes
from .factories import ModelVersionFactory

pytestmark = pytest.mark.django_db

DOWN = EndpointConnectionError(endpoint_url="http://storage:9000/studio/x")


def test_botocore_connection_errors_and_5xx_answers_are_an_unreachable_storage():
    busy = ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject")
    missing = ClientError({"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}, "GetObject")
    wrapped = RuntimeError("thumbnail")
    wrapped.__cause__ = DOWN

    assert is_storage_unreachable(DOWN) and is_storage_unreachable(busy) and is_storage_unreachable(wrapped)
    assert not is_storage_unreachable(missing) and not is_storage_unreachable(ValueError("bad input"))


def test_an_upload_while_the_storage_is_down_is_503_and_stores_no_row(api_client, project):
    with mock.patch.object(files, "write_once", side_effect=DOWN):
        response = api_client.post(
            f"/api/v1/projects/{project.pk}/images/",
            {"files": [SimpleUploadedFile("a.png", image_bytes())]},
            format="multipart",
        )

    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert "storage is not answering" in response.json()["detail"]
    assert not Image.objects.filter(project=project).exists()


def test_an_image_file_while_the_storage_is_down_is_503_not_500(api_client, project):
    body = api_client.post(
        f"/api/v1/projects/{project.pk}/images/",
        {"files": [SimpleUploadedFile("a.png", image_bytes())]},
        format="multipart",
    ).json()[0]

    with mock.patch.object(default_storage, "open", side_effect=DOWN):
        for url in (body["file_url"], body["thumbnail_url"], body["view_url"]):
            response = api_client.get(url)
            assert response.status_code == 503, url

    assert api_client.get(body["file_url"]).status_code == 200  # back: nothing was lost


@pytest.fixture
def batch(project):
    version = ModelVersionFactory(project=project, is_active=True)
    batch = InferenceBatch.objects.create(project=project, model_version=version, total=1, status=JobStatus.QUEUED)
    name = default_storage.save("inference/x/a.png", io.BytesIO(image_bytes()))
    InferenceItem.objects.create(batch=batch, filename="a.png", file=name, chunk=0)
    engine.forget_predictors()
    return batch


def test_a_batch_waits_for_the_storage_and_says_so_then_goes_on(api_client, batch):
    with mock.patch.object(engine, "local_checkpoint", side_effect=DOWN):
        assert inference.run_inference_chunk(batch.id, 0) == 0

    shown = api_client.get(f"/api/v1/inference-batches/{batch.id}/").json()
    assert shown["status"] == "running" and shown["error"].startswith("Waiting for the storage")

    class Scores:
        def predict(self, paths, batch_size=1):
            return [mock.Mock(score=0.7, anomaly_map=np.zeros((30, 40))) for _ in paths]

    with mock.patch.object(engine, "load_predictor", return_value=Scores()):
        assert inference.run_inference_chunk(batch.id, 0) == 1  # the chunk sent again once the storage answers

    shown = api_client.get(f"/api/v1/inference-batches/{batch.id}/").json()
    assert shown["status"] == "succeeded" and shown["error"] == "" and shown["done"] == 1


def test_a_batch_gives_up_with_the_reason_when_the_storage_stays_down(api_client, batch, settings):
    InferenceBatch.objects.filter(id=batch.id).update(
        created_at=timezone.now() - timedelta(seconds=settings.INFERENCE_STORAGE_PATIENCE_SECONDS + 60)
    )

    with mock.patch.object(engine, "local_checkpoint", side_effect=DOWN):
        inference.run_inference_chunk(batch.id, 0)

    shown = api_client.get(f"/api/v1/inference-batches/{batch.id}/").json()
    assert shown["status"] == "failed" and "The storage did not answer for 31 minutes" in shown["error"]


def test_a_damaged_checkpoint_still_fails_the_batch_at_once_with_the_reason(api_client, batch):
    with mock.patch.object(engine, "load_predictor", side_effect=RuntimeError("invalid load key")):
        inference.run_inference_chunk(batch.id, 0)

    shown = api_client.get(f"/api/v1/inference-batches/{batch.id}/").json()
    assert shown["status"] == "failed" and "invalid load key" in shown["error"]


def test_a_training_stopped_by_the_storage_says_so_in_words():
    from webapp.training import failures

    wrapped = RuntimeError("could not store the checkpoint")
    wrapped.__cause__ = DOWN

    assert failures.sentence(wrapped) == failures.STORAGE_DOWN
    assert failures.sentence(RuntimeError("shape mismatch")) == failures.GENERIC


def test_a_storage_that_times_out_is_503_not_a_missing_file(api_client, project):
    from botocore.exceptions import ReadTimeoutError

    body = api_client.post(
        f"/api/v1/projects/{project.pk}/images/",
        {"files": [SimpleUploadedFile("a.png", image_bytes())]},
        format="multipart",
    ).json()[0]

    timeout = ReadTimeoutError(endpoint_url="http://storage:9000/studio/x")
    assert isinstance(timeout, OSError)  # what open_stored used to read as "missing": 404
    with mock.patch.object(default_storage, "open", side_effect=timeout):
        response = api_client.get(body["file_url"])

    assert response.status_code == 503 and "not answering" in response.json()["detail"]


def test_the_s3_client_gives_up_within_seconds(settings):
    import os
    import subprocess
    import sys

    code = (
        "import django; django.setup(); from django.conf import settings as s; c = s.AWS_S3_CLIENT_CONFIG; "
        "print(c.connect_timeout, c.read_timeout, c.retries)"
    )
    env = {**os.environ, "AWS_STORAGE_BUCKET_NAME": "studio", "DEBUG": "true"}
    env["DJANGO_SETTINGS_MODULE"] = "webapp.config.settings"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout

    assert out.split(" ", 2)[:2] == ["3.0", "10.0"] and "'total_max_attempts': 2" in out
