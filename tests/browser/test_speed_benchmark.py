"""Page speed on a 10,000-image project, measured in the real browser (a benchmark: it prints figures and
asserts only that the pages finished; `benchmarks/browser_speed.py` runs it and docs/benchmarks.md has
the results).

- gallery: navigation start -> 120 tiles in the grid and every visible thumbnail decoded;
- labeller: navigation start -> image and saved mask drawn on the canvas (`data-ready`).

Each page is opened once cold (empty HTTP cache) and then warm (the browser's cache, as a user moving
between pages has it); the median of the warm runs is reported.
"""

import statistics

import numpy as np
import pytest
from playwright.sync_api import expect

from webapp.datasets.models import Image
from webapp.training.models import Prediction

from .helpers import add_textures, api_client, bulk_copies, make_project, png_of, prepared_model, wait_until

pytestmark = pytest.mark.browser

RUNS = 5
# 120 tiles, and every thumbnail in the viewport decoded (those below the fold load lazily, later).
GALLERY_READY = """() => {
  if (document.querySelectorAll('[data-testid=tile]').length < 120) return false;
  const h = window.innerHeight;
  const shown = (i) => i.getBoundingClientRect().top > h || (i.complete && i.naturalWidth > 0);
  return Array.from(document.querySelectorAll('.tile img')).every(shown);
}"""


def ten_thousand(user):
    project = make_project(user, auto_retrain=False)
    [seed] = add_textures(user, project, 1, size=(320, 240))
    template = Image.objects.get(pk=seed["id"])
    bulk_copies(project, template, 9_999)
    ids = list(Image.objects.filter(project=project).values_list("id", flat=True))
    mv = prepared_model(project, scores={seed["id"]: 0.7})
    heat = Prediction.objects.get(model_version=mv).heatmap.name
    Prediction.objects.bulk_create(
        [Prediction(image_id=i, model_version=mv, score=(i % 997) / 997, heatmap=heat) for i in ids if i != seed["id"]],
        batch_size=2_000,
    )
    mask = np.zeros((240, 320), np.uint8)
    mask[60:120, 80:160] = 255
    api_client(user).put(f"/api/v1/images/{seed['id']}/mask/", png_of(mask), content_type="image/png")
    return project, seed["id"]


def timed(page, url, ready) -> float:
    page.goto(url)
    ready()
    return page.evaluate("performance.now()")  # ms since this navigation started


def test_gallery_and_labeller_speed_on_ten_thousand_images(page, logged_in, context):
    project, image_id = ten_thousand(logged_in)
    gallery = f"/projects/{project.pk}/?ordering=-score"
    labeller = f"/projects/{project.pk}/images/{image_id}/?pos=1"

    def gallery_ready():
        wait_until(page, GALLERY_READY, interval_s=0.01)

    def labeller_ready():
        expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true", timeout=30_000)
        assert page.get_by_test_id("mask-status").inner_text() == "saved"

    figures = {}
    for name, url, ready in [
        ("gallery, 120 per page", gallery, gallery_ready),
        ("labeller, image + mask", labeller, labeller_ready),
    ]:
        cdp = context.new_cdp_session(page)
        cdp.send("Network.clearBrowserCache")
        cold = timed(page, url, ready)
        warm = [timed(page, url, ready) for _ in range(RUNS)]
        figures[name] = (cold, statistics.median(warm), max(warm))
    assert page.get_by_test_id("mask-canvas").get_attribute("data-ready") == "true"
    print("\n| page (10,000-image project) | cold ms | warm median ms | warm max ms |")
    print("| --- | ---: | ---: | ---: |")
    for name, (cold, med, worst) in figures.items():
        print(f"| {name} | {cold:.0f} | {med:.0f} | {worst:.0f} |")
