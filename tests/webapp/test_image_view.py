"""What the browser is given to show and paint on: GET /images/{id}/view/ (`view_url`), full resolution, 8 bits,
the pixels the model is given. A 12-bit camera image in a 16-bit container is not black there, nor in its
thumbnail; a TIFF is shown at full size, not through its thumbnail."""

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from ml.data import to_pil
from webapp.datasets.models import Image

pytestmark = pytest.mark.django_db


def upload(client, project, name: str, data: bytes) -> dict:
    response = client.post(
        f"/api/v1/projects/{project.pk}/images/", {"files": [SimpleUploadedFile(name, data)]}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return response.json()[0]  # 201: the list of stored images


def twelve_bit(fmt: str) -> bytes:
    values = np.zeros((60, 80), dtype=np.uint16)
    values[:, :40] = 1000
    values[20:40, 50:70] = 4095  # a bright defect on a dark part, as a 12-bit camera writes it
    out = io.BytesIO()
    PILImage.fromarray(values).save(out, format=fmt)
    return out.getvalue()


def decoded(response) -> np.ndarray:
    return np.asarray(
        PILImage.open(io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content))
    )


@pytest.mark.parametrize(("name", "fmt"), [("cam.png", "PNG"), ("cam.tif", "TIFF")])
def test_a_12_bit_image_is_shown_at_full_size_with_its_range_filled(api_client, project, name, fmt):
    body = upload(api_client, project, name, twelve_bit(fmt))
    assert body["view_url"].endswith(f"/api/v1/images/{body['id']}/view/")

    response = api_client.get(body["view_url"])

    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    view = decoded(response)
    assert view.shape == (60, 80) and view.dtype == np.uint8
    assert view[30, 60] == 255 and 60 <= view[5, 5] <= 66 and view[5, 75] == 0  # 1000 of 4095 -> 62
    stored = Image.objects.get(pk=body["id"]).file.path
    assert np.array_equal(view, np.asarray(to_pil(stored))[..., 0])  # what the model is given, pixel for pixel


def test_the_thumbnail_of_a_12_bit_image_is_not_black(api_client, project):
    body = upload(api_client, project, "cam.png", twelve_bit("PNG"))

    thumb = decoded(api_client.get(body["thumbnail_url"]))

    assert thumb.max() >= 250  # before: 4095 / 257 = 15, a black thumbnail


def test_an_8_bit_png_is_sent_as_stored(api_client, project):
    data = io.BytesIO()
    PILImage.new("RGB", (40, 30), (10, 200, 30)).save(data, format="PNG")
    body = upload(api_client, project, "a.png", data.getvalue())

    response = api_client.get(body["view_url"])

    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == data.getvalue()


def test_transparency_is_shown_over_white_as_the_model_sees_it(api_client, project):
    rgba = np.zeros((30, 40, 4), dtype=np.uint8)
    rgba[..., :3] = 40
    rgba[:15, :, 3] = 255
    data = io.BytesIO()
    PILImage.fromarray(rgba, "RGBA").save(data, format="PNG")
    body = upload(api_client, project, "a.png", data.getvalue())

    view = decoded(api_client.get(body["view_url"]))

    assert view.shape == (30, 40, 3) and (view[:15] == 40).all() and (view[15:] == 255).all()


def test_an_outsider_gets_404_and_an_unknown_query_key_400(api_client, outsider_client, project):
    body = upload(api_client, project, "cam.png", twelve_bit("PNG"))

    assert outsider_client.get(body["view_url"]).status_code == 404
    assert api_client.get(body["view_url"] + "?size=full").status_code == 400


def test_the_migration_redraws_the_black_thumbnails_of_images_stored_before(api_client, project):
    import importlib

    from django.apps import apps
    from django.core.files.storage import default_storage

    body = upload(api_client, project, "cam.png", twelve_bit("PNG"))
    image = Image.objects.get(pk=body["id"])
    old = io.BytesIO()
    PILImage.new("L", (80, 60), 15).save(old, format="JPEG")  # what the old rule drew: 4095 / 257
    default_storage.delete(image.thumbnail.name)
    default_storage.save(image.thumbnail.name, io.BytesIO(old.getvalue()))
    migration = importlib.import_module("webapp.datasets.migrations.0006_redraw_high_depth_thumbnails")

    migration.redraw(apps, None)

    with default_storage.open(image.thumbnail.name, "rb") as handle:
        assert np.asarray(PILImage.open(handle)).max() >= 250


def test_the_view_reads_a_dim_frame_as_the_active_model_does(api_client, project):
    from .factories import ModelVersionFactory

    values = np.full((60, 80), 200, dtype=np.uint16)
    values[20:40, 20:40] = 800  # a dark part under a 12-bit camera: its own depth would be 10 bits
    out = io.BytesIO()
    PILImage.fromarray(values).save(out, format="PNG")
    body = upload(api_client, project, "dark.png", out.getvalue())
    assert decoded(api_client.get(body["view_url"])).max() == 199  # no model: read by its own depth (800 / 1023)

    version = ModelVersionFactory(project=project, is_active=True, sample_depth=12)

    view = decoded(api_client.get(body["view_url"]))
    assert view.max() == round(800 * 255 / 4095)  # as the model reads it: dark
    assert api_client.get(f"/api/v1/models/{version.id}/").json()["sample_depth"] == 12


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_a_stored_images_mode_is_read_from_its_head_on_object_storage_too(s3_storage, fmt):
    from webapp.datasets import files

    out = io.BytesIO()
    PILImage.fromarray(np.zeros((3000, 20), dtype=np.uint16) + 7).save(out, format=fmt)
    name = s3_storage.save(f"images/ab/x.{fmt.lower()}", io.BytesIO(out.getvalue()))

    head = files.read_head(name, 1024)

    assert head == out.getvalue()[:1024] and files.is_high_depth_file(name)


def test_a_thumbnail_url_names_its_drawing_rule_and_stays_cached_for_good(api_client, project):
    from webapp.datasets.imaging import THUMBNAIL_RULE

    body = upload(api_client, project, "cam.png", twelve_bit("PNG"))

    assert body["thumbnail_url"].endswith(f"/thumbnail/?v={THUMBNAIL_RULE}")  # a new rule, a new URL
    response = api_client.get(body["thumbnail_url"])
    assert response.status_code == 200 and "immutable" in response["Cache-Control"]
    assert api_client.get(body["thumbnail_url"].replace("?v=", "?w=")).status_code == 400  # other keys still 400


def test_a_rendered_view_is_asked_again_and_answered_304_until_the_active_model_changes(api_client, project):
    from .factories import ModelVersionFactory

    body = upload(api_client, project, "cam.png", twelve_bit("PNG"))
    first = api_client.get(body["view_url"])
    assert first["Cache-Control"] == "private, no-cache" and first["ETag"]

    again = api_client.get(body["view_url"], HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304

    ModelVersionFactory(project=project, is_active=True, sample_depth=16)  # reads the same file another way
    changed = api_client.get(body["view_url"], HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"]
    assert decoded(changed).max() == round(4095 * 255 / 65535)
