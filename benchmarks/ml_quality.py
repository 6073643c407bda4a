"""Quality of SuperSimpleNet on the real magnetic-tile data: unsupervised and supervised protocols.

Trains with ``ml.fit`` on the manifest's train split (optionally a deterministic subset), evaluates on its
test split and prints image AUROC / AP for each image-score variant (classification head, max of the map,
their mean), pixel AUROC, AUPRO and the training time. One JSON line per run goes to ``--jsonl``.

    .venv/bin/python benchmarks/ml_quality.py --mode unsupervised --preset fast --train-limit 60 --test-step 3
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from ml import Predictor, TrainConfig, fit
from ml.data import image_to_tensor, load_mask, read_manifest
from ml.metrics import compute_metrics
from ml.predict import image_logit

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "magnetic_tile" / "manifest.csv"


def evenly(items: list, limit: int | None) -> list:
    """A deterministic subset spread over the whole list (keeps the defect-type mix)."""
    if not limit or limit >= len(items):
        return items
    idx = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in idx]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--mode", default="unsupervised", choices=("unsupervised", "supervised"))
    parser.add_argument("--preset", default="fast", choices=("fast", "paper"))
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--train-limit", type=int, help="good training images to use (evenly spaced subset)")
    parser.add_argument("--defect-limit", type=int, help="defective training images to use (supervised)")
    parser.add_argument("--test-step", type=int, default=1, help="use every n-th test image")
    parser.add_argument("--set", action="append", default=[], help="config override KEY=JSON, e.g. feature_norm=true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--jsonl", help="append one JSON line per run to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    column = f"split_{args.mode}"
    train = read_manifest(args.data, "train", column)
    good = evenly([s for s in train if s.label == 0], args.train_limit)
    defective = evenly([s for s in train if s.label == 1], args.defect_limit) if args.mode == "supervised" else []
    test = read_manifest(args.data, "test", column)[:: args.test_step]
    # The supervised test split is the unsupervised one minus the defective images supervised runs train on:
    # every run is also scored on it so that the two protocols are compared on the same images.
    common = read_manifest(args.data, "test", "split_supervised")[:: args.test_step]
    own = {s.image_path for s in test}
    test_count = len(test)
    test = test + [s for s in common if s.image_path not in own]
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    config = TrainConfig.from_preset(
        args.preset, mode=args.mode, backbone=args.backbone, image_size=args.image_size, epochs=args.epochs, **overrides
    )
    with tempfile.TemporaryDirectory() as out_dir:
        result = fit(config, good + defective, out_dir)
        predictor = Predictor(result.checkpoint_path, device="cpu", backend="torch")

    variants: dict[str, list[float]] = {"cls": [], "seg": [], "mean": []}
    maps, masks, labels = [], [], []
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(test), 16):
            chunk = test[start : start + 16]
            output = predictor.model(torch.stack([image_to_tensor(s.image_path, config.image_size) for s in chunk]))
            for name in variants:
                variants[name].extend(torch.sigmoid(image_logit(output, name)).tolist())
            maps.extend(torch.sigmoid(output.anomaly_map[:, 0]).numpy())
            for s in chunk:
                labels.append(s.label)
                masks.append(
                    None if s.mask_path is None and s.label else load_mask(s.mask_path, config.image_size)[0].numpy()
                )
    eval_seconds = time.perf_counter() - started
    position = {s.image_path: i for i, s in enumerate(test)}
    keep = [position[s.image_path] for s in common]
    row = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()} {torch.get_num_threads()} threads",
        "mode": args.mode,
        "preset": args.preset,
        "backbone": args.backbone,
        "epochs": config.epochs,
        "overrides": overrides,
        "train_good": len(good),
        "train_defective": len(defective),
        "test": test_count,
        "train_seconds": round(result.seconds, 1),
        "eval_seconds": round(eval_seconds, 1),
        "loss": [round(h["loss"], 4) for h in result.history],
    }
    n = test_count
    for name, scores in variants.items():
        metrics = compute_metrics(
            scores[:n], labels[:n], maps[:n] if name == "cls" else None, masks[:n] if name == "cls" else None
        )
        row[f"image_auroc_{name}"] = metrics["image_auroc"]
        row[f"image_ap_{name}"] = metrics["image_ap"]
        if name == "cls":
            row["pixel_auroc"] = metrics["pixel_auroc"]
            row["aupro"] = metrics["aupro"]
    subset = compute_metrics(
        [variants[config.score][i] for i in keep],
        [labels[i] for i in keep],
        [maps[i] for i in keep],
        [masks[i] for i in keep],
    )
    row["common_test"] = len(keep)
    for key in ("image_auroc", "image_ap", "pixel_auroc", "aupro"):
        row[f"common_{key}"] = subset[key]
    row["score"] = config.score
    line = json.dumps(row)
    print(line)
    if args.jsonl:
        with open(args.jsonl, "a") as handle:
            handle.write(line + "\n")
    for key in ("image_auroc_cls", "image_auroc_seg", "image_auroc_mean", "pixel_auroc", "aupro", "common_image_auroc"):
        value = row[key]
        print(f"{key:18s} {'n/a' if value is None else f'{value:.3f}'}")


if __name__ == "__main__":
    main()
