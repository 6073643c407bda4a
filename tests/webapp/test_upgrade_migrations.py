"""What an installation made before 16-bit images were read correctly gets on upgrade: versions that trained on
16-bit images say so (warning `read_16_bit_blank`), and the gallery's stored scores of 16-bit images by such a
project's active model are dropped to be scored again by today's rule; 8-bit projects are left as they were."""

import importlib
import io

import numpy as np
import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from webapp.datasets.models import Image
from webapp.training.models import ModelVersion, Prediction, SnapshotEntry

from .conftest import image_bytes
from .factories import ModelVersionFactory, PredictionFactory, TrainingJobFactory

pytestmark = pytest.mark.django_db

MIGRATION = importlib.import_module("webapp.training.migrations.0008_versions_that_read_16_bit_images_blank")


def upload(client, project, name: str, data: bytes) -> Image:
    response = client.post(
        f"/api/v1/projects/{project.pk}/images/", {"files": [SimpleUploadedFile(name, data)]}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return Image.objects.get(pk=response.json()[0]["id"])


def sixteen_bit() -> bytes:
    out = io.BytesIO()
    PILImage.fromarray((np.arange(40 * 30).reshape(30, 40) * 3).astype(np.uint16)).save(out, format="PNG")
    return out.getvalue()


def version_trained_on(project, images, *, active=True) -> ModelVersion:
    job = TrainingJobFactory(project=project, status="succeeded")
    for image in images:
        SnapshotEntry.objects.create(
            job=job, image_id=image.id, sha256=image.sha256, file=image.file.name, label="good", split="train"
        )
    return ModelVersionFactory(project=project, job=job, is_active=active, metrics={"image_auroc": 0.9})


def test_a_version_that_trained_on_16_bit_images_is_marked_and_its_scores_of_them_dropped(api_client, project):
    deep, flat = (
        upload(api_client, project, "deep.png", sixteen_bit()),
        upload(api_client, project, "a.png", image_bytes()),
    )
    version = version_trained_on(project, [deep, flat])
    PredictionFactory(image=deep, model_version=version)
    kept = PredictionFactory(image=flat, model_version=version)

    MIGRATION.mark(apps, None)

    version.refresh_from_db()
    assert version.metrics["read_16_bit_blank"] is True and version.metrics["image_auroc"] == 0.9
    assert list(Prediction.objects.filter(model_version=version)) == [kept]  # the 16-bit one is scored again
    warnings = api_client.get(f"/api/v1/models/{version.id}/").json()["warnings"]
    assert [w["code"] for w in warnings] == ["read_16_bit_blank"] and "Train a new version" in warnings[0]["detail"]


def test_an_8_bit_project_and_a_version_that_knows_its_depth_are_left_alone(api_client, project):
    flat = upload(api_client, project, "a.png", image_bytes())
    old = version_trained_on(project, [flat])
    prediction = PredictionFactory(image=flat, model_version=old)
    deep = upload(api_client, project, "deep.png", sixteen_bit())
    new = version_trained_on(project, [deep], active=False)
    ModelVersion.objects.filter(pk=new.pk).update(sample_depth=12)

    MIGRATION.mark(apps, None)

    assert "read_16_bit_blank" not in ModelVersion.objects.get(pk=old.pk).metrics
    assert "read_16_bit_blank" not in ModelVersion.objects.get(pk=new.pk).metrics
    assert Prediction.objects.filter(pk=prediction.pk).exists()
