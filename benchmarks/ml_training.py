"""Training cost of SuperSimpleNet on CPU: seconds per epoch and to a finished model, ``fast`` vs ``paper``.

The fast preset is run to the end on N synthetic 256 x 256 images. The paper recipe (300 epochs) is far too
long for a CPU, so it runs ``--paper-epochs`` epochs and the finished-model time is extrapolated from the
measured seconds per epoch (the table says so). Also measures one training step with bf16 autocast, with
channels_last and on a whole map instead of the fast preset's 256 x 256 crop, against the fast step, and the
feature cache's backends (eager torch vs onnxruntime, seconds per image), in the same run.

    .venv/bin/python benchmarks/ml_training.py --images 40 --threads 2
    .venv/bin/python benchmarks/ml_training.py --images 16 --image-size 512 --presets fast
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
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

from ml import Sample, TrainConfig, fit  # noqa: E402
from ml.extract import feature_runner  # noqa: E402
from ml.loss import SupersimplenetLoss  # noqa: E402
from ml.predict import build_model  # noqa: E402
from ml.train import random_crop  # noqa: E402


def feature_seconds(config: TrainConfig, backend: str, images: int = 16, repeats: int = 2) -> float:
    """Seconds per image of the training cache's feature extraction (batches of 16, export excluded)."""
    extractor = build_model(config).extractor.eval()
    run, _ = feature_runner(extractor, config.size, torch.device("cpu"), backend=backend)
    batch = torch.rand(images, 3, *config.size)
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            started = time.perf_counter()
            run(batch)
            times.append(time.perf_counter() - started)
    return float(np.median(times[1:])) / images


def synthetic_images(folder: Path, count: int, size: int) -> list[Sample]:
    rng = np.random.default_rng(0)
    samples = []
    y, x = np.mgrid[0:size, 0:size]
    for i in range(count):
        img = 0.5 + 0.25 * np.sin(2 * np.pi * x / 16 + rng.uniform(0, 6)) + rng.normal(0, 0.03, (size, size))
        path = folder / f"{i:03d}.png"
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).convert("RGB").save(path)
        samples.append(Sample(str(path), 0, None))
    return samples


def step_seconds(config: TrainConfig, autocast: bool, channels_last: bool, repeats: int = 2) -> float:
    """Median seconds of one optimiser step on a batch of cached features."""
    torch.manual_seed(0)
    model = build_model(config).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    with torch.no_grad():
        features = model.extractor(torch.rand(config.batch_size, 3, config.image_size, config.image_size))
    if channels_last:
        features = [f.contiguous(memory_format=torch.channels_last) for f in features]
    side = model.feature_size(config.image_size)
    masks, labels = torch.zeros(config.batch_size, 1, side, side), torch.zeros(config.batch_size)
    optimizer = torch.optim.AdamW(p for p in model.parameters() if p.requires_grad)
    loss_fn = SupersimplenetLoss()
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
        crop = random_crop(config, side, model, torch.Generator().manual_seed(0), masks, labels)
        with ctx:
            out = model.forward_features(features, masks, labels, crop=crop)
        loss = loss_fn(out.map_logits, out.score_logits, out.masks, out.labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return float(np.median(times[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--paper-epochs", type=int, default=1, help="measured paper epochs (then extrapolated)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--random-backbone", action="store_true", help="random weights (speed only; no weight file)")
    parser.add_argument("--presets", default="fast,paper")
    parser.add_argument("--skip-steps", action="store_true", help="skip the bf16 / channels_last step timings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {args.threads} threads, "
        f"{args.images} images {args.image_size}x{args.image_size}, backbone {args.backbone}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        samples = synthetic_images(Path(tmp), args.images, args.image_size)
        rows = []
        extra = {"pretrained": False} if args.random_backbone else {}
        for preset in args.presets.split(","):
            epochs = args.paper_epochs if preset == "paper" else None
            config = TrainConfig.from_preset(preset, backbone=args.backbone, image_size=args.image_size, **extra)
            full_epochs = config.epochs
            run_config = TrainConfig.from_preset(
                preset, backbone=args.backbone, image_size=args.image_size, epochs=epochs, **extra
            )
            marks: dict[str, float] = {}

            def on_progress(p, marks=marks) -> None:
                if p.phase == "features":
                    marks["features_done"] = time.perf_counter()

            started = time.perf_counter()
            result = fit(run_config, samples, Path(tmp) / preset, on_progress=on_progress)
            total = time.perf_counter() - started
            features = marks["features_done"] - started
            per_epoch = (total - features) / run_config.epochs
            finished = features + per_epoch * full_epochs
            measured = run_config.epochs == full_epochs
            rows.append((preset, full_epochs, features, per_epoch, finished, measured, result.history[-1]["loss"]))
        print(f"{'preset':7s} {'epochs':>6s} {'setup+features s':>16s} {'s/epoch':>8s} {'finished model s':>17s}  note")
        for preset, epochs, features, per_epoch, finished, measured, _ in rows:
            note = "measured" if measured else f"extrapolated from {args.paper_epochs} measured epoch(s)"
            print(f"{preset:7s} {epochs:6d} {features:16.1f} {per_epoch:8.1f} {finished:17.1f}  {note}")
        if not args.skip_steps:
            config = TrainConfig.from_preset("fast", backbone=args.backbone, image_size=args.image_size, **extra)
            base = step_seconds(config, False, False)
            print(f"one fast step (batch {config.batch_size}): fp32 {base:.2f} s", end="")
            variants = (
                ("bf16 autocast", config, True, False),
                ("channels_last", config, False, True),
                ("stride-4 map (upscale 2, the paper's)", dataclasses.replace(config, upscale=2), False, False),
                ("whole map (no train_crop)", dataclasses.replace(config, train_crop=None), False, False),
            )
            for name, variant, autocast, cl in variants:
                seconds = step_seconds(variant, autocast, cl)
                print(f"; {name} {seconds:.2f} s ({base / seconds:.2f}x)", end="")
            print()
            torch_s = feature_seconds(config, "torch")
            ort_s = feature_seconds(config, "onnxruntime")
            print(f"features per image: torch {torch_s:.3f} s; onnxruntime {ort_s:.3f} s ({torch_s / ort_s:.2f}x)")


if __name__ == "__main__":
    main()
