"""Page speed in the browser on a 10,000-image project: gallery page of 120 and labeller ready.

    .venv/bin/python benchmarks/browser_speed.py

Runs tests/browser/test_speed_benchmark.py (real headless Chromium against Django's live server, as the
browser suite does) and prints its table. A benchmark, not a timed test: the test asserts only that the
pages finished; the figures are in docs/benchmarks.md ("Browser").
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "tests/browser/test_speed_benchmark.py",
        "-q",
        "-s",
        "-p",
        "no:cacheprovider",
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    table = [line for line in out.stdout.splitlines() if line.startswith("|")]
    print("\n".join(table) if table else out.stdout[-4000:] + out.stderr[-2000:])
    sys.exit(out.returncode)
