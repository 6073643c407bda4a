#!/usr/bin/env bash
# One Celery worker process per visible GPU, each pinned to its device with CUDA_VISIBLE_DEVICES, each
# named gpu<N>@<host> so that its one training slot (a per-worker-name lock) belongs to that GPU: a machine
# with 4 GPUs trains 4 models at once, one per device, and scores on queue `infer` beside them.
#
#   scripts/gpu_workers.sh                 # every GPU nvidia-smi lists
#   GPU_DEVICES=0,2 scripts/gpu_workers.sh # only these
#
# Settings: WORKER_QUEUES (train,infer), WORKER_CONCURRENCY (2: one training + one scoring task per GPU),
# CELERY (the celery command), LOG_LEVEL. Ends (so a supervisor or Docker restarts it) when one worker ends.
set -euo pipefail

devices="${GPU_DEVICES:-}"
if [ -z "$devices" ]; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    devices="$(nvidia-smi --query-gpu=index --format=csv,noheader | tr -d ' ' | paste -sd, -)"
  fi
fi
if [ -z "$devices" ]; then
  echo "gpu_workers: no GPU found (nvidia-smi lists none and GPU_DEVICES is empty)" >&2
  exit 1
fi

read -r -a celery <<< "${CELERY:-celery}"
pids=()
IFS=',' read -r -a list <<< "$devices"
for device in "${list[@]}"; do
  CUDA_VISIBLE_DEVICES="$device" ML_DEVICE=cuda "${celery[@]}" -A webapp.config worker \
    -Q "${WORKER_QUEUES:-train,infer}" --concurrency "${WORKER_CONCURRENCY:-2}" \
    -n "gpu${device}@%h" --loglevel "${LOG_LEVEL:-INFO}" &
  pids+=("$!")
  echo "gpu_workers: worker gpu${device} (CUDA_VISIBLE_DEVICES=${device}) pid $!"
done

trap 'kill "${pids[@]}" 2>/dev/null || true' INT TERM EXIT
wait -n "${pids[@]}"
status=$?
echo "gpu_workers: a worker ended (status $status); stopping the others" >&2
exit "$status"
