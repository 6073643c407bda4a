"""Small synthetic data for the ml tests: textured parts with and without defects, MVTec AD layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ml.data import Sample


@pytest.fixture(autouse=True)
def _one_thread():
    """The CI machine has two cores shared by everything: keep torch to one thread per test."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def textured_image(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A regular striped texture with mild noise and a random phase, like a machined surface."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi)
    base = 0.5 + 0.25 * np.sin(2 * np.pi * x / 8 + phase) + 0.1 * np.sin(2 * np.pi * y / 16)
    base += rng.normal(0, 0.03, base.shape)
    rgb = np.stack([base, base * 0.9 + 0.05, base * 0.8 + 0.1], axis=-1)
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def add_defect(rng: np.random.Generator, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paint a dark blob (a pit) at a random place; returns the image and its {0, 255} mask."""
    size = image.shape[0]
    r = rng.uniform(size / 10, size / 6)
    cy, cx = rng.uniform(r, size - r, 2)
    y, x = np.mgrid[0:size, 0:size]
    mask = (y - cy) ** 2 + (x - cx) ** 2 <= r**2
    out = image.copy()
    out[mask] = (out[mask] * 0.15).astype(np.uint8)
    return out, (mask * 255).astype(np.uint8)


def write_mvtec(
    root: Path, n_train: int, n_test_good: int, n_test_bad: int, size: int = 64, seed: int = 0, n_train_bad: int = 0
) -> Path:
    """An MVTec AD folder: train/good, test/good, test/pit, ground_truth/pit (and train/pit if asked)."""
    rng = np.random.default_rng(seed)
    for folder in ("train/good", "test/good", "test/pit", "ground_truth/pit", "train/pit"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(n_train):
        Image.fromarray(textured_image(rng, size)).save(root / "train/good" / f"{i:03d}.png")
    for i in range(n_test_good):
        Image.fromarray(textured_image(rng, size)).save(root / "test/good" / f"{i:03d}.png")
    for split, count in (("test", n_test_bad), ("train", n_train_bad)):
        for i in range(count):
            image, mask = add_defect(rng, textured_image(rng, size))
            name = f"{split}_{i:03d}"
            Image.fromarray(image).save(root / split / "pit" / f"{name}.png")
            Image.fromarray(mask).save(root / "ground_truth/pit" / f"{name}_mask.png")
    return root


@pytest.fixture
def mvtec_dir(tmp_path: Path) -> Path:
    return write_mvtec(tmp_path / "parts", n_train=12, n_test_good=6, n_test_bad=6)


@pytest.fixture
def tiny_samples(mvtec_dir: Path) -> list[Sample]:
    return [Sample(str(p), 0, None) for p in sorted((mvtec_dir / "train/good").iterdir())]
