"""One threshold rule on every page: an image whose score equals the threshold is defective.

The threshold is set by PATCH /models/{id}/ to one image's stored score; the gallery badge and filter,
the labeller, review, the API and the CSV all call that image defective, and a score that rounds to the
same three decimals but is lower is shown with the digits that tell it from the threshold.
"""

import csv
import io
import re

import numpy as np
import pytest
from playwright.sync_api import expect

from .helpers import api_client, make_project, prepared_model, texture_png, upload

pytestmark = pytest.mark.browser

AT = float(np.float32(0.5592876))  # 0.5592876076698303: a float32 score as the API sends it
BELOW = float(np.float32(0.5592871))  # "0.559" too, but below the threshold


@pytest.fixture
def at_threshold(logged_in):
    project = make_project(logged_in, auto_retrain=False)
    images = upload(logged_in, project, [(f"t{i}.png", texture_png(160, 120, seed=300 + i)) for i in range(3)])
    at, below, low = (img["id"] for img in images)
    version = prepared_model(project, scores={at: AT, below: BELOW, low: 0.2}, threshold=0.9)
    client = api_client(logged_in)
    response = client.patch(f"/api/v1/models/{version.pk}/", {"threshold": AT}, format="json")
    assert response.status_code == 200 and response.json()["threshold"] == AT
    return project, version, at, below, low


def test_an_image_at_the_threshold_is_defective_in_the_api_and_the_csv(at_threshold, logged_in):
    from webapp.training.models import InferenceBatch, InferenceItem

    project, version, at, below, _ = at_threshold
    client = api_client(logged_in)
    assert client.get(f"/api/v1/images/{at}/prediction/").json()["is_defective"] is True
    assert client.get(f"/api/v1/images/{below}/prediction/").json()["is_defective"] is False
    batch = InferenceBatch.objects.create(project=project, model_version=version, total=2, done=2, status="succeeded")
    for name, score in (("at.png", AT), ("below.png", BELOW)):
        InferenceItem.objects.create(batch=batch, filename=name, file=f"inference/{batch.pk}/{name}", score=score)
    response = client.get(f"/api/v1/inference-batches/{batch.pk}/results/?format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["filename"], r["is_defective"]) for r in rows] == [("at.png", "True"), ("below.png", "False")]


def test_the_gallery_badge_and_filter_call_the_image_at_the_threshold_defective(page, at_threshold):
    project, _, at, below, low = at_threshold
    page.goto(f"/projects/{project.pk}/")
    badge_at = page.locator(f'[data-testid="tile"][data-id="{at}"] [data-testid="score-badge"]')
    badge_below = page.locator(f'[data-testid="tile"][data-id="{below}"] [data-testid="score-badge"]')
    expect(badge_at).to_have_attribute("data-defective", "true")
    expect(badge_at).to_have_class(re.compile(r"\bhot\b"))
    expect(badge_below).to_have_attribute("data-defective", "false")
    # 0.559 would read like the threshold: the badge shows the digits that tell them apart.
    expect(badge_below).to_have_text("0.559287")
    expect(badge_at).to_have_text("0.559")

    page.goto(f"/projects/{project.pk}/?predicted=defective")
    expect(page.get_by_test_id("result-count")).to_have_text("1 matching")
    expect(page.get_by_test_id("tile")).to_have_count(1)
    expect(page.get_by_test_id("tile")).to_have_attribute("data-id", str(at))

    page.goto(f"/projects/{project.pk}/?predicted=good")
    expect(page.get_by_test_id("result-count")).to_have_text("2 matching")
    ids = {page.get_by_test_id("tile").nth(i).get_attribute("data-id") for i in range(2)}
    assert ids == {str(below), str(low)}


def test_the_labeller_says_defective_at_the_threshold_and_shows_the_digits_below_it(page, at_threshold):
    project, _, at, below, _ = at_threshold
    page.goto(f"/projects/{project.pk}/images/{at}/")
    prediction = page.get_by_test_id("prediction")
    expect(prediction).to_contain_text("predicted defective")
    expect(prediction).to_contain_text("Score 0.559 vs threshold 0.559 (at the threshold)")
    expect(prediction).to_have_attribute("data-defective", "true")

    page.goto(f"/projects/{project.pk}/images/{below}/")
    expect(prediction).to_contain_text("Score 0.559287 vs threshold 0.559288")
    expect(prediction).to_contain_text("predicted good")


def test_review_says_predicted_defective_at_the_threshold(page, at_threshold):
    project, _, at, _, _ = at_threshold
    page.goto(f"/projects/{project.pk}/review/")
    expect(page.get_by_test_id("review-item")).to_have_attribute("data-id", str(at))  # highest score first
    score = page.get_by_test_id("review-score")
    expect(score).to_have_text("score 0.559 / threshold 0.559 · predicted defective")
    expect(score).to_have_attribute("data-defective", "true")
    page.keyboard.press("s")  # skip to the next: the one closest to the threshold, just below it
    expect(score).to_contain_text("score 0.559287 / threshold 0.559288")
    expect(score).not_to_contain_text("predicted defective")
