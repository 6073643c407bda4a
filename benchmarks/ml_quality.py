"""Quality of SuperSimpleNet on your own data: any number of MVTec-layout folders or CSV manifests.

For every dataset x mode x preset x backbone x image size it trains with ``ml.fit`` on the train split
(optionally a deterministic subset), scores the test split and prints one row: image AUROC / AP of the
configured score and of every score variant (classification head ``cls``, max of the map ``seg``, their
``mean``), pixel AUROC, AUPRO, training seconds and seconds per image at inference (the product's
``Predictor``, batch 16, image loading included). Progress goes to stderr, a table to stdout, and one JSON
line per run to ``--jsonl``.

    .venv/bin/python benchmarks/ml_quality.py data/bench/parts                       # fast, unsupervised
    .venv/bin/python benchmarks/ml_quality.py ../shared/data/magnetic_tile/manifest.csv --modes supervised \\
        --presets fast --backbones efficientnet_lite0 efficientnet_lite1 --image-sizes 256 320
    .venv/bin/python benchmarks/ml_quality.py DIR --set perlin_thr=0.6 --set noise_std=0.5   # any TrainConfig field

A manifest is read with its ``split_<mode>`` column (``--split-column`` to choose another).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml import Predictor, TrainConfig, fit  # noqa: E402
from ml.data import image_to_tensor, load_mask, read_dataset  # noqa: E402
from ml.geometry import format_size, parse_size  # noqa: E402
from ml.metrics import compute_metrics, cross_validated_threshold_metrics  # noqa: E402
from ml.predict import image_logit  # noqa: E402

MAGNETIC_TILE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "magnetic_tile" / "manifest.csv"
VARIANTS = ("cls", "seg", "mean")


def evenly(items: list, limit: int | None) -> list:
    """A deterministic subset spread over the whole list (keeps the defect-type mix)."""
    if not limit or limit >= len(items):
        return items
    idx = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in idx]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def evaluate(predictor: Predictor, config: TrainConfig, test: list) -> dict:
    """Every score variant, pixel metrics of the map and where good images peak (border band or inside)."""
    scores: dict[str, list[float]] = {name: [] for name in VARIANTS}
    maps, masks, labels, border_peaks = [], [], [], 0
    with torch.inference_mode():
        for start in range(0, len(test), 16):
            chunk = test[start : start + 16]
            batch = [image_to_tensor(s.image_path, config.image_size, config.sample_depth) for s in chunk]
            output = predictor.model(torch.stack(batch))
            for name in VARIANTS:
                scores[name].extend(torch.sigmoid(image_logit(output, name)).tolist())
            amap = output.anomaly_map[:, 0]
            side = amap.shape[-1]
            band = max(1, side // 16)
            for s, m in zip(chunk, amap, strict=True):
                labels.append(s.label)
                masks.append(
                    None if s.mask_path is None and s.label else load_mask(s.mask_path, config.image_size)[0].numpy()
                )
                if s.label == 0:
                    y, x = divmod(int(m.argmax()), m.shape[-1])
                    border_peaks += min(y, x, m.shape[-2] - 1 - y, side - 1 - x) < band
            maps.extend(torch.sigmoid(amap).numpy())
    row: dict = {}
    for name in VARIANTS:
        own = name == config.score
        metrics = compute_metrics(scores[name], labels, maps if own else None, masks if own else None)
        row[f"image_auroc_{name}"] = metrics["image_auroc"]
        row[f"image_ap_{name}"] = metrics["image_ap"]
        if name == config.score:
            unseen = cross_validated_threshold_metrics(scores[name], labels)
            row.update(
                image_auroc=metrics["image_auroc"],
                image_ap=metrics["image_ap"],
                pixel_auroc=metrics["pixel_auroc"],
                aupro=metrics["aupro"],
                # F1 at the threshold tuned on the test split, and the same rule on test images it was not tuned on
                f1_tuned=metrics["f1"],
                f1_unseen=unseen["f1"] if unseen else None,
            )
    good = max(1, labels.count(0))
    row["good_peaks_at_border"] = round(border_peaks / good, 3)
    return row


def run(args: argparse.Namespace, data: str, mode: str, preset: str, backbone: str, size: str) -> dict:
    train = read_dataset(data, "train", mode, args.split_column)
    good = evenly([s for s in train if s.label == 0], args.train_limit)
    defective = evenly([s for s in train if s.label == 1], args.defect_limit) if mode == "supervised" else []
    test = read_dataset(data, "test", mode, args.split_column)[:: args.test_step]
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    config = TrainConfig.from_preset(
        preset, mode=mode, backbone=backbone, image_size=parse_size(size), epochs=args.epochs, device="cpu", **overrides
    )
    label = f"{name_of(data)} {mode} {preset} {backbone} {size}"
    log(f"== {label}: {len(good)} good + {len(defective)} defective train, {len(test)} test")
    last = [-1]

    def progress(p) -> None:
        if p.phase != "train" or p.epoch != last[0]:
            if p.phase == "train" and p.step != p.steps:
                return
            last[0] = p.epoch
            loss = "" if p.loss is None else f" loss {p.loss:.4f}"
            log(f"   {p.phase} epoch {p.epoch}/{p.epochs} ({100 * p.fraction:.0f} %){loss}")

    with tempfile.TemporaryDirectory() as out_dir:
        result = fit(config, good + defective, out_dir, on_progress=progress)
        config = result.config  # "auto" resolved
        predictor = Predictor(result.checkpoint_path, device="cpu", backend="torch")
        quality = evaluate(predictor, config, test)
        if args.keep_models:
            keep = Path(args.keep_models) / f"{name_of(data)}-{mode}-{preset}-{backbone}-{size}-{len(overrides)}.pt"
            keep.parent.mkdir(parents=True, exist_ok=True)
            keep.write_bytes(Path(result.checkpoint_path).read_bytes())
        timed = [s.image_path for s in test[:32]]
        product = Predictor(result.checkpoint_path, device="cpu")
        product.predict(timed[:2])
        started = time.perf_counter()
        product.predict(timed, batch_size=16)
        per_image = (time.perf_counter() - started) / max(1, len(timed))
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()} {torch.get_num_threads()} threads",
        "dataset": str(data),
        "mode": mode,
        "preset": preset,
        "backbone": backbone,
        "image_size": size if size != "auto" else f"auto ({format_size(config.size)})",
        "epochs": config.epochs,
        "score": config.score,
        "overrides": overrides,
        "train_good": len(good),
        "train_defective": len(defective),
        "test": len(test),
        "train_seconds": round(result.seconds, 1),
        "seconds_per_image": round(per_image, 4),
        "loss": [round(h["loss"], 4) for h in result.history],
        **quality,
    }


def name_of(data: str) -> str:
    path = Path(data)
    return path.parent.name if path.suffix.lower() == ".csv" else path.name


def fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", default=[str(MAGNETIC_TILE)], help="MVTec folders or manifest.csv")
    parser.add_argument("--modes", nargs="+", default=["unsupervised"], choices=("unsupervised", "supervised"))
    parser.add_argument("--presets", nargs="+", default=["fast"], choices=("fast", "paper"))
    parser.add_argument("--backbones", nargs="+", default=["efficientnet_lite0"])
    parser.add_argument(
        "--image-sizes", nargs="+", default=["256"], help="working resolutions: 256, 640x232 (height x width), auto"
    )
    parser.add_argument("--epochs", type=int, help="override the preset's epochs")
    parser.add_argument("--train-limit", type=int, help="good training images to use (evenly spaced subset)")
    parser.add_argument("--defect-limit", type=int, help="defective training images to use (supervised)")
    parser.add_argument("--test-step", type=int, default=1, help="use every n-th test image")
    parser.add_argument("--split-column", help="manifest split column (default split_<mode>)")
    parser.add_argument("--set", action="append", default=[], help="TrainConfig override KEY=JSON, e.g. noise_std=0.5")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep-models", help="copy every trained checkpoint into this folder")
    parser.add_argument("--jsonl", help="append one JSON line per run to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    for data in args.datasets:
        for mode in args.modes:
            for preset in args.presets:
                for backbone in args.backbones:
                    for size in args.image_sizes:
                        row = run(args, data, mode, preset, backbone, size)
                        rows.append(row)
                        log(json.dumps(row))
                        if args.jsonl:
                            with open(args.jsonl, "a") as handle:
                                handle.write(json.dumps(row) + "\n")
    header = (
        "| dataset | mode | preset | backbone | size | score | I-AUROC | I-AP | cls / seg / mean AUROC | P-AUROC "
        "| AUPRO | F1 tuned / unseen | train s | s/img |"
    )
    print(header)
    print("|" + " --- |" * 4 + " ---: |" * 10)
    for r in rows:
        variants = " / ".join(fmt(r[f"image_auroc_{n}"]) for n in VARIANTS)
        print(
            f"| {name_of(r['dataset'])} | {r['mode']} | {r['preset']} | {r['backbone']} | {r['image_size']} "
            f"| {r['score']} | {fmt(r['image_auroc'])} | {fmt(r['image_ap'])} | {variants} | {fmt(r['pixel_auroc'])} "
            f"| {fmt(r['aupro'])} | {fmt(r['f1_tuned'])} / {fmt(r['f1_unseen'])} | {r['train_seconds']} "
            f"| {r['seconds_per_image']} |"
        )


if __name__ == "__main__":
    main()
