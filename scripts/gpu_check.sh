#!/usr/bin/env bash
# The GPU check in one call: the CUDA tests, then benchmarks/gpu.py within a time budget. Every result lands in
# $OUT (the GPU machine's return folder; ./gpu-out elsewhere) as it is measured, so a call stopped by a time
# limit still brings back what it measured.
#
# Prepare once, where pip works (the GPU machine has no package registry):  make gpu-wheels
# Then, on the GPU machine, carrying .whl:                                  bash scripts/gpu_check.sh
#
# Settings: PY (the Python that holds CUDA PyTorch: python3), BUDGET_S (benchmark seconds: 420), GPU_ARGS (more
# benchmarks/gpu.py options, e.g. "--sections inference").
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

# The product's own pure-Python needs that a CUDA image lacks (efficientnet-lite-pytorch), from .whl.
if ! "$PY" -c "import efficientnet_lite_pytorch" 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/gpu-site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/gpu-site${PYTHONPATH:+:$PYTHONPATH}"
  else
    echo "gpu_check: efficientnet_lite_pytorch is missing and .whl holds no wheels (run: make gpu-wheels)" >&2
    exit 1
  fi
fi

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1; "$PY" -c \
  "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
} | tee "$OUT/machine.txt"

# The CUDA tests of ml/ (they skip without a GPU); ml/ needs no Django, so the web app's conftest stays out.
"$PY" -m pytest -q -rs -p no:cacheprovider -p no:django --confcutdir=tests/ml tests/ml/test_device_paths.py \
  2>&1 | tee "$OUT/cuda-tests.log"
tests=${PIPESTATUS[0]}

# shellcheck disable=SC2086 # GPU_ARGS is a list of options
"$PY" benchmarks/gpu.py --json "$OUT/gpu.json" --budget-s "${BUDGET_S:-420}" ${GPU_ARGS:-} 2>&1 | tee "$OUT/gpu.log"
bench=${PIPESTATUS[0]}
echo "gpu_check: CUDA tests exit $tests, benchmark exit $bench; results in $OUT"
exit $((tests || bench))
