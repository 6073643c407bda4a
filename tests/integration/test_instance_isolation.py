"""Two installations on one Redis (one database number) never take each other's tasks, nor count each
other's workers: each one's keys carry its INSTANCE_NAME prefix, derived from its own database.

Two real Celery workers, one per installation, each with its own DATA_DIR and SQLite database, on Redis
db ISOLATION_REDIS_DB (12); each installation sends tasks, and each worker's log shows which it received."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import REDIS_HOST, REDIS_PORT, _answers, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = int(os.environ.get("ISOLATION_REDIS_DB", "12"))
BROKER = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"

# Sends probe tasks (a name no worker knows: it is received, logged and dropped) and reports what this
# installation sees: the workers answering a ping and those with a fresh heartbeat.
SEND_AND_LOOK = """
import json, sys, time
import django
django.setup()
from webapp.config.celery import app
from webapp.core import heartbeat
tag = sys.argv[1]
for i in range(3):
    app.send_task("tests.isolation_probe", args=[tag], queue=sys.argv[2], task_id=f"probe-{tag}-{i}")
ping = sorted(app.control.inspect(timeout=2).ping() or {})
print(json.dumps({"ping": ping, "heartbeats": sorted(heartbeat.live_workers())}))
"""


def instance_env(root: Path) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "DATABASE_", "INSTANCE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="webapp.config.settings",
        DATA_DIR=str(root),
        DATABASE_URL=f"sqlite:///{root / 'db.sqlite3'}",
        CELERY_BROKER_URL=BROKER,
        SECRET_KEY="isolation-test-secret",
        WORKER_HEARTBEAT_SECONDS="1",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
    )
    return env


def start_worker(name: str, env: dict, log: Path) -> subprocess.Popen:
    args = [str(ROOT / ".venv/bin/celery"), "-A", "webapp.config", "worker", "-Q", "train,infer", "-P", "solo"]
    args += ["-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--loglevel", "INFO"]
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # noqa: SIM115
    )


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def send_and_look(env: dict, tag: str, queue: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SEND_AND_LOOK, tag, queue],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def received(log: Path) -> set[str]:
    text = log.read_text(errors="replace") if log.exists() else ""
    return {part.split("'", 1)[0].split('"', 1)[0] for part in text.split("probe-")[1:]}


def test_two_installations_on_one_redis_keep_their_tasks_and_workers_apart(tmp_path):
    if not _answers(REDIS_HOST, REDIS_PORT):
        if os.environ.get("STUDIO_REQUIRE_SERVICES"):
            pytest.fail("this test needs Redis on 127.0.0.1:6379")
        pytest.skip("this test needs Redis on 127.0.0.1:6379")
    import redis

    broker = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    broker.flushdb()
    env_a, env_b = instance_env(tmp_path / "a"), instance_env(tmp_path / "b")
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    workers = [start_worker("alpha", env_a, log_a), start_worker("beta", env_b, log_b)]
    try:
        for log in (log_a, log_b):
            wait_for(lambda log=log: log.exists() and " ready." in log.read_text(errors="replace"), 120, f"{log.name}")

        # when each installation sends tasks to the same queue names, one to `infer`, the other to `train`
        seen_a = send_and_look(env_a, "a", "infer")
        seen_b = send_and_look(env_b, "b", "train")

        # then each worker received its own installation's tasks and none of the other's
        wait_for(lambda: len(received(log_a)) >= 3 and len(received(log_b)) >= 3, 60, "the probes to arrive")
        time.sleep(1)  # a stray delivery would have arrived by now too
        assert received(log_a) == {"a-0", "a-1", "a-2"}
        assert received(log_b) == {"b-0", "b-1", "b-2"}
        # and each installation sees only its own worker, by ping and by heartbeat
        assert [name.split("@")[0] for name in seen_a["ping"]] == ["alpha"]
        assert [name.split("@")[0] for name in seen_b["ping"]] == ["beta"]
        assert [name.split("@")[0] for name in seen_a["heartbeats"]] == ["alpha"]
        assert [name.split("@")[0] for name in seen_b["heartbeats"]] == ["beta"]
        # and every key in the shared Redis database belongs to one of the two installations
        prefixes = {key.decode().split(":", 1)[0] for key in broker.keys("*")}
        assert len(prefixes) == 2 and all(p.startswith("ssn-") for p in prefixes), prefixes
    finally:
        for proc in workers:
            stop(proc)
        broker.flushdb()
