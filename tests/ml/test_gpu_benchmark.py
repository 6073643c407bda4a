"""benchmarks/gpu.py runs unchanged on a CPU (the GPU machine runs the same file): every section, a table."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def run_quick(tmp_path: Path, *options: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """benchmarks/gpu.py --quick with these options, as a user runs it; its result and the JSON rows."""
    out = tmp_path / "gpu.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--quick", "--batches", "1", "--repeats", "1"]
        + [*options, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result, json.loads(out.read_text())["rows"]


@pytest.mark.slow
def test_the_gpu_benchmark_runs_every_section_on_the_cpu(tmp_path):
    result, rows = run_quick(tmp_path, "--train-images", "8")

    sections = {row["section"] for row in rows}
    assert sections == {"inference", "training", "product"}
    inference = [row for row in rows if row["section"] == "inference"]
    # every variant of both configurations ran and agrees with fp32 within the stated tolerance
    assert {row["config"] for row in inference} == {"paper: wide_resnet50_2", "default: efficientnet_lite0"}
    assert all(row["ok"] for row in inference), [row for row in inference if not row["ok"]]
    assert all(row["images_per_s"] > 0 for row in inference)
    assert "fp32 eager (baseline)" in result.stdout and "score_project loop" in result.stdout


def _gpu_module():
    """benchmarks/gpu.py imported as a module (it imports its sibling gpu_inference, as when run as a script)."""
    import importlib

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module("gpu")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_a_spent_time_budget_skips_the_rest_and_the_json_holds_every_row_so_far(tmp_path):
    result, rows = run_quick(tmp_path, "--train-images", "6", "--budget-s", "0.01", "--no-onnx")

    skipped = [row for row in rows if "skipped: time budget spent" in row["note"]]
    # nothing was measured after the budget ran out: every section reports what it skipped
    assert {row["section"] for row in skipped} == {"inference", "training", "product"}
    assert not [row for row in rows if row["images_per_s"] or row["latency_ms"]]
    # each row is printed as it comes (a run killed by a time limit still shows it), then the table
    assert result.stdout.count("skipped: time budget spent") == 2 * len(skipped)


def test_a_training_stopped_by_the_budget_reports_its_pace_and_no_model(tmp_path):
    import argparse

    from ml.data import Sample

    gpu = _gpu_module()
    samples = gpu.synthetic_set(tmp_path / "data", 8, 64, defective=0)
    args = argparse.Namespace(train_size=64, epochs=6)
    calls = []

    class StopsAfter:
        """spent() turns True after a number of polls (fit polls once per feature batch and training step)."""

        def spent(self):
            calls.append(1)
            return len(calls) > 12

    row, checkpoint = gpu.bench_training(
        "fast",
        "efficientnet_lite0",
        [Sample(s.image_path, 0, None) for s in samples],
        torch.device("cpu"),
        args,
        tmp_path / "out",
        StopsAfter(),
    )

    assert checkpoint is None
    assert "unsupervised, 8 images, 6 epochs" in row.note
    epochs = int(row.note.split("after ")[1].split(" epochs")[0])
    assert 1 < epochs < 6, row.note
    assert row.latency_ms > 0  # ms per epoch, from the epochs that ran
    assert "s in all" in row.note
