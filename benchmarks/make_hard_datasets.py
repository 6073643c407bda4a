"""Build the two seeded synthetic datasets that look like issue 9's failures (MVTec AD layout + manifest.csv).

- ``parts``: small machined gears (1024 x 1024 grey) at a random rotation and position on a textured
  background; 300 good training images; test defects are scratches and pits a few dozen pixels wide.
- ``strips``: long strips (1250 high x 500 wide, grey) with a brushed texture; thin cracks and small spots
  as defects; supervised: 200 good + 18 defective training images with masks.

Everything is procedural (numpy + PIL) and seeded per image, so the same command rebuilds the same files:

    .venv/bin/python benchmarks/make_hard_datasets.py --out data/bench          # both, about 2 minutes
    .venv/bin/python benchmarks/make_hard_datasets.py --out data/bench --only parts --scale 0.5

The folders are large (about 300 MB) and are not committed; ``data/`` is git-ignored.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np
from PIL import Image


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in about [-1, 1]: a coarse random grid upsampled bilinearly."""
    h, w = shape
    coarse = rng.standard_normal((cells + 1, max(2, round(cells * w / h)) + 1)).astype(np.float32)
    img = Image.fromarray(coarse).resize((w, h), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32)


def soft(d: np.ndarray, width: float = 1.0) -> np.ndarray:
    """Anti-aliased inside-indicator of a signed distance (negative inside)."""
    return np.clip(0.5 - d / width, 0.0, 1.0)


