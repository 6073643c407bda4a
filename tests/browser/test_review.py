"""The review queue: unlabeled images, most useful first, one key per decision."""

import numpy as np
import pytest
from playwright.sync_api import expect

from webapp.datasets.models import Image

from .helpers import make_project, prepared_model, texture_png, upload

pytestmark = pytest.mark.browser


def test_it_orders_by_usefulness_and_accepts_with_one_key(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    scores = [0.99, 0.97, 0.95, 0.58, 0.3, 0.1]
    images = upload(
        logged_in,
        project,
        [
            (f"r{i}.png", texture_png(320, 240, seed=200 + i, defect=(100, 80, 160, 140) if s > 0.9 else None))
            for i, s in enumerate(scores + [0.2])
        ],
    )
    ids = [img["id"] for img in images]
    Image.objects.filter(pk=ids[-1]).update(label="good")  # already labelled: not in the queue
    heat = {}
    for i, s in zip(ids, scores + [0.2], strict=True):
        m = np.full((240, 320), 20, np.uint8)
        m[80:140, 100:160] = int(255 * s)
        heat[i] = m
    prepared_model(project, scores=dict(zip(ids, scores + [0.2], strict=True)), heatmaps=heat, threshold=0.6)
    by_score = dict(zip(scores, ids, strict=False))

    page.goto(f"/projects/{project.pk}/review/")
    item = page.get_by_test_id("review-item")
    expect(page.get_by_test_id("review-status")).to_contain_text("6 unlabeled images")
    # Most anomalous first, then the one closest to the threshold, interleaved.
    expect(item).to_have_attribute("data-id", str(by_score[0.99]))
    expect(page.get_by_test_id("review-heatmap")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("review-score")).to_contain_text("score 0.990 / threshold 0.600")

    page.keyboard.press("d")
    expect(item).to_have_attribute("data-id", str(by_score[0.58]))
    page.keyboard.press("g")
    expect(item).to_have_attribute("data-id", str(by_score[0.97]))
    page.keyboard.press("s")  # skip: stays unlabeled
    expect(item).to_have_attribute("data-id", str(by_score[0.3]))
    page.get_by_test_id("accept-good").click()
    expect(item).to_have_attribute("data-id", str(by_score[0.95]))
    expect(page.get_by_test_id("review-progress")).to_have_attribute("data-pending", "0")

    labels = dict(Image.objects.filter(project=project).values_list("id", "label"))
    assert labels[by_score[0.99]] == "defective"
    assert labels[by_score[0.58]] == "good"
    assert labels[by_score[0.97]] == "unlabeled"
    assert labels[by_score[0.3]] == "good"


def test_without_a_model_it_reviews_in_upload_order_and_says_so(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    upload(logged_in, project, [(f"n{i}.png", texture_png(64, 48, seed=300 + i)) for i in range(2)])
    page.goto(f"/projects/{project.pk}/review/")
    expect(page.get_by_test_id("review-status")).to_contain_text("no model scores yet")
    expect(page.get_by_test_id("review-score")).to_have_text("no score yet")
    page.keyboard.press("g")
    page.keyboard.press("g")
    expect(page.get_by_test_id("review-status")).to_have_text("Nothing to review: every image is labelled.")
    assert set(Image.objects.filter(project=project).values_list("label", flat=True)) == {"good"}
