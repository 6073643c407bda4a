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
import contextlib
import io
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml import Predictor, Sample, TrainConfig, fit  # noqa: E402 - after the path set-up
from ml.predict import ExportWrapper, build_model  # noqa: E402


@dataclass
class Row:
    section: str
    config: str
    variant: str
    batch: int
    images_per_s: float | None = None
    latency_ms: float | None = None
    speedup: float | None = None
    max_abs_diff: float | None = None
    ok: bool | None = None
    note: str = ""


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 2) -> float:
    """Median seconds of `repeats` calls after `warmup` calls, the device synchronised around each."""
    for _ in range(warmup):
        fn()
    sync(device)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        sync(device)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


# --- inference ---------------------------------------------------------------------------------------------


def inference_variants(wrapper: torch.nn.Module, device: torch.device, args) -> dict[str, Callable]:
    """name -> callable(batch on device) returning (scores, maps) in float32."""
    half = torch.float16 if device.type == "cuda" else torch.bfloat16

    def eager(net, dtype=None, channels_last=False):
        def run(batch):
            if channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            ctx = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
            with torch.inference_mode(), ctx:
                score, amap = net(batch)
            return score.float(), amap.float()

        return run

    variants = {"fp32 eager (baseline)": eager(wrapper)}
    variants[f"{'fp16' if device.type == 'cuda' else 'bf16'} autocast"] = eager(wrapper, half)
    last = ExportWrapper(wrapper.model, wrapper.score).eval().to(memory_format=torch.channels_last)
    variants["channels_last + half"] = eager(last, half, channels_last=True)
    if args.compile:
        for mode, label in (
            ("max-autotune-no-cudagraphs", "torch.compile max-autotune"),
            ("reduce-overhead", "CUDA graphs"),
        ):
            if mode == "reduce-overhead" and device.type != "cuda":
                continue
            try:
                compiled = torch.compile(last, mode=mode, dynamic=False)
            except Exception as exc:  # noqa: BLE001 - a variant that cannot build is reported, not fatal
                print(f"  {label}: cannot compile ({type(exc).__name__}: {exc})")
                continue
            variants[f"{label} + half"] = eager(compiled, half, channels_last=True)
    return variants


