"""Cost and effect of the tiled mode (ml/tiling.py) against the untiled baseline, in the same run.

Synthetic "small defects on large images": N good grey machined-surface textures of SIZE x SIZE pixels for
training, and a test split of good and defective images whose defects are dark pits a few dozen pixels wide
(diameter ``--defect`` pixels). Each row trains the ``fast`` preset (unsupervised: max-of-map score) at the
same working resolution, untiled or with a tile grid, then scores the test split with the product's
``Predictor`` (onnxruntime on the CPU). Ratios are against the first row (untiled).

    .venv/bin/python benchmarks/ml_tiling.py --images 24 --size 1024 --tilings off 2x2 --threads 2

Weak labels in tiled mode: ``--defective N`` adds N defective training images (pits like the test split's)
and ``--labels`` trains each tiling once per way of labelling them: ``none`` (unsupervised, good images only),
``dropped`` (supervised, the defective images left out: what tiled training did with defective images
without a mask before they formed bags), ``weak`` (supervised, defective without masks: each image's tiles a
bag, ml/tiling.py) and ``masks`` (supervised, with their masks: the reference).

    .venv/bin/python benchmarks/ml_tiling.py --images 16 --defective 8 --size 1024 --defect 10 --contrast 0.3 \
        --tilings 2x2 --labels dropped weak masks
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml import Predictor, Sample, TrainConfig, fit  # noqa: E402
from ml.metrics import compute_metrics  # noqa: E402


def texture(rng: np.random.Generator, size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    img = 0.5 + 0.2 * np.sin(2 * np.pi * x / 24 + rng.uniform(0, 6)) + 0.08 * np.sin(2 * np.pi * y / 40)
    return img + rng.normal(0, 0.03, img.shape)


def write_data(
    folder: Path, n_train: int, n_test: int, size: int, defect: int, contrast: float, n_defective: int = 0
) -> tuple[list, list, list]:
    """(good training samples, test samples, defective training samples with their masks)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)

    def save(img: np.ndarray, name: str) -> str:
        path = folder / name
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).convert("RGB").save(path)
        return str(path)

    y, x = np.mgrid[0:size, 0:size]

    def defective(name: str) -> Sample:
        img = texture(rng, size)
        cy, cx = rng.uniform(defect, size - defect, 2)
        mask = (y - cy) ** 2 + (x - cx) ** 2 <= (defect / 2) ** 2
        img[mask] *= 1.0 - contrast
        mask_path = folder / f"{name}_mask.png"
        Image.fromarray((mask * 255).astype(np.uint8)).save(mask_path)
        return Sample(save(img, f"{name}.png"), 1, str(mask_path))

    train = [Sample(save(texture(rng, size), f"train_{i}.png"), 0, None) for i in range(n_train)]
    test = [Sample(save(texture(rng, size), f"good_{i}.png"), 0, None) for i in range(n_test)]
    test += [defective(f"bad_{i}") for i in range(n_test)]
    return train, test, [defective(f"train_bad_{i}") for i in range(n_defective)]


def labelled(good: list, bad: list, labels: str) -> tuple[str, list]:
    """(training mode, training samples) for one ``--labels`` choice (module docstring)."""
    if labels == "none":
        return "unsupervised", good
    if labels == "dropped":
        return "supervised", good
    if labels == "weak":
        return "supervised", good + [Sample(s.image_path, 1, None) for s in bad]
    return "supervised", good + bad


def run(
    train: list, test: list, image_size: int, tiling: str, epochs: int, out: Path, mode: str = "unsupervised"
) -> dict:
    config = TrainConfig.from_preset(
        "fast", mode=mode, image_size=image_size, tiling=tiling, epochs=epochs, device="cpu"
    )
    started = time.perf_counter()
    result = fit(config, train, out)
    train_s = time.perf_counter() - started
    predictor = Predictor(result.checkpoint_path, device="cpu")
    predictor.predict([test[0].image_path])  # warm-up
    started = time.perf_counter()
    scores, labels, maps, masks = predictor.score_samples(test, batch_size=8)
    infer_s = (time.perf_counter() - started) / len(test)
    metrics = compute_metrics(scores, labels, maps, masks)
    h, w = predictor.input_size
    return {
        "tiling": tiling,
        "pixels": f"{h}x{w}",
        "train_s": train_s,
        "infer_s": infer_s,
        "image_auroc": metrics["image_auroc"],
        "pixel_auroc": metrics["pixel_auroc"],
        "aupro": metrics["aupro"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=24, help="good training images")
    parser.add_argument("--test", type=int, default=10, help="good and defective test images (each)")
    parser.add_argument("--size", type=int, default=1024, help="side of the synthetic images")
    parser.add_argument("--defect", type=int, default=24, help="defect diameter in image pixels")
    parser.add_argument("--contrast", type=float, default=0.65, help="share of brightness a pit takes away")
    parser.add_argument("--image-size", type=int, default=256, help="working resolution (one tile)")
    parser.add_argument("--tilings", nargs="+", default=["off", "2x2"])
    parser.add_argument("--defective", type=int, default=0, help="defective training images (for --labels)")
    parser.add_argument("--labels", nargs="+", default=["none"], choices=["none", "dropped", "weak", "masks"])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} {platform.processor() or ''}, "
        f"{args.threads} torch threads, torch {torch.__version__}"
    )
    print(
        f"# {args.images} good {args.size}x{args.size} training images, test {args.test} good + {args.test} "
        f"defective (pits {args.defect} px wide, {args.contrast:.0%} darker), {args.defective} defective training "
        f"images, fast preset, {args.epochs} epochs, tile {args.image_size}x{args.image_size}, overlap 0.25"
    )
    with tempfile.TemporaryDirectory() as tmp:
        good, test, bad = write_data(
            Path(tmp) / "data", args.images, args.test, args.size, args.defect, args.contrast, args.defective
        )
        rows = []
        for tiling in args.tilings:
            for labels in args.labels:
                mode, train = labelled(good, bad, labels)
                row = run(train, test, args.image_size, tiling, args.epochs, Path(tmp) / f"{tiling}-{labels}", mode)
                rows.append({**row, "labels": labels})
                print(f"# measured {tiling} {labels}", flush=True)
    base = rows[0]
    header = "| tiling | labels | model input | train s | x | s/image | x | image AUROC | pixel AUROC | AUPRO |"
    print(header)
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['tiling']} | {r['labels']} | {r['pixels']} | {r['train_s']:.1f} | "
            f"{r['train_s'] / base['train_s']:.2f} | "
            f"{r['infer_s']:.3f} | {r['infer_s'] / base['infer_s']:.2f} | {r['image_auroc']:.3f} | "
            f"{r['pixel_auroc']:.3f} | {r['aupro']:.3f} |"
        )


if __name__ == "__main__":
    main()
