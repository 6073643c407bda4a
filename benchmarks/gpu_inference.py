"""The measuring parts of benchmarks/gpu.py: rows that are printed and saved as they come, a time budget, the
timer, and the inference variants compared against the same-run fp32 eager baseline."""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ml import TrainConfig
from ml.predict import ExportWrapper, build_model

# Variants in the order they run. The compiled ones run last (their compile takes the longest), so a time budget
# that runs out leaves every cheaper figure measured.
PLAIN = ("fp32 eager (baseline)", "half autocast", "channels_last + half", "onnxruntime")
COMPILED = ("torch.compile max-autotune + half", "CUDA graphs + half")


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


HEADER = (
    f"{'section':10s} {'config':28s} {'variant':44s} {'batch':>5s} {'img/s':>9s} {'ms':>9s} "
    f"{'x base':>7s} {'max|d|':>8s} ok"
)


def format_row(r: Row) -> str:
    return (
        f"{r.section:10s} {r.config:28s} {r.variant:44s} {r.batch:5d} "
        f"{'' if r.images_per_s is None else f'{r.images_per_s:9.1f}':>9s} "
        f"{'' if r.latency_ms is None else f'{r.latency_ms:9.2f}':>9s} "
        f"{'' if r.speedup is None else f'{r.speedup:7.2f}':>7s} "
        f"{'' if r.max_abs_diff is None else f'{r.max_abs_diff:8.1e}':>8s} "
        f"{'' if r.ok is None else ('yes' if r.ok else 'NO')} {r.note}"
    )


class Report:
    """Rows kept in order: each one is printed when it is added and the JSON file is rewritten, so a run that is
    stopped (a time limit on the GPU machine) still leaves every figure measured so far."""

    def __init__(self, json_path: Path | None, header: dict) -> None:
        self.rows: list[Row] = []
        self.json_path = json_path
        self.header = header
        print(HEADER, flush=True)

    def add(self, *rows: Row) -> None:
        for row in rows:
            self.rows.append(row)
            print(format_row(row), flush=True)
        if self.json_path:
            payload = {**self.header, "rows": [asdict(r) for r in self.rows]}
            self.json_path.write_text(json.dumps(payload, indent=1))

    def table(self) -> None:
        print(HEADER)
        print("-" * len(HEADER))
        for row in self.rows:
            print(format_row(row))


class Budget:
    """Wall-clock seconds for the whole run (None: no limit). Work is skipped, never cut short mid-measurement,
    except a training, which stops at the next step and reports what it measured."""

    def __init__(self, seconds: float | None) -> None:
        self.deadline = time.perf_counter() + seconds if seconds else None

    def spent(self) -> bool:
        return self.deadline is not None and time.perf_counter() >= self.deadline


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


def _eager(net: torch.nn.Module, device: torch.device, dtype=None, channels_last=False) -> Callable:
    def run(batch):
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        ctx = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with torch.inference_mode(), ctx:
            score, amap = net(batch)
        return score.float(), amap.float()

    return run


def build_variant(name: str, wrapper: ExportWrapper, size: int, device: torch.device) -> Callable | None:
    """callable(batch on device) -> (scores, maps) in float32, or None when the variant does not apply here.

    "half" is fp16 on CUDA and bf16 on a CPU (the CPU has no fast fp16)."""
    half = torch.float16 if device.type == "cuda" else torch.bfloat16
    if name == "fp32 eager (baseline)":
        return _eager(wrapper, device)
    if name == "half autocast":
        return _eager(wrapper, device, half)
    last = ExportWrapper(wrapper.model, wrapper.score).eval().to(memory_format=torch.channels_last)
    if name == "channels_last + half":
        return _eager(last, device, half, channels_last=True)
    if name == "onnxruntime":
        return onnxruntime_variant(wrapper, size, device)
    mode = {COMPILED[0]: "max-autotune-no-cudagraphs", COMPILED[1]: "reduce-overhead"}[name]
    if mode == "reduce-overhead" and device.type != "cuda":
        return None
    return _eager(torch.compile(last, mode=mode, dynamic=False), device, half, channels_last=True)