def onnxruntime_variant(wrapper: torch.nn.Module, size: int, device: torch.device) -> tuple[str, Callable] | None:
    """onnxruntime with the TensorRT, CUDA or CPU provider (the best one installed), or None."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    from ml.predict import onnx_bytes

    available = ort.get_available_providers()
    wanted = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
    if device.type == "cuda" and not wanted:
        return None
    providers = wanted or ["CPUExecutionProvider"]
    model_bytes = onnx_bytes(wrapper.cpu().float(), size)
    wrapper.to(device)
    session = ort.InferenceSession(model_bytes, providers=providers)

    def run(batch):
        score, amap = session.run(None, {"images": batch.detach().cpu().numpy()})
        return torch.from_numpy(score), torch.from_numpy(amap)

    return f"onnxruntime {providers[0].replace('ExecutionProvider', '')}", run


def bench_inference(name: str, config: TrainConfig, device: torch.device, args) -> list[Row]:
    size = config.image_size
    torch.manual_seed(0)  # the same random weights in every run
    model = build_model(config).eval().to(device)
    wrapper = ExportWrapper(model, config.score).eval()
    generator = torch.Generator().manual_seed(0)
    reference_input = torch.rand(4, 3, size, size, generator=generator).to(device)
    with torch.inference_mode():
        ref_score, ref_map = wrapper(reference_input)
    variants = inference_variants(wrapper, device, args)
    extra = onnxruntime_variant(wrapper, size, device) if args.onnx else None
    if extra:
        variants[extra[0]] = extra[1]
    rows: list[Row] = []
    baseline: dict[int, float] = {}
    for variant, run in variants.items():
        try:
            score, amap = run(reference_input)
        except Exception as exc:  # noqa: BLE001
            rows.append(Row("inference", name, variant, 0, note=f"failed: {type(exc).__name__}: {exc}"[:120]))
            continue
        diff = float(
            max(
                (torch.sigmoid(score.cpu()) - torch.sigmoid(ref_score.float().cpu())).abs().max(),
                (amap.cpu() - ref_map.float().cpu()).abs().max(),
            )
        )
        # fp32 variants must match to float rounding; half precision within --tolerance (bf16, with 3 fewer
        # mantissa bits than fp16, within 4x that)
        tolerance = 1e-4 if "fp32" in variant else args.tolerance * (4 if device.type != "cuda" else 1)
        ok = diff <= tolerance
        # batch-1 latency, copies included: a pinned host image in, score + map back to the host
        host = torch.rand(1, 3, size, size).pin_memory() if device.type == "cuda" else torch.rand(1, 3, size, size)

        def one(run=run, host=host):
            s, m = run(host.to(device, non_blocking=True))
            return s.cpu(), m.cpu()

        latency = timed(one, device, args.repeats) * 1000
        for batch in args.batches:
            images = torch.rand(batch, 3, size, size, generator=generator).to(device)
            seconds = timed(lambda run=run, images=images: run(images), device, max(2, args.repeats // 2))
            throughput = batch / seconds
            if variant.startswith("fp32 eager"):
                baseline[batch] = throughput
            rows.append(
                Row(
                    "inference",
                    name,
                    variant,
                    batch,
                    images_per_s=throughput,
                    latency_ms=latency if batch == args.batches[0] else None,
                    speedup=throughput / baseline[batch] if batch in baseline else None,
                    max_abs_diff=diff,
                    ok=ok,
                    note=f"tolerance {tolerance:g}" if batch == args.batches[0] else "",
                )
            )
    del model, wrapper
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


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
    preset: str, backbone: str, samples: list[Sample], device: torch.device, args, out: Path
) -> tuple[Row, Path]:
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
    epochs_seen: list[float] = []

    def on_progress(p):
        if p.phase == "train" and p.steps and p.step >= p.steps:
            epochs_seen.append(time.perf_counter())

    started = time.perf_counter()
    result = fit(config, samples, out, on_progress=on_progress)
    total = time.perf_counter() - started
    per_epoch = statistics.median(np.diff([started, *epochs_seen])) if len(epochs_seen) > 1 else None
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    note = f"{mode}, {len(samples)} images, {config.epochs} epochs" + (f", peak {peak:.0f} MiB" if peak else "")
    row = Row(
        "training",
        f"{backbone} {preset}",
        "fp16 autocast + GradScaler" if amp else "fp32",
        config.batch_size,
        latency_ms=None if per_epoch is None else per_epoch * 1000,
        note=note + f", ms = per epoch, {total:.1f} s to a model",
    )
    return row, Path(result.checkpoint_path)


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


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'section':10s} {'config':28s} {'variant':44s} {'batch':>5s} {'img/s':>9s} {'ms':>9s} "
        f"{'x base':>7s} {'max|d|':>8s} ok"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.section:10s} {r.config:28s} {r.variant:44s} {r.batch:5d} "
            f"{'' if r.images_per_s is None else f'{r.images_per_s:9.1f}':>9s} "
            f"{'' if r.latency_ms is None else f'{r.latency_ms:9.2f}':>9s} "
            f"{'' if r.speedup is None else f'{r.speedup:7.2f}':>7s} "
            f"{'' if r.max_abs_diff is None else f'{r.max_abs_diff:8.1e}':>8s} "
            f"{'' if r.ok is None else ('yes' if r.ok else 'NO')} {r.note}"
        )


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
    parser.add_argument("--json", type=Path, default=None)
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
    sections = set(args.sections.split(","))
    rows: list[Row] = []
    started = time.perf_counter()
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {device} ({gpu}), torch {torch.__version__}, quick={quick}")
    configs = {
        "paper: wide_resnet50_2": TrainConfig.from_preset(
            "paper", backbone="wide_resnet50_2", image_size=args.size, pretrained=False
        ),
        "default: efficientnet_lite0": TrainConfig.from_preset(
            "fast", backbone="efficientnet_lite0", image_size=args.size, pretrained=False
        ),
    }
    if "inference" in sections:
        for name, config in configs.items():
            print(f"inference: {name} ...", flush=True)
            rows += bench_inference(name, config, device, args)
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_set(Path(tmp) / "data", args.train_images, args.train_size, defective=args.train_images // 6)
        checkpoint = None
        if "training" in sections or "product" in sections:
            for preset, backbone in (("fast", "efficientnet_lite0"), ("paper", "wide_resnet50_2")):
                if "training" not in sections and preset != "fast":
                    continue
                print(f"training: {backbone} {preset} on {len(data)} images ...", flush=True)
                row, path = bench_training(preset, backbone, data, device, args, Path(tmp) / f"out-{preset}")
                rows.append(row)
                if preset == "fast":
                    checkpoint = path
        if "product" in sections and checkpoint is not None:
            print("product: Predictor and the score_project loop ...", flush=True)
            rows += bench_product(checkpoint, [s.image_path for s in data] * (1 if quick else 4), device, args)
    print()
    print_table(rows)
    print(f"\n# {time.perf_counter() - started:.0f} s in all")
    if args.json:
        args.json.write_text(
            json.dumps({"device": str(device), "gpu": gpu, "rows": [asdict(r) for r in rows]}, indent=1)
        )


if __name__ == "__main__":
    main()
