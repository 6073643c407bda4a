"""EXIF orientation is applied once at ingest: stored pixels, width/height, thumbnails, masks, inference and
what a browser shows all agree (issue 10, item 7). The SHA-256 stays that of the bytes sent."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import base64
import hashlib
import io
import zipfile

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage
from PIL import ImageOps

from webapp.datasets import importer
from webapp.datasets.models import Image
from webapp.training.models import InferenceItem

from .conftest import mask_png, put_mask
from .factories import ModelVersionFactory
from .test_training_support import fake_ml, owner, sent  # noqa: F401

pytestmark = pytest.mark.django_db

TURNED = {5, 6, 7, 8}  # orientations that swap width and height


def pattern(width: int = 80, height: int = 40) -> PILImage.Image:
    """Four differently coloured quadrants, so every rotation and mirror looks different."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[: height // 2, : width // 2] = (250, 0, 0)
    array[: height // 2, width // 2 :] = (0, 250, 0)
    array[height // 2 :, : width // 2] = (0, 0, 250)
    array[height // 2 :, width // 2 :] = (250, 250, 250)
    array[0, 0] = (7, 7, 7)
    return PILImage.fromarray(array, "RGB")


def oriented(orientation: int, fmt: str = "PNG") -> bytes:
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    pattern().save(out, format=fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))
    return out.getvalue()


def upload(client, project, name, data):
    return client.post(
        f"/api/v1/projects/{project.pk}/images/", {"files": [SimpleUploadedFile(name, data)]}, format="multipart"
    )


def stored(name: str) -> PILImage.Image:
    with default_storage.open(name, "rb") as handle:
        image = PILImage.open(io.BytesIO(handle.read()))
        image.load()
    return image


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_orientation_is_stored_upright(api_client, project, orientation):
    data = oriented(orientation)
    expected = ImageOps.exif_transpose(PILImage.open(io.BytesIO(data))).convert("RGB")

    response = upload(api_client, project, f"o{orientation}.png", data)

    assert response.status_code == 201, response.json()
    body = response.json()[0]
    assert (body["width"], body["height"]) == ((40, 80) if orientation in TURNED else (80, 40))
    assert body["sha256"] == hashlib.sha256(data).hexdigest()  # of the bytes sent
    image = Image.objects.get(pk=body["id"])
    pixels = stored(image.file.name)
    assert pixels.size == (body["width"], body["height"])
    assert np.array_equal(np.asarray(pixels.convert("RGB")), np.asarray(expected))
    assert pixels.getexif().get(0x0112, 1) == 1  # nobody turns it a second time
    thumbnail = stored(image.thumbnail.name)
    assert (thumbnail.width > thumbnail.height) == (orientation not in TURNED)
    file_response = api_client.get(f"/api/v1/images/{image.pk}/file/")
    assert file_response.status_code == 200
    assert PILImage.open(io.BytesIO(b"".join(file_response.streaming_content))).size == pixels.size


@pytest.mark.parametrize("orientation", [6, 8])
def test_masks_are_painted_on_the_upright_grid(api_client, project, orientation):
    image = Image.objects.get(pk=upload(api_client, project, "turned.png", oriented(orientation)).json()[0]["id"])

    assert put_mask(api_client, image, mask_png(80, 40)).status_code == 400  # the stored grid, no more
    assert put_mask(api_client, image, mask_png(40, 80)).status_code == 200


def test_a_jpeg_with_orientation_6_is_40_wide_and_80_high(api_client, project):
    data = oriented(6, "JPEG")

    body = upload(api_client, project, "phone.jpg", data).json()[0]

    assert (body["width"], body["height"]) == (40, 80)
    image = Image.objects.get(pk=body["id"])
    assert stored(image.file.name).size == (40, 80) and image.file.name.endswith(".png")  # lossless upright copy


def test_the_same_bytes_are_still_found_as_duplicates(api_client, project):
    data = oriented(6)
    first = upload(api_client, project, "a.png", data).json()[0]

    again = upload(api_client, project, "b.png", data).json()[0]

    assert again["duplicate"] is True and again["id"] == first["id"]
    assert Image.objects.filter(project=project).count() == 1


def test_a_zip_import_applies_the_orientation(project, user):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("phone.png", oriented(6))
    job = importer.import_job_create(project=project, user=user, archive=SimpleUploadedFile("a.zip", buf.getvalue()))

    assert importer.run_import(job_id=job.pk).created == 1
    image = Image.objects.get(project=project)
    assert (image.width, image.height) == (40, 80) and stored(image.file.name).size == (40, 80)


def test_inference_uploads_and_sync_predict_use_the_upright_pixels(api_client, project, fake_ml, sent):
    ModelVersionFactory(project=project, is_active=True)
    files = {"files": [SimpleUploadedFile("turned.png", oriented(6))]}

    predicted = api_client.post(f"/api/v1/projects/{project.pk}/predict/", files, format="multipart")
    batch = api_client.post(
        f"/api/v1/projects/{project.pk}/inference-batches/",
        {"files": [SimpleUploadedFile("turned.png", oriented(6))]},
        format="multipart",
    )

    assert predicted.status_code == 200, predicted.json()
    heatmap = PILImage.open(io.BytesIO(base64.b64decode(predicted.json()["results"][0]["heatmap_png_base64"])))
    assert heatmap.size == (40, 80)
    assert batch.status_code == 202, batch.json()
    item = InferenceItem.objects.get(batch_id=batch.json()["id"])
    assert stored(item.file.name).size == (40, 80)
