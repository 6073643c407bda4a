"""Uploads: formats by content, limits, corrupt files, duplicates, content-addressed files, no orphans."""

import hashlib
import io
from unittest import mock

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError
from PIL import Image as PILImage
from PIL import ImageFile

from webapp.datasets.models import Image, Role

from .conftest import image_bytes, png_claiming, stored_files

pytestmark = pytest.mark.django_db


def upload(client, project, *files):
    payload = {"files": [SimpleUploadedFile(name, data) for name, data in files]}
    return client.post(f"/api/v1/projects/{project.pk}/images/", payload, format="multipart")


def sixteen_bit_png() -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 50).save(out, format="PNG")
    return out.getvalue()


def palette_png() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (40, 30), (200, 10, 10)).convert("P", palette=PILImage.Palette.ADAPTIVE).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "name, data, extension, content_type",
    [
        ("a.png", image_bytes("PNG"), "png", "image/png"),
        ("a.jpg", image_bytes("JPEG"), "jpg", "image/jpeg"),
        ("a.bmp", image_bytes("BMP"), "bmp", "image/bmp"),
        ("a.tif", image_bytes("TIFF"), "tif", "image/tiff"),
        ("gray.png", image_bytes("PNG", mode="L"), "png", "image/png"),
        ("gray.jpg", image_bytes("JPEG", mode="L"), "jpg", "image/jpeg"),
        ("deep.png", sixteen_bit_png(), "png", "image/png"),
        ("palette.png", palette_png(), "png", "image/png"),
        ("alpha.png", image_bytes("PNG", mode="RGBA", color=(1, 2, 3, 0)), "png", "image/png"),
        ("gray16.tif", image_bytes("TIFF", mode="I;16", color=4000), "tif", "image/tiff"),
        ("float.tif", image_bytes("TIFF", mode="F", color=0.5), "tif", "image/tiff"),
        ("cmyk.jpg", image_bytes("JPEG", mode="CMYK", color=(10, 20, 30, 40)), "jpg", "image/jpeg"),
        ("bits.bmp", image_bytes("BMP", mode="1", color=1), "bmp", "image/bmp"),
        ("gray-alpha.png", image_bytes("PNG", mode="LA", color=(100, 50)), "png", "image/png"),
        ("wrong-extension.txt", image_bytes("PNG"), "png", "image/png"),
    ],
)
def test_it_accepts_png_jpeg_bmp_tiff_in_any_mode(api_client, project, settings, name, data, extension, content_type):
    response = upload(api_client, project, (name, data))

    assert response.status_code == 201, response.json()
    [body] = response.json()
    sha = hashlib.sha256(data).hexdigest()
    assert body["filename"] == name and body["sha256"] == sha
    assert (body["width"], body["height"]) == (40, 30)
    assert body["label"] == "unlabeled" and body["split"] == "train" and body["duplicate"] is False
    assert body["prediction"] is None and body["has_mask"] is False
    image = Image.objects.get(pk=body["id"])
    assert image.file.name == f"images/{sha[:2]}/{sha}.{extension}"

    original = api_client.get(f"/api/v1/images/{image.pk}/file/")
    assert original.status_code == 200 and original["Content-Type"] == content_type
    assert b"".join(original.streaming_content) == data

    thumbnail = api_client.get(f"/api/v1/images/{image.pk}/thumbnail/")
    assert thumbnail["Content-Type"] == "image/jpeg"
    assert PILImage.open(io.BytesIO(b"".join(thumbnail.streaming_content))).format == "JPEG"


def test_thumbnails_have_a_longest_side_of_256(api_client, project):
    body = upload(api_client, project, ("big.png", image_bytes("PNG", size=(1000, 400)))).json()[0]

    thumbnail = api_client.get(body["thumbnail_url"])

    assert PILImage.open(io.BytesIO(b"".join(thumbnail.streaming_content))).size == (256, 102)


def test_several_files_in_one_request(api_client, project):
    response = upload(api_client, project, ("a.png", image_bytes(color=(1, 1, 1))), ("b.jpg", image_bytes("JPEG")))

    assert response.status_code == 201
    assert [entry["filename"] for entry in response.json()] == ["a.png", "b.jpg"]
    assert project.images.count() == 2


def test_the_same_bytes_are_a_duplicate_stored_once(api_client, project, settings):
    data = image_bytes()
    first = upload(api_client, project, ("a.png", data)).json()[0]

    again = upload(api_client, project, ("copy-of-a.png", data))

    assert again.status_code == 201
    assert again.json()[0]["id"] == first["id"] and again.json()[0]["duplicate"] is True
    assert project.images.count() == 1
    assert len(stored_files(settings.MEDIA_ROOT)) == 2  # the image and its thumbnail


@pytest.mark.parametrize(
    "data",
    [
        b"just some text, not an image",
        b"GIF89a" + b"\x00" * 40,
        image_bytes("GIF", mode="P"),
        image_bytes("WEBP"),
    ],
)
def test_other_formats_are_415(api_client, project, data):
    response = upload(api_client, project, ("x.png", data))

    assert response.status_code == 415
    assert "Unsupported image format" in response.json()["detail"]
    assert project.images.count() == 0


def test_an_empty_file_is_400_saying_it_is_empty(api_client, project):
    response = upload(api_client, project, ("x.png", b""))

    assert response.status_code == 400 and response.json()["detail"] == "The file is empty (0 bytes)."
    assert project.images.count() == 0


