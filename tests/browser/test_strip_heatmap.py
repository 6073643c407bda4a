"""A strip image (4:1) in the labeller: its heatmap overlay lies on the image with the image's geometry, so a
hot region of the map covers the same image pixels on screen (nothing squeezed into a square)."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage
from playwright.sync_api import expect

from .helpers import make_project, prepared_model, texture_png, upload

pytestmark = pytest.mark.browser

W, H = 1200, 300  # a strip: 4 times wider than high


def test_a_strip_images_heatmap_overlay_has_the_images_geometry(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    [image] = upload(logged_in, project, [("strip.png", texture_png(W, H, seed=3))])
    heat = np.full((H, W), 10, np.uint8)
    heat[:150, 900:] = 240  # top-right quarter of the strip is hot
    prepared_model(project, scores={image["id"]: 0.9}, heatmaps={image["id"]: heat}, threshold=0.5)

    page.goto(f"/projects/{project.pk}/images/{image['id']}/")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("prediction")).to_contain_text("0.900")
    # the heatmap the page loads is at the image's own size
    size = page.evaluate(
        """async (id) => {
            const pred = await (await fetch(`/api/v1/images/${id}/prediction/`)).json();
            const bmp = await createImageBitmap(await (await fetch(pred.heatmap_url)).blob());
            return [bmp.width, bmp.height];
        }""",
        image["id"],
    )
    assert size == [W, H]
    page.get_by_test_id("heatmap-opacity").fill("100")
    page.get_by_test_id("heatmap-threshold").fill("0.5")
    page.wait_for_timeout(300)  # a frame or two for the redraw

    canvas = page.get_by_test_id("mask-canvas")
    box = canvas.bounding_box()
    shot = np.asarray(PILImage.open(io.BytesIO(canvas.screenshot())).convert("RGB")).astype(int)
    scale_x, scale_y = shot.shape[1] / box["width"], shot.shape[0] / box["height"]
    s = min(box["width"] / W, box["height"] / H) * 0.98
    left, top = (box["width"] - W * s) / 2, (box["height"] - H * s) / 2

    def pixel(x, y):
        return shot[int((top + y * s) * scale_y), int((left + x * s) * scale_x)]

    def coloured(rgb):  # the colour map is warm (red >> blue) where hot; the texture is grey
        return rgb[0] - rgb[2] > 60

    for x, y in ((910, 10), (1190, 140), (1050, 75)):
        assert coloured(pixel(x, y)), (x, y, pixel(x, y))
    for x, y in ((880, 75), (1050, 165), (300, 75), (600, 250), (1190, 290)):
        assert not coloured(pixel(x, y)), (x, y, pixel(x, y))
