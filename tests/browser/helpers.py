"""Test data for the browser tests: small textured images, uploads through the real API, and a
prepared model version with predictions and heatmaps (the worker's part, written the way the
pipeline writes it) so that the pages can be driven without training a network."""

import io
from pathlib import Path

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

ROOT = Path(__file__).resolve().parents[2]
IMG_DIR = ROOT / "docs" / "img"
MAGNETIC_TILE = ROOT.parent / "shared" / "data" / "magnetic_tile"


def texture_png(width: int, height: int, seed: int, defect: tuple[int, int, int, int] | None = None) -> bytes:
    """A grey surface texture; `defect` (x0, y0, x1, y1) darkens a rectangle."""
    rng = np.random.default_rng(seed)
    base = rng.normal(128, 12, size=(height // 4 + 1, width // 4 + 1))
    img = np.kron(base, np.ones((4, 4)))[:height, :width]
    img += rng.normal(0, 4, size=(height, width))
    if defect:
        x0, y0, x1, y1 = defect
        img[y0:y1, x0:x1] -= 60
    buf = io.BytesIO()
    PILImage.fromarray(np.clip(img, 0, 255).astype(np.uint8), "L").save(buf, "PNG")
    return buf.getvalue()


def png_of(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(array.astype(np.uint8), "L").save(buf, "PNG")
    return buf.getvalue()


def api_client(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def make_project(user, name: str = "Line 3 tiles", **settings):
    from webapp.datasets import services

    return services.project_create(owner=user, name=name, **settings)


def upload(user, project, files: list[tuple[str, bytes]]) -> list[dict]:
    """Upload through POST /api/v1/projects/{id}/images/ and return the image objects."""
    client = api_client(user)
    payload = {"files": [_named(name, data) for name, data in files]}
    response = client.post(f"/api/v1/projects/{project.pk}/images/", payload, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def _named(name: str, data: bytes):
    f = io.BytesIO(data)
    f.name = name
    return f


def add_textures(user, project, count: int, size=(96, 72), seed0: int = 0) -> list[dict]:
    return upload(
        user, project, [(f"part_{seed0 + i:03d}.png", texture_png(*size, seed=seed0 + i)) for i in range(count)]
    )


def prepared_model(
    project,
    *,
    scores: dict[int, float],
    heatmaps: dict[int, np.ndarray] | None = None,
    threshold: float = 0.5,
    version: int = 1,
    active: bool = True,
    curves: dict | None = None,
):
    """A finished model version with one prediction (score + 8-bit heatmap PNG) per image id."""
    from webapp.datasets.models import Image
    from webapp.training.models import ModelVersion, Prediction

    mv = ModelVersion.objects.create(
        project=project,
        version=version,
        mode="unsupervised",
        preset="fast",
        backbone="efficientnet_lite0",
        image_size=256,
        threshold=threshold,
        is_active=active,
        checkpoint=f"models/prepared-{project.pk}-{version}.pt",
        metrics={
            "image_auroc": 0.94,
            "image_ap": 0.91,
            "pixel_auroc": 0.97,
            "aupro": 0.88,
            "f1": 0.86,
            "precision": 0.9,
            "recall": 0.83,
        },
        train_counts={"good": 20, "defective": 0, "masks": 0},
        test_counts={"good": 6, "defective": 4, "masks": 4},
        curves=curves if curves is not None else example_curves(),
    )
    for image_id, score in scores.items():
        image = Image.objects.get(pk=image_id)
        if heatmaps and image_id in heatmaps:
            heat = heatmaps[image_id]
        else:
            heat = np.full((image.height, image.width), int(score * 200), np.uint8)
        name = default_storage.save(f"predictions/v{mv.pk}/{image_id}.png", ContentFile(png_of(heat)))
        Prediction.objects.create(image=image, model_version=mv, score=score, heatmap=name)
    return mv


def example_curves() -> dict:
    """ROC/PR curves and a histogram shaped like a decent model's (for the charts, not for any metric)."""
    fpr = [0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1]
    tpr = [0, 0.45, 0.7, 0.82, 0.91, 0.96, 0.99, 1]
    recall = [0, 0.2, 0.4, 0.6, 0.8, 0.9, 1]
    precision = [1, 1, 0.97, 0.93, 0.86, 0.74, 0.4]
    bins = [round(i / 10, 1) for i in range(11)]
    return {
        "roc": {"fpr": fpr, "tpr": tpr},
        "pr": {"precision": precision, "recall": recall},
        "histogram": {
            "bins": bins,
            "good": [9, 14, 11, 6, 3, 1, 0, 0, 0, 0],
            "defective": [0, 0, 1, 1, 2, 3, 4, 5, 4, 3],
        },
    }


def stored_mask(image_id: int) -> np.ndarray | None:
    """The mask the API stores for an image, as a 2-D uint8 array (None if none)."""
    from webapp.datasets.models import Mask

    mask = Mask.objects.filter(image_id=image_id).first()
    if mask is None:
        return None
    with default_storage.open(mask.file.name, "rb") as f:
        img = PILImage.open(f)
        img.load()
    assert img.mode == "L", f"mask stored as {img.mode}, expected a single channel"
    return np.asarray(img)


def wait_until(page, js: str, timeout_s: float = 30.0, interval_s: float = 0.05) -> None:
    """Poll `js` (a function expression, e.g. "() => ...") until it returns true.

    `page.wait_for_function` evaluates its predicate with `eval`, which the pages' Content-Security-Policy
    (no 'unsafe-eval') refuses; `page.evaluate` goes through the DevTools protocol and is allowed."""
    import time

    deadline = time.monotonic() + timeout_s
    while not page.evaluate(js):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {js}")
        time.sleep(interval_s)


def bulk_copies(project, template, count: int) -> None:
    """`count` more image rows in `project` sharing `template`'s stored file (a large project, cheaply)."""
    from webapp.datasets.models import Image

    Image.objects.bulk_create(
        [
            Image(
                project=project,
                file=template.file.name,
                thumbnail=template.thumbnail.name,
                filename=f"bulk_{i:05d}.png",
                sha256=f"{i:064x}",
                width=template.width,
                height=template.height,
            )
            for i in range(count)
        ],
        batch_size=2_000,
    )
