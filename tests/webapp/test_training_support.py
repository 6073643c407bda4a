"""Shared fixtures of the pipeline tests: a fake `ml` (patched fit and Predictor) and images with set pixels.

The fake Predictor scores an image by its mean brightness (0..1) and returns an anomaly map of the
image's own size, so metrics, thresholds and heatmap alignment are real computations on known inputs.
A checkpoint whose bytes are b"inverted" scores 1 - brightness (a model that is worse than useless), one of
b"constant" gives every image 0.25 (a model that sees blank images).
Other test modules import the fixtures from here.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from webapp.datasets import files
from webapp.datasets.models import Image, Label, Mask, Split
from webapp.training import engine

from .factories import ProjectFactory, UserFactory

_counter = iter(range(1, 1_000_000))


def png(width: int = 32, height: int = 24, value: int = 100, mode: str = "RGB") -> bytes:
    color = (value, value, value) if mode == "RGB" else value
    buf = io.BytesIO()
    PILImage.new(mode, (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def make_image(project, *, label=Label.GOOD, split=Split.TRAIN, value=40, mask=False, width=32, height=24) -> Image:
    """An image whose pixels all equal `value` (its fake score is value/255), stored for real."""
    n = next(_counter)
    data = png(width, height, value)
    sha = f"{n:064x}"
    name = files.image_name(sha, "png")
    files.write_once(name, data)
    image = Image.objects.create(
        project=project,
        file=name,
        filename=f"img{n}.png",
        sha256=sha,
        width=width,
        height=height,
        label=label,
        split=split,
        has_mask=mask,
    )
    if mask:
        mask_name = default_storage.save(f"masks/{image.id}/m.png", ContentFile(png(width, height, 255, mode="L")))
        Mask.objects.create(image=image, file=mask_name, area=width * height)
    return image


@dataclass
class FakeResult:
    score: float
    anomaly_map: np.ndarray


class FakePredictor:
    def __init__(self, checkpoint_path: str, device: str = "cpu"):
        kind = Path(checkpoint_path).read_bytes()
        self.inverted, self.constant = kind == b"inverted", kind == b"constant"
        self.calls = 0

    def predict(self, images, batch_size: int = 16):
        self.calls += 1
        results = []
        for item in images:
            array = np.asarray(PILImage.open(item).convert("L")) if isinstance(item, str) else np.asarray(item)
            if array.ndim == 3:
                array = array.mean(axis=2)
            brightness = float(array.mean()) / 255.0
            score = 0.25 if self.constant else 1.0 - brightness if self.inverted else brightness
            results.append(FakeResult(score, np.full(array.shape[:2], score, dtype=np.float32)))
        return results


@dataclass
class FakeFit:
    """Stands in for `ml.fit`: reports progress, honours should_stop, writes model.pt, returns metrics."""

    metrics: dict | None = None
    checkpoint_bytes: bytes = b"good"
    error: Exception | None = None
    during: object = None  # callable run in the middle of training (e.g. new labels arrive)
    sample_depth: int | None = None  # what fit decided for 16-bit images
    calls: list = field(default_factory=list)

    def __call__(self, cfg, samples, out_dir, on_progress=None, should_stop=None, eval_samples=None):
        import ml

        self.calls.append({"cfg": cfg, "samples": list(samples), "eval": list(eval_samples or [])})
        for epoch in (1, 2):
            for step in (1, 2):
                if should_stop and should_stop():
                    raise ml.TrainingCancelled("cancelled")
                if on_progress:
                    fraction = ((epoch - 1) * 2 + step) / 4
                    on_progress(ml.Progress("train", epoch, 2, step, 2, 1.0 / (epoch + step), fraction))
            if epoch == 1 and self.during is not None:
                self.during()
        if self.error is not None:
            raise self.error
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "model.pt").write_bytes(self.checkpoint_bytes)
        metrics = self.metrics
        if metrics is None and eval_samples:
            predictor = FakePredictor(str(out / "model.pt"))
            scores = [r.score for r in predictor.predict([s.image_path for s in eval_samples])]
            metrics = engine.compute_metrics(scores, [s.label for s in eval_samples])
        return type(
            "FitResult",
            (),
            {
                "checkpoint_path": out / "model.pt",
                "history": [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.3}],
                "device": "cpu",
                "train_counts": {
                    "good": sum(s.label == 0 for s in samples),
                    "defective": sum(s.label == 1 for s in samples),
                    "masks": sum(s.mask_path is not None for s in samples),
                },
                "seconds": 0.1,
                "metrics": metrics or {},
                # the config trained: fit decides sample_depth from 16-bit training images (ml.data.training_depth)
                "config": dataclasses.replace(cfg, sample_depth=self.sample_depth),
            },
        )()


@pytest.fixture
def fake_ml(monkeypatch, settings):
    """Patch `fit` and the Predictor; progress is written at every report and no heartbeat thread runs
    (SQLite test transactions and a second thread's connection do not mix; the thread has its own test)."""
    settings.ML_DEVICE = "cpu"
    settings.TRAINING_PROGRESS_SECONDS = 0.0
    settings.TRAINING_HEARTBEAT_SECONDS = 0.0
    fake = FakeFit()
    monkeypatch.setattr(engine, "fit", fake)
    monkeypatch.setattr(engine, "load_predictor", FakePredictor)
    engine.forget_predictors()
    yield fake
    engine.forget_predictors()


@pytest.fixture
def sent(monkeypatch):
    """Records tasks sent to the queue instead of sending them (`broker_up=False` simulates an outage)."""

    class Outbox(list):
        broker_up = True

        def names(self):
            return [name for name, _ in self]

    outbox = Outbox()

    def fake_enqueue(task, *args, **kwargs):
        if not outbox.broker_up:
            return False
        outbox.append((task if isinstance(task, str) else task.name, args))
        return True

    from webapp.training import inference, services

    # Test transactions never commit: run after-commit callbacks (task sends) right away.
    monkeypatch.setattr("django.db.transaction.on_commit", lambda func, using=None, robust=False: func())
    monkeypatch.setattr(services, "enqueue", fake_enqueue)
    monkeypatch.setattr(inference, "enqueue", fake_enqueue)
    return outbox


@pytest.fixture
def owner(db):
    return UserFactory(username="owner")


@pytest.fixture
def tproject(owner):
    """A project with 10 good train images, 2 good + 2 defective (one masked) test images."""
    project = ProjectFactory(owner=owner, name="Tiles", image_size=64)
    for _ in range(10):
        make_image(project, value=30)
    make_image(project, split=Split.TEST, value=20)
    make_image(project, split=Split.TEST, value=40)
    make_image(project, split=Split.TEST, label=Label.DEFECTIVE, value=200, mask=True)
    make_image(project, split=Split.TEST, label=Label.DEFECTIVE, value=220)
    return project


@pytest.fixture
def owner_client(owner):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(owner)
    return client
