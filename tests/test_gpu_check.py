"""scripts/gpu_check.sh: the GPU machine's one call (CUDA tests + benchmark), results in $OUT as they come."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"


def test_the_check_runs_the_cuda_tests_and_the_benchmark_into_out(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        env={
            "PATH": "/usr/bin:/bin",
            "OUT": str(out),
            "PY": sys.executable,
            "OMP_NUM_THREADS": "2",
            "BUDGET_S": "0.01",  # everything after the first measurement is skipped: the plumbing is under test
            "GPU_ARGS": "--quick --batches 1 --repeats 1 --train-images 6 --no-onnx",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["cuda-tests.log", "gpu.json", "gpu.log", "machine.txt"]
    tests = (out / "cuda-tests.log").read_text()
    assert "passed" in tests and "needs a CUDA GPU" in tests  # here the CUDA tests skip, with their reason
    assert "available False" in (out / "machine.txt").read_text()
    rows = json.loads((out / "gpu.json").read_text())["rows"]
    assert rows and any("time budget" in row["note"] for row in rows)


def test_without_the_wheels_the_gpu_machine_lacks_it_stops_and_says_how_to_get_them(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts" / "gpu_check.sh")  # a checkout without .whl
    python = tmp_path / "python"
    python.write_text("#!/usr/bin/env bash\nexit 1\n")  # a Python without efficientnet_lite_pytorch
    python.chmod(0o755)

    result = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "gpu_check.sh")],
        env={"PATH": "/usr/bin:/bin", "OUT": str(tmp_path / "out"), "PY": str(python)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "make gpu-wheels" in result.stderr
    assert not (tmp_path / "out" / "gpu.json").exists()
