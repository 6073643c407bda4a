"""What counts as a defect in a mask: any visible non-zero pixel (issue 10, item 11). Opaque black is
nothing painted, transparency hides colour, and palette masks are judged by their colours, not indices."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from webapp.datasets.models import Mask

from .conftest import put_mask
from .factories import ImageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(project):
    return ImageFactory(project=project, width=8, height=6)


def png(image: PILImage.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def stored(image) -> np.ndarray:
    return np.asarray(PILImage.open(Mask.objects.get(image=image).file.open("rb")))


def test_a_fully_opaque_black_rgba_mask_is_empty_not_all_defect(api_client, image):
    response = put_mask(api_client, image, png(PILImage.new("RGBA", (8, 6), (0, 0, 0, 255))))

    assert response.status_code == 400 and "empty" in response.json()["detail"]
    assert not Mask.objects.filter(image=image).exists()


def test_colour_under_full_transparency_is_not_a_defect(api_client, image):
    canvas = np.zeros((6, 8, 4), dtype=np.uint8)
    canvas[..., :3] = 255  # white everywhere, but invisible...
    canvas[1:3, 2:4] = (255, 0, 0, 255)  # ...except a painted red square
    response = put_mask(api_client, image, png(PILImage.fromarray(canvas, "RGBA")))

    assert response.status_code == 200
    assert (stored(image) == 255).sum() == 4 and stored(image)[1:3, 2:4].min() == 255


def test_palette_masks_are_judged_by_colour_not_by_index(api_client, image):
    mask = PILImage.new("P", (8, 6), 1)
    mask.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)  # index 0 = white (defect), index 1 = black
    mask.paste(0, (0, 0, 3, 2))  # a 3 x 2 white patch

    response = put_mask(api_client, image, png(mask))

    assert response.status_code == 200
    assert (stored(image) == 255).sum() == 6 and stored(image)[0:2, 0:3].min() == 255


def test_a_grayscale_mask_with_alpha_follows_the_same_rule(api_client, image):
    array = np.zeros((6, 8, 2), dtype=np.uint8)
    array[..., 1] = 255  # opaque black...
    array[0, 0] = (200, 255)  # ...one visible grey pixel
    array[5, 7] = (200, 0)  # an invisible one

    response = put_mask(api_client, image, png(PILImage.fromarray(array, "LA")))

    assert response.status_code == 200 and (stored(image) == 255).sum() == 1
