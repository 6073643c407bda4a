#!/usr/bin/env bash
# Run SuperSimpleNet Studio on one machine: migrate, create the first admin, start web + workers.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DATA_DIR="${DATA_DIR:-$PWD/data}"
mkdir -p "$DATA_DIR"
# Each instance serves its own copy of the static files (collected below at start).
export STATIC_ROOT="${STATIC_ROOT:-$DATA_DIR/static}"

# A deployment keeps its own secret key; a one-machine install generates one once and keeps it in DATA_DIR.
if [ -z "${SECRET_KEY:-}" ]; then
  if [ ! -s "$DATA_DIR/secret_key" ]; then
    (umask 077; $PY -c "import secrets; print(secrets.token_urlsafe(50))" > "$DATA_DIR/secret_key")
  fi
  SECRET_KEY="$(cat "$DATA_DIR/secret_key")"
  export SECRET_KEY
fi

# Decide the broker once (Redis if one answers, else the embedded one) so web and workers agree.
if [ -z "${CELERY_BROKER_URL:-}" ]; then
  CELERY_BROKER_URL="$($PY -c 'import django, os; os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.config.settings"); django.setup(); from django.conf import settings; print(settings.CELERY_BROKER_URL)')"
  export CELERY_BROKER_URL
fi

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}"

$PY manage.py migrate --noinput
# --clear: an upgrade whose files are older than the last copy (an unpacked archive, rsync -a) is still served new.
$PY manage.py collectstatic --noinput --clear --verbosity 0
$PY manage.py ensure_admin
$PY manage.py clean_scratch
$PY manage.py runtime_info

# shellcheck source=scripts/supervise.sh
source scripts/supervise.sh
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Each process runs under `supervise` (scripts/supervise.sh): one that dies is started again within seconds,
# and the others keep serving (a training whose worker died is failed by the reaper, and the browser says so).
supervise web .venv/bin/gunicorn webapp.config.wsgi:application --bind "$HOST:$PORT" --workers "$WEB_CONCURRENCY" \
  --threads 4 --timeout 300 --keep-alive 15 --limit-request-line 8190 --access-logfile - &
pids+=($!)
# One training at a time on its own worker, so scoring and bulk inference never wait behind a training.
supervise train .venv/bin/celery -A webapp.config worker -Q train --concurrency 1 -n "train@%h" --loglevel INFO &
pids+=($!)
supervise infer .venv/bin/celery -A webapp.config worker -Q infer --concurrency "${INFER_CONCURRENCY:-2}" \
  -n "infer@%h" --loglevel INFO &
pids+=($!)
# The scheduler (dispatcher, reaper, rescoring, file collector) as its own process; /api/v1/health/ reports
# when it last ran.
supervise beat .venv/bin/celery -A webapp.config beat --schedule "$DATA_DIR/celerybeat-schedule" --loglevel INFO &
pids+=($!)

echo
echo "SuperSimpleNet Studio is running at http://$HOST:$PORT/  (API docs: http://$HOST:$PORT/api/v1/docs/)"
echo "Press Ctrl+C to stop."
wait
