#!/usr/bin/env bash
# The whole suite: lint, every test on SQLite, then the database tests again on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh

export PATH="$PWD/.venv/bin:$PATH"
# Browser and integration tests fail instead of skipping when Chromium, PostgreSQL or Redis are missing.
export STUDIO_REQUIRE_SERVICES=1
# Keep the suite's own torch runs from fighting each other over the two cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"

echo "== lint"
ruff check .

echo "== tests on SQLite"
pytest "$@"

PG_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/studio}"
echo "== database tests on PostgreSQL ($PG_URL)"
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  DATABASE_URL="$PG_URL" pytest tests/webapp -q -p no:cacheprovider
elif [ -n "${CI:-}" ]; then
  echo "PostgreSQL is not reachable; CI requires it." >&2
  exit 1
else
  echo "PostgreSQL is not reachable here: skipped the PostgreSQL pass (CI runs it)."
fi
