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

from webapp.datasets.models import Mask
from webapp.training.models import ModelVersion, TrainingJob

from .helpers import MAGNETIC_TILE, api_client, make_project, prepared_model, texture_png, upload

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


def test_screenshots_of_every_page(page, logged_in, screenshots: Path):
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
    prepared_model(project, scores={k: v * 0.9 for k, v in scores.items()}, version=1, active=False, threshold=0.5)
    v2 = prepared_model(project, scores=scores, heatmaps=heatmaps, version=2, threshold=0.58)
    ModelVersion.objects.filter(pk=v2.pk).update(
        job=job, mode="supervised", train_counts={"good": 9, "defective": 5, "masks": 5}
    )

    page.goto("/")
    expect(page.get_by_test_id("project-item")).to_have_count(2)
    page.screenshot(path=str(screenshots / "projects.png"))

    page.goto(f"/projects/{project.pk}/?ordering=-score")
    expect(page.get_by_test_id("tile")).to_have_count(len(samples))
    page.wait_for_function("Array.from(document.querySelectorAll('.tile img')).every(i => i.complete)")
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