def onnxruntime_variant(wrapper: torch.nn.Module, size: int, device: torch.device) -> Callable | None:
    """onnxruntime with the TensorRT or CUDA provider on a GPU (CPU provider on a CPU), or None."""
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

    run.label = f"onnxruntime {providers[0].replace('ExecutionProvider', '')}"
    return run


def bench_inference(
    name: str,
    config: TrainConfig,
    device: torch.device,
    args,
    variants: tuple[str, ...],
    baseline: dict[tuple[str, int], float],
    report: Report,
    budget: Budget,
) -> None:
    """Each variant's agreement with fp32, its batch-1 latency (copies included) and its throughput per batch.

    ``baseline`` maps (config, batch) to the fp32 eager images/s; it is filled by the baseline variant and read
    by every later one, also in a later call (the compiled variants run after everything else)."""
    size = config.image_size
    torch.manual_seed(0)  # the same random weights in every run
    model = build_model(config).eval().to(device)
    wrapper = ExportWrapper(model, config.score).eval()
    generator = torch.Generator().manual_seed(0)
    reference_input = torch.rand(4, 3, size, size, generator=generator).to(device)
    with torch.inference_mode():
        ref_score, ref_map = wrapper(reference_input)
    for variant in variants:
        if budget.spent():
            report.add(Row("inference", name, variant, 0, note="skipped: time budget spent"))
            continue
        started = time.perf_counter()
        try:
            run = build_variant(variant, wrapper, size, device)
            if run is None:
                why = "no onnxruntime-gpu / TensorRT provider" if variant == "onnxruntime" else "CUDA only"
                report.add(Row("inference", name, variant, 0, note=f"not run: {why}"))
                continue
            score, amap = run(reference_input)
        except Exception as exc:  # noqa: BLE001 - a variant that cannot build or run is reported, not fatal
            report.add(Row("inference", name, variant, 0, note=f"failed: {type(exc).__name__}: {exc}"[:160]))
            continue
        first_call = time.perf_counter() - started
        label = getattr(run, "label", variant)
        diff = float(
            max(
                (torch.sigmoid(score.cpu()) - torch.sigmoid(ref_score.float().cpu())).abs().max(),
                (amap.cpu() - ref_map.float().cpu()).abs().max(),
            )
        )
        # fp32 must match to float rounding (onnxruntime on a GPU may use TF32 or TensorRT's kernels: as half);
        # half precision within --tolerance (bf16, with 3 fewer mantissa bits than fp16, within 4x that)
        fp32 = variant == PLAIN[0] or (variant == "onnxruntime" and device.type != "cuda")
        tolerance = 1e-4 if fp32 else args.tolerance * (4 if device.type != "cuda" else 1)
        # batch-1 latency, copies included: a pinned host image in, score + map back to the host
        host = torch.rand(1, 3, size, size)
        if device.type == "cuda":
            host = host.pin_memory()

        def one(run=run, host=host):
            s, m = run(host.to(device, non_blocking=True))
            return s.cpu(), m.cpu()

        latency = timed(one, device, args.repeats) * 1000
        for batch in args.batches:
            if budget.spent():
                report.add(Row("inference", name, label, batch, note="skipped: time budget spent"))
                continue
            images = torch.rand(batch, 3, size, size, generator=generator).to(device)
            seconds = timed(lambda run=run, images=images: run(images), device, max(2, args.repeats // 2))
            throughput = batch / seconds
            if variant == PLAIN[0]:
                baseline[(name, batch)] = throughput
            base = baseline.get((name, batch))
            notes = [f"tolerance {tolerance:g}"] if batch == args.batches[0] else []
            if batch == args.batches[0] and variant in COMPILED:
                notes.append(f"first call (compile) {first_call:.0f} s")
            report.add(
                Row(
                    "inference",
                    name,
                    label,
                    batch,
                    images_per_s=throughput,
                    latency_ms=latency if batch == args.batches[0] else None,
                    speedup=throughput / base if base else None,
                    max_abs_diff=diff,
                    ok=diff <= tolerance,
                    note=", ".join(notes),
                )
            )
    del model, wrapper
    if device.type == "cuda":
        torch.cuda.empty_cache()