@pytest.mark.parametrize(
    "data",
    [
        image_bytes("PNG", size=(200, 200))[:300],
        image_bytes("JPEG", size=(200, 200))[:400],
        b"\x89PNG\r\n\x1a\n" + b"garbage" * 10,
        b"\xff\xd8\xff" + b"\x00" * 50,
        image_bytes("BMP")[:60],
    ],
)
def test_corrupt_or_truncated_files_are_400(api_client, project, settings, data):
    response = upload(api_client, project, ("x.png", data))

    assert response.status_code == 400
    assert "orrupt" in response.json()["detail"]
    assert stored_files(settings.MEDIA_ROOT) == []


def test_files_over_the_byte_limit_are_413(api_client, project, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    response = upload(api_client, project, ("big.bmp", image_bytes("BMP", size=(100, 100))))

    assert response.status_code == 413
    assert "limit is 1000 bytes" in response.json()["detail"]


def test_images_over_the_pixel_limit_are_413_without_decoding(api_client, project, settings):
    settings.MAX_IMAGE_PIXELS = 1000
    with mock.patch.object(ImageFile.ImageFile, "load", side_effect=AssertionError("decoded")) as load:
        response = upload(api_client, project, ("wide.png", image_bytes(size=(100, 100))))

    assert response.status_code == 413
    assert "pixels" in response.json()["detail"]
    load.assert_not_called()


def test_a_small_file_claiming_40000x40000_is_refused_before_decoding(api_client, project, settings):
    data = png_claiming(40000, 40000)
    assert len(data) < 200
    with mock.patch.object(ImageFile.ImageFile, "load", side_effect=AssertionError("decoded")) as load:
        response = upload(api_client, project, ("bomb.png", data))

    assert response.status_code == 413
    load.assert_not_called()


def test_pillows_decompression_bomb_error_is_413_with_the_products_limit(api_client, project, settings):
    # a header beyond twice Pillow's own limit is refused by Pillow before the product sees its size
    settings.MAX_IMAGE_PIXELS = 60_000_000
    response = upload(api_client, project, ("bomb.png", png_claiming(100000, 100000)))

    assert response.status_code == 413
    # one message for every oversized image, quoting the product's limit, not Pillow's
    assert response.json()["detail"] == "Image is 10000000000 pixels; the limit is 60000000."


def test_some_bad_files_among_good_ones_are_reported_per_file(api_client, project):
    response = upload(
        api_client, project, ("good.png", image_bytes()), ("notes.txt", b"hello"), ("cut.png", image_bytes()[:50])
    )

    assert response.status_code == 201
    good, text, cut = response.json()
    assert good["filename"] == "good.png" and "id" in good
    assert text == {"filename": "notes.txt", "status": 415, "error": text["error"]}
    assert cut["status"] == 400 and "error" in cut
    assert project.images.count() == 1


def test_when_every_file_fails_the_request_fails(api_client, project):
    same = upload(api_client, project, ("a.txt", b"a"), ("b.txt", b"b"))
    mixed = upload(api_client, project, ("a.txt", b"a"), ("cut.png", image_bytes()[:50]))

    assert same.status_code == 415
    assert [e["filename"] for e in same.json()["errors"]] == ["a.txt", "b.txt"]
    assert mixed.status_code == 400
    assert mixed.json()["detail"] == "None of the 2 files was stored."


def test_a_request_without_files_is_400(api_client, project):
    response = api_client.post(f"/api/v1/projects/{project.pk}/images/", {}, format="multipart")
    assert response.status_code == 400
    assert "files" in response.json()["detail"]


def test_a_database_failure_leaves_no_file_behind(api_client, project, settings):
    api_client.raise_request_exception = False
    with mock.patch.object(Image.objects, "create", side_effect=DatabaseError("disk full")):
        response = upload(api_client, project, ("a.png", image_bytes()))

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}
    assert stored_files(settings.MEDIA_ROOT) == []
    assert Image.objects.count() == 0
    # And the same bytes upload fine afterwards.
    assert upload(api_client, project, ("a.png", image_bytes())).status_code == 201


def test_viewers_cannot_upload_and_outsiders_get_404(project, member_client, outsider_client):
    assert upload(member_client(Role.VIEWER), project, ("a.png", image_bytes())).status_code == 403
    assert upload(outsider_client, project, ("a.png", image_bytes())).status_code == 404
    assert upload(member_client(Role.LABELLER), project, ("a.png", image_bytes())).status_code == 201


def test_a_concurrent_upload_of_the_same_bytes_ends_as_one_image(api_client, project, settings):
    from webapp.datasets import services

    data = image_bytes()
    winner, _ = services.image_create(project=project, filename="first.png", data=data)
    real_filter = Image.objects.filter
    calls = []

    def filter_missing_the_winner_once(*args, **kwargs):
        # The duplicate check runs before the other request's row exists; the unique constraint decides.
        calls.append(kwargs)
        queryset = real_filter(*args, **kwargs)
        return queryset.none() if len(calls) == 1 else queryset

    with mock.patch.object(Image.objects, "filter", side_effect=filter_missing_the_winner_once):
        response = upload(api_client, project, ("second.png", data))

    assert response.status_code == 201
    assert response.json()[0]["id"] == winner.pk and response.json()[0]["duplicate"] is True
    assert Image.objects.count() == 1
    assert len(stored_files(settings.MEDIA_ROOT)) == 2