# --------------------------------------------------------------------------------------------- parts
def gear(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """A grey gear image and its part mask (float32 H x W)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx = size / 2 + rng.uniform(-0.1, 0.1) * size
    cy = size / 2 + rng.uniform(-0.1, 0.1) * size
    angle = rng.uniform(0, 2 * math.pi)
    r_out = size * 0.22
    teeth, depth = 14, size * 0.022
    dx, dy = xx - cx, yy - cy
    r = np.sqrt(dx * dx + dy * dy)
    theta = np.arctan2(dy, dx) - angle
    profile = r_out + depth * np.clip(2.2 * np.cos(teeth * theta), -1, 1)
    hole = size * 0.05
    # A keyway notch and an off-centre bore make the rotation visible.
    key = (np.abs((theta + math.pi) % (2 * math.pi) - math.pi) < 0.12) & (r < hole * 1.6)
    bore_x, bore_y = cx + 0.12 * size * math.cos(angle + 1.3), cy + 0.12 * size * math.sin(angle + 1.3)
    bore = np.sqrt((xx - bore_x) ** 2 + (yy - bore_y) ** 2)
    part = soft(r - profile, 1.5) * (1 - soft(r - hole, 1.5)) * (1 - key) * (1 - soft(bore - size * 0.025, 1.5))
    # Background: smooth illumination, cloth-like grain.
    bg = 55 + 10 * smooth_noise(rng, (size, size), 3) + 4 * rng.standard_normal((size, size)).astype(np.float32)
    # Part surface: turned rings, a chamfer ring, fine grain.
    rings = 8 * np.sin(r / (size * 0.004) + rng.uniform(0, 6.28)) * np.exp(-((r - r_out * 0.55) ** 2) / (r_out**2))
    chamfer = 25 * soft(np.abs(r - r_out * 0.82) - size * 0.006, 2.0)
    light = 12 * (dx * math.cos(1.0) + dy * math.sin(1.0)) / r_out
    surface = 165 + rings + chamfer - light + 3 * rng.standard_normal((size, size)).astype(np.float32)
    img = bg * (1 - part) + surface * part
    return img, part, {"cx": cx, "cy": cy, "r_in": hole * 1.8, "r_out": r_out * 0.78}


def add_defect(rng: np.random.Generator, img: np.ndarray, geo: dict, kind: str, size: int) -> np.ndarray:
    """Paint one defect on the part surface; returns its binary mask."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    rad = rng.uniform(geo["r_in"], geo["r_out"])
    phi = rng.uniform(0, 2 * math.pi)
    px, py = geo["cx"] + rad * math.cos(phi), geo["cy"] + rad * math.sin(phi)
    if kind == "scratch":
        length = rng.uniform(0.035, 0.07) * size
        width = rng.uniform(0.004, 0.006) * size
        a = rng.uniform(0, math.pi)
        ux, uy = math.cos(a), math.sin(a)
        t = np.clip((xx - px) * ux + (yy - py) * uy, -length / 2, length / 2)
        d = np.sqrt((xx - px - t * ux) ** 2 + (yy - py - t * uy) ** 2) - width / 2
        shape = soft(d, 1.5)
        img -= shape * rng.uniform(55, 80)
    else:  # pit: a dark elliptical dent with a bright rim
        ra = rng.uniform(0.012, 0.022) * size
        rb = ra * rng.uniform(0.6, 1.0)
        a = rng.uniform(0, math.pi)
        u = ((xx - px) * math.cos(a) + (yy - py) * math.sin(a)) / ra
        v = (-(xx - px) * math.sin(a) + (yy - py) * math.cos(a)) / rb
        e = np.sqrt(u * u + v * v)
        shape = soft((e - 1) * ra, 1.5)
        img -= shape * rng.uniform(60, 90)
        img += 25 * soft(np.abs(e - 1.15) * ra - 1.5, 1.5)
        shape = np.maximum(shape, soft((e - 1.3) * ra, 1.5))
    return (shape > 0.5).astype(np.uint8)


# -------------------------------------------------------------------------------------------- strips
def strip(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    streaks = smooth_noise(rng, (8, w), 1)[0:1] * 0 + rng.standard_normal((1, w)).astype(np.float32)
    streaks = np.convolve(streaks[0], np.ones(5) / 5, mode="same")[None]
    base = 125 + 10 * smooth_noise(rng, (h, w), 4) + 6 * streaks
    return base + 4 * rng.standard_normal((h, w)).astype(np.float32)


def add_crack(rng: np.random.Generator, img: np.ndarray, kind: str) -> np.ndarray:
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mask = np.zeros((h, w), np.float32)
    if kind == "crack":
        x, y = rng.uniform(0.15, 0.85) * w, rng.uniform(0.1, 0.9) * h
        a = rng.uniform(0, 2 * math.pi)
        width = rng.uniform(2.5, 4.0)
        for _ in range(int(rng.integers(4, 9))):
            a += rng.normal(0, 0.5)
            step = rng.uniform(12, 30)
            nx, ny = np.clip(x + step * math.cos(a), 5, w - 5), np.clip(y + step * math.sin(a), 5, h - 5)
            vx, vy = nx - x, ny - y
            seg = max(1e-3, vx * vx + vy * vy)
            t = np.clip(((xx - x) * vx + (yy - y) * vy) / seg, 0, 1)
            d = np.sqrt((xx - x - t * vx) ** 2 + (yy - y - t * vy) ** 2) - width / 2
            mask = np.maximum(mask, soft(d, 1.2))
            x, y = nx, ny
        img -= mask * rng.uniform(50, 75)
    else:  # spot
        x, y = rng.uniform(0.15, 0.85) * w, rng.uniform(0.1, 0.9) * h
        r = rng.uniform(5, 9)
        mask = soft(np.sqrt((xx - x) ** 2 + (yy - y) ** 2) - r, 1.2)
        img -= mask * rng.uniform(50, 75)
    return (mask > 0.5).astype(np.uint8)


def save(img: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, compress_level=1)


def build(root: Path, name: str, splits: dict, seed: int, scale: float) -> None:
    """splits: {(split, kind): count}; kind "good" or a defect name."""
    rows = []
    index = 0
    for (split, kind), count in splits.items():
        for k in range(count):
            rng = np.random.default_rng([seed, index])
            index += 1
            stem = f"{split}_{kind}_{k:03d}"
            if name == "parts":
                size = int(round(1024 * scale))
                img, _, geo = gear(rng, size)
                mask = None if kind == "good" else add_defect(rng, img, geo, kind, size)
            else:
                h, w = int(round(1250 * scale)), int(round(500 * scale))
                img = strip(rng, h, w)
                mask = None if kind == "good" else add_crack(rng, img, kind)
            rel = Path(split) / kind / f"{stem}.png"
            save(img, root / rel)
            mrel = ""
            if mask is not None:
                mrel = str(Path("ground_truth") / kind / f"{stem}_mask.png")
                save(mask * 255.0, root / mrel)
            label = "good" if kind == "good" else "defective"
            rows.append([str(rel), mrel, label, kind, split, split])
        print(f"{name}: {split}/{kind} {count}", flush=True)
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "mask", "label", "defect_type", "split_unsupervised", "split_supervised"])
        writer.writerows(rows)


PARTS = {("train", "good"): 300, ("test", "good"): 60, ("test", "scratch"): 30, ("test", "pit"): 30}
STRIPS = {
    ("train", "good"): 200,
    ("train", "crack"): 12,
    ("train", "spot"): 6,
    ("test", "good"): 80,
    ("test", "crack"): 28,
    ("test", "spot"): 12,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/bench")
    parser.add_argument("--only", choices=("parts", "strips"))
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--scale", type=float, default=1.0, help="image side scale (1.0: 1024 / 1250 x 500)")
    args = parser.parse_args()
    out = Path(args.out)
    if args.only in (None, "parts"):
        build(out / "parts", "parts", PARTS, args.seed, args.scale)
    if args.only in (None, "strips"):
        build(out / "strips", "strips", STRIPS, args.seed + 1, args.scale)


if __name__ == "__main__":
    main()
