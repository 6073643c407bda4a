"""Screenshots of every page for the README (docs/img/), taken on a realistic project so that they
stay current with the UI. Images come from ../shared/data/magnetic_tile when it is there (real
industrial parts), else from generated textures. The model is prepared, not trained: its heatmaps
are the dataset's defect masks, blurred, so the pictures show what a good model's output looks like.
"""

import io
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone
from PIL import Image as PILImage
from PIL import ImageFilter
from playwright.sync_api import expect

from webapp.datasets.models import Image, Mask
from webapp.training import engine
from webapp.training.models import ModelVersion, Prediction, TrainingJob

from .helpers import MAGNETIC_TILE, api_client, make_project, prepared_model, texture_png, upload, wait_until

pytestmark = pytest.mark.browser

DEFECT_TYPES = ["blowhole", "break", "crack", "fray", "uneven"]


def _samples() -> list[tuple[str, bytes, bytes | None]]:
    """(name, image bytes, mask PNG bytes or None): 14 good and 10 defective parts."""
    if (MAGNETIC_TILE / "test").is_dir():
        out = []
        for path in sorted((MAGNETIC_TILE / "train" / "good").glob("*.jpg"))[:14]:
            out.append((path.name, path.read_bytes(), None))
        for kind in DEFECT_TYPES:
            for path in sorted((MAGNETIC_TILE / "test" / kind).glob("*.jpg"))[:2]:
                mask = MAGNETIC_TILE / "ground_truth" / kind / f"{path.stem}_mask.png"
                out.append((path.name, path.read_bytes(), mask.read_bytes() if mask.exists() else None))
        return out
    out = [(f"good_{i:02d}.png", texture_png(320, 240, seed=i), None) for i in range(14)]
    for i in range(10):
        box = (60 + 10 * i, 50 + 8 * i, 120 + 10 * i, 110 + 8 * i)
        m = np.zeros((240, 320), np.uint8)
        m[box[1] : box[3], box[0] : box[2]] = 255
        out.append((f"defect_{i:02d}.png", texture_png(320, 240, seed=50 + i, defect=box), _png(m)))
    return out


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(array, "L").save(buf, "PNG")
    return buf.getvalue()


