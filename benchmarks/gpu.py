"""GPU (or CPU) speed of SuperSimpleNet: inference variants, training presets, and the product's own loops.

One script for every machine. On CUDA it measures, each against the same-run fp32 eager baseline:
- inference: throughput (images/s) at batch 1, 16, 64, 256 and batch-1 latency with the host-to-device
  copy of the image and the copy of score + map back included (as the paper measures), for the paper
  configuration (wide_resnet50_2, paper preset, 256 x 256, random weights: speed does not depend on them)
  and the product default (efficientnet_lite0, fast preset); variants fp32 eager, fp16 autocast,
  channels_last + fp16, torch.compile (max-autotune) + fp16, CUDA graphs (torch.compile
  "reduce-overhead") + fp16, and onnxruntime-gpu / TensorRT when they are installed. Every variant's
  scores and maps are compared with the fp32 ones (max abs difference on the sigmoid scale, tolerance
  `--tolerance`, 2e-2 by default for half precision);
- training: seconds per epoch and to a finished model for the fast and paper presets on a fixed synthetic
  set, with fp16 autocast + GradScaler (what `ml.fit` does on CUDA), and the peak GPU memory;
- the product's paths: `ml.Predictor` on a checkpoint and a `score_project`-like loop (decode PNG files,
  predict, encode heatmap PNGs in a thread pool), against the bare model's throughput.

On a CPU (no CUDA) it runs the same code at small sizes, so the script is tested where it is written:

    .venv/bin/python benchmarks/gpu.py --quick                     # CPU, a minute: checks every path
    .venv/bin/python benchmarks/gpu.py --json /tmp/gpu.json        # on the GPU machine: the full run

Prints tables (and writes JSON with --json).
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpu_inference import COMPILED, PLAIN, Budget, Report, Row, bench_inference, sync  # noqa: E402

from ml import Predictor, Sample, TrainConfig, TrainingCancelled, fit  # noqa: E402 - after the path set-up

# --- training ----------------------------------------------------------------------------------------------


def synthetic_set(folder: Path, count: int, size: int, defective: int) -> list[Sample]:
    """Textured good images and bright-square defects with masks (fixed seeds)."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(count):
        rng = np.random.default_rng(i)
        pixels = (rng.random((size, size, 3)) * 60 + 90).astype(np.uint8)
        mask_path = None
        label = int(i < defective)
        if label:
            y, x = rng.integers(0, size - size // 4, 2)
            pixels[y : y + size // 5, x : x + size // 5] = 250
            mask = np.zeros((size, size), np.uint8)
            mask[y : y + size // 5, x : x + size // 5] = 255
            mask_path = folder / f"{i}_mask.png"
            Image.fromarray(mask).save(mask_path)
        path = folder / f"{i}.png"
        Image.fromarray(pixels).save(path)
        samples.append(Sample(str(path), label, str(mask_path) if mask_path else None))
    return samples


def bench_training(
    preset: str, backbone: str, samples: list[Sample], device: torch.device, args, out: Path, budget: Budget
) -> tuple[Row, Path | None]:
    """Seconds per epoch and to a finished model. A training the time budget stops reports its epochs so far
    and the time a whole training would take at that pace (and no checkpoint)."""
    amp = {"autocast": True} if device.type == "cuda" else {}
    mode = "supervised" if any(s.label for s in samples) else "unsupervised"
    config = TrainConfig.from_preset(
        preset,
        mode=mode,
        backbone=backbone,
        image_size=args.train_size,
        epochs=args.epochs,
        device=str(device),
        pretrained=False,
        **amp,
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    ended: dict[int, float] = {}  # epoch -> when its last step ended (fit's closing report repeats the last epoch)
    planned = [config.epochs]

    def on_progress(p):
        planned[0] = p.epochs
        if p.phase == "train" and p.steps and p.step >= p.steps:
            ended.setdefault(p.epoch, time.perf_counter())

    started = time.perf_counter()
    checkpoint = None
    try:
        checkpoint = Path(fit(config, samples, out, on_progress=on_progress, should_stop=budget.spent).checkpoint_path)
    except TrainingCancelled:
        pass
    total = time.perf_counter() - started
    epochs_seen = [ended[e] for e in sorted(ended)]
    # the first epoch also holds the feature extraction: the per-epoch time is the median of the later ones
    per_epoch = statistics.median(np.diff(epochs_seen)) if len(epochs_seen) > 1 else None
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    note = f"{mode}, {len(samples)} images, {planned[0]} epochs" + (f", peak {peak:.0f} MiB" if peak else "")
    if checkpoint is not None:
        note += f", ms = per epoch, {total:.1f} s to a model"
    else:
        left = (planned[0] - len(epochs_seen)) * (per_epoch or 0)
        note += f", stopped by the time budget after {len(epochs_seen)} epochs: about {total + left:.0f} s in all"
    row = Row(
        "training",
        f"{backbone} {preset}",
        "fp16 autocast + GradScaler" if amp else "fp32",
        config.batch_size,
        latency_ms=None if per_epoch is None else per_epoch * 1000,
        note=note,
    )
    return row, checkpoint


# --- the product's paths ----------------------------------------------------------------------------------


def heatmap_png(anomaly_map: np.ndarray) -> bytes:
    """What the product stores per image (webapp/training/engine.heatmap_png, without importing Django)."""
    pixels = np.clip(np.rint(np.asarray(anomaly_map, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def bench_product(checkpoint: Path, paths: list[str], device: torch.device, args) -> list[Row]:
    predictor = Predictor(checkpoint, device=str(device))
    batch = args.product_batch
    predictor.predict(paths[:batch], batch_size=batch)  # warm-up
    sync(device)
    started = time.perf_counter()
    predictor.predict(paths, batch_size=batch)
    sync(device)
    bare_predict = len(paths) / (time.perf_counter() - started)

    # score_project: chunks of files -> predict -> heatmap PNGs encoded off the critical path
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.encoders) as pool:
        pending = []
        for start in range(0, len(paths), batch):
            results = predictor.predict(paths[start : start + batch], batch_size=batch)
            pending += [pool.submit(heatmap_png, r.anomaly_map) for r in results]
        encoded = sum(len(f.result()) for f in pending)
    loop = len(paths) / (time.perf_counter() - started)
    backend = predictor.meta.get("backend", "?")
    return [
        Row("product", "checkpoint", f"Predictor.predict ({backend})", batch, images_per_s=bare_predict),
        Row(
            "product",
            "checkpoint",
            "score_project loop (decode + predict + PNG)",
            batch,
            images_per_s=loop,
            speedup=loop / bare_predict,
            note=f"{args.encoders} encoder threads, {encoded / 1024:.0f} KiB of PNG",
        ),
    ]


# --- main ----------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto = cuda when available, else cpu")
    parser.add_argument("--quick", action="store_true", help="small sizes (the CPU check of every path)")
    parser.add_argument("--batches", default=None, help="comma-separated inference batch sizes")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument(
        "--tolerance", type=float, default=2e-2, help="max abs diff of fp16 variants (bf16 on a CPU: 4x)"
    )
    parser.add_argument(
        "--compile", choices=("auto", "on", "off"), default="auto", help="torch.compile variants (auto: on CUDA only)"
    )
    parser.add_argument("--no-onnx", dest="onnx", action="store_false", help="skip onnxruntime")
    parser.add_argument("--sections", default="inference,training,product")
    parser.add_argument("--train-images", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None, help="epochs of each training (default: preset's)")
    parser.add_argument("--encoders", type=int, default=4, help="PNG encoder threads in the product loop")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="wall-clock seconds for the whole run; later work is skipped (default: 420 on CUDA, none on a CPU)",
    )
    parser.add_argument("--json", type=Path, default=None, help="rewritten after every row")
    args = parser.parse_args()
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    quick = args.quick or device.type == "cpu"
    args.size = 64 if quick else 256
    args.train_size = 64 if quick else 256
    args.batches = [int(b) for b in (args.batches or ("1,4" if quick else "1,16,64,256")).split(",")]
    args.repeats = args.repeats or (2 if quick else 20)
    args.train_images = args.train_images or (12 if quick else 300)
    args.epochs = args.epochs or (1 if quick else None)
    args.product_batch = 4 if quick else 64
    args.compile = args.compile == "on" or (args.compile == "auto" and device.type == "cuda")
    if args.budget_s is None and device.type == "cuda":
        args.budget_s = 420
    budget = Budget(args.budget_s)
    sections = set(args.sections.split(","))
    started = time.perf_counter()
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    title = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {device} ({gpu}), torch {torch.__version__}, quick={quick}"
    print(f"# {title}, budget {args.budget_s or 'none'} s", flush=True)
    report = Report(args.json, {"device": str(device), "gpu": gpu, "torch": torch.__version__, "title": title})
    configs = {
        "paper: wide_resnet50_2": TrainConfig.from_preset(
            "paper", backbone="wide_resnet50_2", image_size=args.size, pretrained=False
        ),
        "default: efficientnet_lite0": TrainConfig.from_preset(
            "fast", backbone="efficientnet_lite0", image_size=args.size, pretrained=False
        ),
    }
    plain = tuple(v for v in PLAIN if args.onnx or v != "onnxruntime")
    baseline: dict = {}
    # cheapest first: the plain variants, the fast training and the product's loops, the paper training, and
    # the compiled variants last (their compile takes minutes), so a spent budget leaves the core figures
    if "inference" in sections:
        for name, config in configs.items():
            bench_inference(name, config, device, args, plain, baseline, report, budget)
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_set(Path(tmp) / "data", args.train_images, args.train_size, defective=args.train_images // 6)
        presets = [p for p in ("fast", "paper") if "training" in sections or (p == "fast" and "product" in sections)]
        for preset in presets:
            backbone = "efficientnet_lite0" if preset == "fast" else "wide_resnet50_2"
            checkpoint = None
            if budget.spent():
                report.add(Row("training", f"{backbone} {preset}", "-", 0, note="skipped: time budget spent"))
            else:
                row, checkpoint = bench_training(preset, backbone, data, device, args, Path(tmp) / preset, budget)
                report.add(row)
            if preset == "fast" and "product" in sections:
                if checkpoint is None or budget.spent():
                    report.add(Row("product", "checkpoint", "-", 0, note="skipped: time budget spent"))
                else:
                    paths = [s.image_path for s in data] * (1 if quick else 4)
                    report.add(*bench_product(checkpoint, paths, device, args))
    if "inference" in sections and args.compile:
        for name, config in configs.items():
            bench_inference(name, config, device, args, COMPILED, baseline, report, budget)
    print()
    report.table()
    print(f"\n# {time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
