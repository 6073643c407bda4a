"""benchmarks/gpu.py runs unchanged on a CPU (the GPU machine runs the same file): every section, a table."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_gpu_benchmark_runs_every_section_on_the_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--quick", "--batches", "1", "--repeats", "1"]
        + ["--train-images", "8", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"},
    )

    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    sections = {row["section"] for row in rows}
    assert sections == {"inference", "training", "product"}
    inference = [row for row in rows if row["section"] == "inference"]
    # every variant of both configurations ran and agrees with fp32 within the stated tolerance
    assert {row["config"] for row in inference} == {"paper: wide_resnet50_2", "default: efficientnet_lite0"}
    assert all(row["ok"] for row in inference), [row for row in inference if not row["ok"]]
    assert all(row["images_per_s"] > 0 for row in inference)
    assert "fp32 eager (baseline)" in result.stdout and "score_project loop" in result.stdout
