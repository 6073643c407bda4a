"""A 4000x3000 image: painting stays on the offscreen canvas at full resolution, and the stored mask
holds the stroke. The test also measures animation-frame intervals while painting and prints them
(run with `-s`); it asserts nothing about time (docs/ui.md records the figures)."""

import pytest
from playwright.sync_api import expect

from .helpers import make_project, stored_mask, texture_png, upload

pytestmark = pytest.mark.browser

W, H = 4000, 3000


def test_painting_a_4000x3000_image(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    [image] = upload(logged_in, project, [("plate-4k.png", texture_png(W, H, seed=1))])
    page.goto(f"/projects/{project.pk}/images/{image['id']}/")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true", timeout=30_000)
    page.evaluate(
        """() => { window.__frames = []; let last = performance.now();
        const tick = (now) => { window.__frames.push(now - last); last = now; requestAnimationFrame(tick); };
        requestAnimationFrame(tick); }"""
    )
    box = page.get_by_test_id("mask-canvas").bounding_box()
    scale = min(box["width"] / W, box["height"] / H) * 0.98
    left = box["x"] + (box["width"] - W * scale) / 2
    top = box["y"] + (box["height"] - H * scale) / 2
    page.get_by_test_id("brush-size").fill("80")
    page.mouse.move(left + 500 * scale, top + 1500 * scale)
    page.mouse.down()
    page.mouse.move(left + 3500 * scale, top + 1500 * scale, steps=60)
    page.mouse.up()
    frames = sorted(page.evaluate("window.__frames.slice(1)"))
    page.get_by_test_id("save-mask").click()
    expect(page.get_by_test_id("mask-status")).to_have_text("saved", timeout=30_000)

    mask = stored_mask(image["id"])
    assert mask.shape == (H, W)
    assert mask[1500, 600:3400].min() == 255
    assert 70 <= (mask[:, 2000] > 0).sum() <= 90
    print(
        f"\n4000x3000 stroke: {len(frames)} frames, median {frames[len(frames) // 2]:.1f} ms, "
        f"p95 {frames[int(len(frames) * 0.95)]:.1f} ms between frames"
    )
