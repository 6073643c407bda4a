"""What counts as a defect in a mask: a visible pixel at least half as bright as the mask's brightest (0/1
and class-index masks: any non-zero). Opaque black is nothing painted, transparency hides colour, and
palette masks are judged by their colours, not indices."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageFilter

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


def test_the_soft_edge_of_an_anti_aliased_mask_does_not_widen_it(api_client, project):
    # a 40 x 40 square drawn at 4x and reduced with Lanczos: grey ramps around it, as drawing tools save
    image = ImageFactory(project=project, width=80, height=80)
    big = PILImage.new("L", (320, 320), 0)
    big.paste(255, (80, 80, 240, 240))
    soft = big.resize((80, 80), PILImage.Resampling.LANCZOS).filter(ImageFilter.GaussianBlur(2))
    assert (np.asarray(soft) > 0).sum() > 1.3 * 1600  # the halo the old "any non-zero" rule counted

    response = put_mask(api_client, image, png(soft))

    assert response.status_code == 200
    area = (stored(image) == 255).sum()
    assert abs(area - 1600) <= 0.1 * 1600 and response.json()["has_mask"]


def test_a_jpeg_noise_floor_around_a_stroke_is_not_a_defect(api_client, image):
    array = np.full((6, 8), 3, dtype=np.uint8)  # compression noise everywhere
    array[2:4, 2:5] = 250

    response = put_mask(api_client, image, png(PILImage.fromarray(array, "L")))

    assert response.status_code == 200 and (stored(image) == 255).sum() == 6


@pytest.mark.parametrize(
    ("values", "mode", "expected"),
    [((0, 1), "L", 2), ((1, 2, 3), "L", 3), ((0, 65535), "I;16", 2), ((0, 1), "I;16", 2)],
    ids=["0-1", "class-index", "16-bit-full", "16-bit-0-1"],
)
def test_binary_and_class_index_masks_count_every_non_zero_pixel(api_client, image, values, mode, expected):
    array = np.zeros((6, 8), dtype=np.uint16 if mode == "I;16" else np.uint8)
    for i, value in enumerate(values[1:] if values[0] == 0 else values):
        array[0, i] = value
    mask = PILImage.fromarray(array, mode) if mode == "L" else PILImage.fromarray(array).convert("I;16")

    response = put_mask(api_client, image, png(mask))

    assert response.status_code == 200 and (stored(image) == 255).sum() == (expected - (values[0] == 0))
