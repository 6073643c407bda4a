"""Inference speed of SuperSimpleNet at 256 x 256: latency at batch 1, throughput at batch 16.

Every optimisation is measured against a plain eager fp32 forward of the same model in the same run, so
the ratios hold even on a busy shared machine. Random-init trainable part (speed does not depend on it).

    .venv/bin/python benchmarks/ml_inference.py --backbone efficientnet_lite0 --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime

import numpy as np
import torch

from ml import TrainConfig
from ml.predict import build_model


def timed(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def onnx_timings(model: torch.nn.Module, config: TrainConfig, args: argparse.Namespace) -> tuple[float, float] | None:
    """(batch-1 ms, batch-16 images/s) of the same model exported to ONNX and run by onnxruntime."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    from ml.predict import ExportWrapper

    size = config.image_size
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/model.onnx"
        torch.onnx.export(
            ExportWrapper(model, config.score).eval(),
            (torch.rand(2, 3, size, size),),
            path,
            input_names=["images"],
            dynamic_axes={"images": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        one = np.random.rand(1, 3, size, size).astype(np.float32)
        sixteen = np.random.rand(16, 3, size, size).astype(np.float32)
        latency = timed(lambda: session.run(None, {"images": one}), args.repeats)
        batch = timed(lambda: session.run(None, {"images": sixteen}), max(2, args.repeats // 2))
    return latency * 1000, 16 / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--preset", default="fast", choices=("fast", "paper"))
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-bf16", action="store_true", help="skip bf16 (very slow on CPUs without AVX512-BF16)")
    parser.add_argument("--pretrained", action="store_true", help="load real weights (not needed for speed)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = TrainConfig.from_preset(
        args.preset, backbone=args.backbone, image_size=args.image_size, pretrained=args.pretrained
    )
    model = build_model(config).eval().to(device)
    size = args.image_size

    def run(batch: torch.Tensor, autocast: str | None, channels_last: bool, net: torch.nn.Module) -> None:
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        ctx = (
            torch.autocast(device.type, dtype=torch.bfloat16 if autocast == "bf16" else torch.float16)
            if autocast
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), ctx:
            net(batch)

    variants: list[tuple[str, str | None, bool]] = [
        ("eager fp32 (baseline)", None, False),
        ("channels_last fp32", None, True),
        ("bf16 autocast", "bf16", False),
    ]
    if args.no_bf16:
        variants = [v for v in variants if v[1] != "bf16"]
    if device.type == "cuda":
        variants.append(("fp16 autocast", "fp16", False))
    rows = []
    for name, autocast, channels_last in variants:
        net = model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        one = torch.rand(1, 3, size, size, device=device)
        sixteen = torch.rand(16, 3, size, size, device=device)
        latency = timed(lambda n=net, b=one, a=autocast, c=channels_last: run(b, a, c, n), args.repeats)
        batch = timed(lambda n=net, b=sixteen, a=autocast, c=channels_last: run(b, a, c, n), max(2, args.repeats // 2))
        rows.append((name, latency * 1000, 16 / batch))
    onnx = onnx_timings(model.to(memory_format=torch.contiguous_format), config, args) if device.type == "cpu" else None
    if onnx is not None:
        rows.append(("onnxruntime fp32", *onnx))
    base_latency, base_throughput = rows[0][1], rows[0][2]
    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} {platform.processor() or ''}, "
        f"{args.threads} threads, {args.backbone} preset {args.preset} (upscale {config.upscale}), {size}x{size}"
    )
    print(f"{'variant':24s} {'batch-1 ms':>11s} {'x vs fp32':>10s} {'batch-16 img/s':>15s} {'x vs fp32':>10s}")
    for name, latency, throughput in rows:
        print(
            f"{name:24s} {latency:11.1f} {base_latency / latency:10.2f} {throughput:15.2f} "
            f"{throughput / base_throughput:10.2f}"
        )


if __name__ == "__main__":
    main()
