"""The models page: versions with metrics and the per-defect-type table, export downloads with their size,
a comparison of two versions on the same test images, and the active model's mistakes."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from webapp.datasets.models import Image
from webapp.training import engine

from .helpers import add_textures, api_client, make_project, prepared_model

pytestmark = pytest.mark.browser


@pytest.fixture
def two_versions(logged_in):
    """8 test images (4 good, 4 defective) scored by v1 (threshold 0.5) and v2 (threshold 0.6, active)."""
    project = make_project(logged_in, auto_retrain=False)
    ids = [i["id"] for i in add_textures(logged_in, project, 8)]
    good, bad = ids[:4], ids[4:]
    Image.objects.filter(pk__in=good).update(label="good", split="test")
    Image.objects.filter(pk__in=bad).update(label="defective", split="test", defect_type="crack")
    Image.objects.filter(pk=bad[0]).update(defect_type="scratch")
    v1 = {good[0]: 0.2, good[1]: 0.3, good[2]: 0.55, good[3]: 0.7, bad[0]: 0.4, bad[1]: 0.8, bad[2]: 0.9, bad[3]: 0.45}
    v2 = {good[0]: 0.1, good[1]: 0.2, good[2]: 0.3, good[3]: 0.75, bad[0]: 0.7, bad[1]: 0.85, bad[2]: 0.95, bad[3]: 0.5}
    m1 = prepared_model(project, scores=v1, threshold=0.5, version=1, active=False)
    m2 = prepared_model(project, scores=v2, threshold=0.6, version=2, active=True)
    m2.metrics = {
        **m2.metrics,
        "per_defect_type": {
            "crack": {"count": 3, "recall": 2 / 3, "image_auroc": 0.9},
            "scratch": {"count": 1, "recall": 1.0, "image_auroc": None},
        },
        "untyped_defects": {"count": 2, "recall": 0.5, "image_auroc": 0.75},
        "threshold_cross_validated": {"f1": 0.62, "precision": 0.6, "recall": 0.64, "folds": 4},
    }
    m2.save()
    return project, m1, m2, good, bad


def test_versions_metrics_per_type_and_export_with_size(page, logged_in, two_versions, monkeypatch, tmp_path):
    project, m1, m2, good, bad = two_versions

    def fake_export(checkpoint, out, fmt, threshold=None):
        Path(out).write_bytes(b"x" * (2048 if fmt == "onnx" else 3000))

    monkeypatch.setattr(engine, "export_model", fake_export)
    page.goto(f"/projects/{project.pk}/models/")
    rows = page.get_by_test_id("version-row")
    expect(rows).to_have_count(2)
    v2 = page.locator('[data-testid="version-row"][data-version="2"]')
    expect(v2.locator('[data-metric="image_auroc"]')).to_have_text("0.940")
    # its threshold was tuned on the test split: F1 there comes with what the rule gets on unseen images
    unseen = v2.locator('[data-metric="f1"]').get_by_test_id("f1-cross-validated")
    expect(unseen).to_have_text("unseen 0.620")
    expect(unseen).to_have_attribute("title", re.compile(r"not chosen on \(4 folds\): F1 0\.620"))
    v1 = page.locator('[data-testid="version-row"][data-version="1"]')
    expect(v1.get_by_test_id("f1-cross-validated")).to_have_count(0)
    expect(page.get_by_test_id("per-type-row")).to_have_count(3)
    expect(page.locator('[data-testid="per-type-row"][data-type="crack"]')).to_contain_text("0.667")
    # the defects without a type have the last row, so the counts add up to the test split's
    untyped = page.get_by_test_id("per-type-row").last
    expect(untyped).to_contain_text("no type")
    expect(untyped).to_contain_text("0.750")

    with page.expect_download() as info:
        v2.get_by_test_id("export-onnx").click()
    download = info.value
    assert download.suggested_filename == f"project-{project.pk}-v2.onnx"
    target = tmp_path / "model.onnx"
    download.save_as(target)
    assert target.read_bytes() == b"x" * 2048
    expect(v2.get_by_test_id("export-status")).to_have_attribute("data-size", "2048")
    expect(v2.get_by_test_id("export-onnx")).to_contain_text("2 kB")
    with page.expect_download() as info:
        v2.get_by_test_id("export-torch").click()
    assert info.value.suggested_filename == f"project-{project.pk}-v2.pt"


def test_comparison_of_two_versions_on_the_same_test_images(page, logged_in, two_versions):
    project, m1, m2, good, bad = two_versions
    api = api_client(logged_in).get(f"/api/v1/models/{m1.pk}/compare/{m2.pk}/").json()
    page.goto(f"/projects/{project.pk}/models/")
    summary = page.get_by_test_id("compare-summary")  # v1 against the active v2 by default
    expect(summary).to_have_attribute("data-images", "8")
    # v1 -> v2: good[2] 0.55>=0.5 defective -> 0.3 good (fixed); bad[0] 0.4 good -> 0.7 defective (fixed);
    # bad[3] 0.45 good -> 0.5 good (same); bad[1..2] defective both; good[3] defective both.
    expect(summary).to_have_attribute("data-changed", "2")
    assert api["summary"]["changed"] == 2 and api["summary"]["fixed"] == 2 and api["summary"]["broken"] == 0
    expect(summary).to_contain_text("2 fixed, 0 broken")
    expect(page.get_by_test_id("changed-image")).to_have_count(2)
    changed_ids = sorted(
        int(x) for x in page.get_by_test_id("changed-image").evaluate_all("els => els.map(e => e.dataset.id)")
    )
    assert changed_ids == sorted([good[2], bad[0]])
    expect(page.locator('[data-testid="compare-metric"][data-metric="threshold"]')).to_contain_text("0.500")
    # the metrics side by side are measured on these 8 images (both versions store 0.94, each on its own split)
    auroc = page.locator('[data-testid="compare-metric"][data-metric="image_auroc"]')
    expect(auroc).to_contain_text("0.750")
    expect(auroc).to_contain_text("0.875")
    expect(auroc).to_contain_text("+0.125")
    expect(page.locator('[data-testid="compare-metric"][data-metric="pixel_auroc"]')).to_have_count(0)
    expect(page.get_by_test_id("compare-scatter").locator("circle.pt")).to_have_count(8)
    # Swap: the same images, the verdict changes read the other way.
    page.get_by_test_id("compare-a").select_option(str(m2.pk))
    page.get_by_test_id("compare-b").select_option(str(m1.pk))
    page.get_by_test_id("compare").click()
    expect(summary).to_contain_text("0 fixed, 2 broken")


def test_mistakes_view_shows_false_positives_and_negatives_with_heatmaps(page, logged_in, two_versions):
    project, m1, m2, good, bad = two_versions
    page.goto(f"/projects/{project.pk}/models/")
    # v2 at 0.6: good[3] (0.75) is a false positive; bad[3] (0.5) a false negative.
    expect(page.get_by_test_id("fp-image")).to_have_count(1)
    expect(page.get_by_test_id("fn-image")).to_have_count(1)
    fp = page.get_by_test_id("fp-image")
    expect(fp).to_have_attribute("data-id", str(good[3]))
    expect(page.get_by_test_id("fn-image")).to_have_attribute("data-id", str(bad[3]))
    # The counts are today's split, not the version's frozen metrics: the note says so.
    expect(page.get_by_test_id("mistakes-note")).to_contain_text("on today's test split")
    expect(page.get_by_test_id("mistakes-note")).to_contain_text("frozen when it trained")
    fp.scroll_into_view_if_needed()  # heatmaps are decoded as their tiles come into view
    expect(fp).to_have_attribute("data-heatmap", "drawn")
    fp.locator("a").click()
    page.wait_for_url(f"**/images/{good[3]}/**")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("position")).to_have_text("1 / 1")


def test_compare_endpoint_refuses_versions_of_two_projects(logged_in, two_versions):
    project, m1, m2, *_ = two_versions
    other = make_project(logged_in, name="Other", auto_retrain=False)
    [img] = add_textures(logged_in, other, 1, seed0=50)
    m3 = prepared_model(other, scores={img["id"]: 0.3}, version=1)
    response = api_client(logged_in).get(f"/api/v1/models/{m1.pk}/compare/{m3.pk}/")
    assert response.status_code == 400 and "same project" in response.json()["detail"]
