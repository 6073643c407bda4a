"""Masks: PUT a PNG at image resolution, stored as {0,255}; bad masks are 400; GET/DELETE."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from webapp.datasets.models import Label, Mask, Role

from .conftest import collect_unreferenced, image_bytes, mask_png, put_mask, stored_files
from .factories import ImageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(project):
    return ImageFactory(project=project, width=8, height=6)


def stored_mask(client, image) -> np.ndarray:
    response = client.get(f"/api/v1/images/{image.pk}/mask/")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    mask = PILImage.open(io.BytesIO(b"".join(response.streaming_content)))
    assert mask.mode == "L"
    return np.asarray(mask)


def test_a_mask_is_stored_as_0_255_and_makes_the_image_defective(api_client, image):
    response = put_mask(api_client, image, mask_png(8, 6, box=(2, 1, 5, 3), value=7))

    assert response.status_code == 200
    assert response.json()["label"] == "defective" and response.json()["has_mask"] is True
    mask = stored_mask(api_client, image)
    assert mask.shape == (6, 8) and set(np.unique(mask)) == {0, 255}
    assert (mask == 255).sum() == 6 and mask[1:3, 2:5].min() == 255
    assert Mask.objects.get(image=image).area == 6


def test_colour_masks_count_visible_non_zero_colours(api_client, image):
    # A red pixel painted on a transparent canvas; an opaque black pixel is no defect (docs/api.md, "Masks").
    rgba = mask_png(8, 6, box=(0, 0, 1, 1), mode="RGBA", value=(200, 0, 0, 255))

    assert put_mask(api_client, image, rgba).status_code == 200
    assert (stored_mask(api_client, image) == 255).sum() == 1


def test_putting_a_new_mask_replaces_the_old_one(api_client, image, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        put_mask(api_client, image, mask_png(8, 6, box=(0, 0, 1, 1)))
        put_mask(api_client, image, mask_png(8, 6, box=(0, 0, 2, 2)))

    assert (stored_mask(api_client, image) == 255).sum() == 4
    # Mask files are immutable: the first stays for a snapshot that may name it, until collected.
    assert len([n for n in stored_files(settings.MEDIA_ROOT) if n.startswith("masks/")]) == 2
    collect_unreferenced()
    assert [n for n in stored_files(settings.MEDIA_ROOT) if n.startswith("masks/")] == [image.mask.file.name]


def test_a_mask_counts_as_a_new_label(api_client, image, project):
    put_mask(api_client, image)
    project.refresh_from_db()
    assert project.labels_since_training == 1


def test_removing_a_mask_counts_too(api_client, image, project):
    """A removed mask changes what the next training learns (a weak label now): automatic retraining hears of it."""
    put_mask(api_client, image)

    assert api_client.delete(f"/api/v1/images/{image.pk}/mask/").status_code == 204

    project.refresh_from_db()
    assert project.labels_since_training == 2


@pytest.mark.parametrize(
    "data, message",
    [
        (mask_png(8, 6, box=(0, 0, 0, 0)), "empty"),
        (mask_png(9, 6), "must be 8x6"),
        (mask_png(6, 8), "must be 8x6"),
        (image_bytes("JPEG", size=(8, 6)), "PNG"),
        (b"not an image", "PNG"),
        (mask_png(8, 6)[:40], "orrupt"),
        (b"", "PNG"),
    ],
)
def test_bad_masks_are_400(api_client, image, settings, data, message):
    response = put_mask(api_client, image, data)

    assert response.status_code == 400
    assert message in response.json()["detail"]
    image.refresh_from_db()
    assert image.label == Label.UNLABELED and not image.has_mask
    assert not any(name.startswith("masks/") for name in stored_files(settings.MEDIA_ROOT))


def test_the_content_type_does_not_matter_only_the_bytes(api_client, image):
    assert put_mask(api_client, image, content_type="application/octet-stream").status_code == 200
    assert put_mask(api_client, image, image_bytes("JPEG", size=(8, 6)), content_type="image/jpeg").status_code == 400


def test_oversized_mask_bodies_are_413(api_client, image, settings):
    settings.MAX_UPLOAD_BYTES = 10
    assert put_mask(api_client, image).status_code == 413


def test_get_and_delete_without_a_mask_are_404(api_client, image):
    assert api_client.get(f"/api/v1/images/{image.pk}/mask/").status_code == 404
    assert api_client.delete(f"/api/v1/images/{image.pk}/mask/").status_code == 404


def test_delete_removes_the_mask(api_client, image, settings, django_capture_on_commit_callbacks):
    put_mask(api_client, image)

    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.delete(f"/api/v1/images/{image.pk}/mask/").status_code == 204

    image.refresh_from_db()
    assert not image.has_mask and image.label == Label.DEFECTIVE  # still a (weakly labelled) defect
    assert api_client.get(f"/api/v1/images/{image.pk}/mask/").status_code == 404
    collect_unreferenced()
    assert not any(name.startswith("masks/") for name in stored_files(settings.MEDIA_ROOT))


def test_viewers_read_masks_but_cannot_write_them(project, image, api_client, member_client):
    put_mask(api_client, image)
    viewer = member_client(Role.VIEWER)

    assert viewer.get(f"/api/v1/images/{image.pk}/mask/").status_code == 200
    assert put_mask(viewer, image).status_code == 403
    assert viewer.delete(f"/api/v1/images/{image.pk}/mask/").status_code == 403
