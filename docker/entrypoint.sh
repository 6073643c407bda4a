#!/usr/bin/env bash
# Roles of the one image: web | worker | gpu-workers | beat | manage ARGS...
set -euo pipefail
cd /app
role="${1:-web}"
shift || true
case "$role" in
  web)
    python manage.py migrate --noinput
    python manage.py ensure_admin
    python manage.py clean_scratch
    python manage.py runtime_info
    exec gunicorn webapp.config.wsgi:application --bind 0.0.0.0:8000 \
      --workers "${WEB_CONCURRENCY:-3}" --threads 4 --timeout 300 --keep-alive 15 --limit-request-line 8190 \
      --access-logfile -
    ;;
  worker)
    # WORKER_QUEUES=train,infer for a GPU worker that trains and scores; infer for a scoring-only worker.
    exec celery -A webapp.config worker -Q "${WORKER_QUEUES:-train,infer}" \
      --concurrency "${WORKER_CONCURRENCY:-1}" -n "${WORKER_NAME:-worker}@%h" --loglevel INFO
    ;;
  gpu-workers)
    # One worker per visible GPU (CUDA_VISIBLE_DEVICES each): one training per GPU at a time.
    exec bash /app/scripts/gpu_workers.sh
    ;;
  beat)
    exec celery -A webapp.config beat --schedule /data/celerybeat-schedule --loglevel INFO
    ;;
  manage)
    exec python manage.py "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
