"""The training and mask benchmarks run as documented (docs/benchmarks.md) and print their tables."""

import re
import subprocess
import sys
from pathlib import Path

from .conftest import write_mvtec

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )


def test_mask_cells_counts_the_masks_each_rule_keeps(tmp_path):
    root = write_mvtec(tmp_path / "parts", n_train=2, n_test_good=0, n_test_bad=0, n_train_bad=3, size=64)
    result = run("benchmarks/mask_cells.py", str(root), "--sizes", "64", "32x64")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if re.match(r"\| (64|32x64) \|", line)]
    assert len(rows) == 2
    for row in rows:
        size, masks, empty_area, empty_any, _share = (cell.strip() for cell in row.strip("|").split("|"))
        assert masks == "3" and int(empty_any) <= int(empty_area) <= 3


def test_the_training_benchmark_prints_steps_and_the_feature_backends():
    result = run(
        "benchmarks/ml_training.py",
        "--images",
        "4",
        "--image-size",
        "64",
        "--presets",
        "fast",
        "--random-backbone",
        "--threads",
        "1",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"^fast\s+8\s", result.stdout, re.M)
    assert "whole map (no train_crop)" in result.stdout
    assert re.search(r"features per image: torch [\d.]+ s; onnxruntime [\d.]+ s", result.stdout)