def _heat(mask_png: bytes | None, size: tuple[int, int], seed: int) -> np.ndarray:
    w, h = size
    rng = np.random.default_rng(seed)
    base = rng.normal(22, 6, size=(h, w))
    if mask_png:
        m = PILImage.open(io.BytesIO(mask_png)).convert("L").resize((w, h))
        blurred = np.asarray(m.filter(ImageFilter.GaussianBlur(radius=max(2, w // 60))), dtype=np.float64)
        base += blurred * 0.9
    return np.clip(base, 0, 255).astype(np.uint8)


class _DeviationPredictor:
    """Stands in for a model on the inspect page: the map is each pixel's blurred distance from the image's
    median, the score its 99th percentile. Dark blowholes and cracks light up like a real model's output."""

    def predict(self, paths, batch_size=16):
        from types import SimpleNamespace

        out = []
        for path in paths:
            img = PILImage.open(path).convert("L")
            a = np.asarray(img, np.float32)
            dev = PILImage.fromarray(np.clip(np.abs(a - np.median(a)) * 3, 0, 255).astype(np.uint8))
            m = np.asarray(dev.filter(ImageFilter.GaussianBlur(radius=max(2, img.width // 80))), np.float32) / 255
            out.append(SimpleNamespace(score=float(np.percentile(m, 99)), anomaly_map=m))
        return out


def test_screenshots_of_every_page(page, logged_in, screenshots: Path, eager_celery, monkeypatch, tmp_path):
    user = logged_in
    project = make_project(
        user,
        "Magnetic tile — line 3",
        description="Press 2, ferrite tiles, top face",
        auto_retrain=True,
        retrain_after_labels=5,
    )
    make_project(user, "Bearing rings — final inspection")
    samples = _samples()
    images = upload(user, project, [(name, data) for name, data, _ in samples])
    client = api_client(user)
    scores, heatmaps = {}, {}
    rng = np.random.default_rng(0)
    for n, (img, (_, _, mask)) in enumerate(zip(images, samples, strict=True)):
        defective = mask is not None or n >= 14
        scores[img["id"]] = float(rng.uniform(0.68, 0.98) if defective else rng.uniform(0.04, 0.45))
        heatmaps[img["id"]] = _heat(mask, (img["width"], img["height"]), seed=n)
        if n < 9:
            client.patch(f"/api/v1/images/{img['id']}/", {"label": "good"}, format="json")
        elif 14 <= n < 19 and mask:
            client.put(f"/api/v1/images/{img['id']}/mask/", mask, content_type="image/png")
    TrainingJob.objects.filter(project=project).delete()  # automatic retraining queued one: not shown here
    job = TrainingJob.objects.create(
        project=project,
        mode="auto",
        resolved_mode="unsupervised",
        preset="fast",
        epochs=12,
        status="succeeded",
        progress=1.0,
        epoch=12,
        phase="evaluate",
        started_at=timezone.now(),
        finished_at=timezone.now(),
        history=[{"epoch": e, "loss": round(0.95 * 0.78**e + 0.18, 4)} for e in range(1, 13)],
    )
    # v1 was a little less sure of everything, and a few images swap sides between the versions.
    v1_scores = {k: min(0.99, v * 0.9 + (0.2 if n % 7 == 3 else 0)) for n, (k, v) in enumerate(scores.items())}
    prepared_model(project, scores=v1_scores, version=1, active=False, threshold=0.5)
    v2 = prepared_model(project, scores=scores, heatmaps=heatmaps, version=2, threshold=0.5592876)
    per_type = {
        kind: {"count": 2, "recall": r, "image_auroc": a}
        for kind, r, a in zip(DEFECT_TYPES, [1.0, 0.5, 1.0, 0.5, 1.0], [0.98, 0.81, 0.95, 0.77, 0.92], strict=True)
    }
    ModelVersion.objects.filter(pk=v2.pk).update(
        job=job,
        mode="supervised",
        train_counts={"good": 9, "defective": 5, "masks": 5},
        metrics={**v2.metrics, "per_defect_type": per_type},
    )
    # Two mistakes to show: a good test image scored high, a defective one scored low.
    test_good = [i["id"] for i in images[:9] if Image.objects.get(pk=i["id"]).split == "test"]
    test_bad = list(Image.objects.filter(project=project, label="defective", split="test").values_list("id", flat=True))
    if test_good and test_bad:
        Prediction.objects.filter(model_version=v2, image_id=test_good[0]).update(score=0.71)
        Prediction.objects.filter(model_version=v2, image_id=test_bad[0]).update(score=0.41)

    page.goto("/")
    expect(page.get_by_test_id("project-item")).to_have_count(2)
    page.screenshot(path=str(screenshots / "projects.png"))

    page.goto(f"/projects/{project.pk}/?ordering=-score")
    expect(page.get_by_test_id("tile")).to_have_count(len(samples))
    wait_until(page, "() => Array.from(document.querySelectorAll('.tile img')).every(i => i.complete)")
    page.get_by_test_id("tile-check").nth(0).click()
    page.get_by_test_id("tile-check").nth(2).click(modifiers=["Shift"])
    page.screenshot(path=str(screenshots / "gallery.png"))

    defective = Mask.objects.filter(image__project=project).order_by("-area").first().image
    page.goto(f"/projects/{project.pk}/images/{defective.pk}/")
    expect(page.get_by_test_id("mask-from-heatmap")).to_be_enabled()
    page.get_by_test_id("heatmap-threshold").fill("0.35")
    page.get_by_test_id("mask-canvas").hover()
    page.screenshot(path=str(screenshots / "labeller.png"))

    page.goto(f"/projects/{project.pk}/review/")
    expect(page.get_by_test_id("review-heatmap")).to_have_attribute("data-ready", "true")
    page.screenshot(path=str(screenshots / "review.png"))

    page.goto(f"/projects/{project.pk}/training/")
    expect(page.get_by_test_id("model-row")).to_have_count(2)
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded")
    page.screenshot(path=str(screenshots / "training.png"), full_page=True)

    page.goto(f"/projects/{project.pk}/models/")
    expect(page.get_by_test_id("version-row")).to_have_count(2)
    expect(page.get_by_test_id("compare-result")).to_be_visible()
    wait_until(page, "() => Array.from(document.querySelectorAll('.heat-thumb img')).every(i => i.complete)")
    for thumb in page.locator("[data-testid=fp-image], [data-testid=fn-image]").all():
        thumb.scroll_into_view_if_needed()
        expect(thumb).not_to_have_attribute("data-heatmap", "pending")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(screenshots / "models.png"), full_page=True)

    monkeypatch.setattr(engine, "predictor_for", lambda version: _DeviationPredictor())
    new_parts = []
    for name, data, _ in samples[9:19]:
        path = tmp_path / f"new_{name}"
        path.write_bytes(data)
        new_parts.append(str(path))
    page.goto(f"/projects/{project.pk}/inspect/")
    expect(page.get_by_test_id("inspect-model").locator("option")).to_have_count(2)
    page.get_by_test_id("inspect-input").set_input_files(new_parts)
    expect(page.get_by_test_id("inspect-row")).to_have_count(len(new_parts))
    page.locator('[data-testid="inspect-row"]').nth(0).get_by_test_id("inspect-pick").check()
    page.get_by_test_id("view-grid").click()
    for tile in page.get_by_test_id("inspect-tile").all():
        tile.scroll_into_view_if_needed()
        expect(tile).to_have_attribute("data-heatmap", "drawn")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(screenshots / "inspect.png"), full_page=True)

    from webapp.datasets.models import Membership

    colleague = type(user).objects.create_user(username="r.meyer", password="colleague-password-1")
    Membership.objects.create(project=project, user=colleague, role="labeller")
    page.goto(f"/projects/{project.pk}/members/")
    expect(page.get_by_test_id("member-row")).to_have_count(2)
    page.screenshot(path=str(screenshots / "members.png"), full_page=True)
