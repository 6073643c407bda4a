"""A real stack for the pipeline's integration tests: PostgreSQL, Redis, a gunicorn web server and a Celery
worker process (with beat), all started here with their own database, Redis db number and DATA_DIR.

Every process is started in its own session so that teardown (and the SIGKILL test) can end its whole
process group; nothing outlives the test session. Without a reachable PostgreSQL and Redis the tests skip.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib import error, request

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG = os.environ.get("INTEGRATION_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = int(os.environ.get("INTEGRATION_REDIS_DB", "13"))


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Api:
    """A tiny JSON/multipart HTTP client (stdlib only) speaking to the server under test with a token."""

    def __init__(self, base: str, token: str | None = None):
        self.base = base
        self.token = token

    def call(self, method: str, path: str, body=None, files=None, raw: bool = False, timeout: float = 120):
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        data = None
        if files is not None:
            boundary = uuid.uuid4().hex
            parts = []
            for field, (name, content) in files:
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                    f"Content-Type: application/octet-stream\r\n\r\n".encode()
                    + content
                    + b"\r\n"
                )
            data = b"".join(parts) + f"--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif isinstance(body, bytes):
            data = body
            headers["Content-Type"] = "image/png"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = path if path.startswith("http") else self.base + path
        req = request.Request(url, data=data, method=method, headers=headers)
        try:
            with request.urlopen(req, timeout=timeout) as response:
                status, payload = response.status, response.read()
        except error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        if raw:
            return status, payload
        return status, (json.loads(payload) if payload else None)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.3):
    """Poll until predicate() returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Stack:
    def __init__(self, data_dir: Path, env: dict):
        self.data_dir = data_dir
        self.env = env
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def start(self, name: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
        log = self.data_dir / f"{name}.log"
        self.logs[name] = log
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env or self.env,
            stdout=open(log, "ab"),  # noqa: SIM115 - the child owns it
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg ends it and its children
        )
        self.procs[name] = proc
        return proc

    def stop(self, name: str, sig=signal.SIGTERM, timeout: float = 15) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        # Children of a prefork pool may outlive their parent for a moment: make sure the group is gone.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def start_web(self, name: str, env: dict | None = None) -> Api:
        port = free_port()
        self.start(
            name,
            [str(ROOT / ".venv/bin/gunicorn"), "webapp.config.wsgi:application", "-b", f"127.0.0.1:{port}"]
            + [
                "-w",
                "2",
                "--threads",
                "4",
                "--timeout",
                "300",
                "--keep-alive",
                "15",
                "--graceful-timeout",
                "5",
            ],  # as run.sh
            env,
        )
        api = Api(f"http://127.0.0.1:{port}")
        wait_for(lambda: _answers("127.0.0.1", port), 60, f"web server {name}")
        return api

    def start_worker(self, concurrency: int = 2) -> subprocess.Popen:
        """The worker command line docs/pipeline.md gives for `make run`, with beat (-B) for the dispatcher."""
        args = [str(ROOT / ".venv/bin/celery"), "-A", "webapp.config", "worker", "-Q", "train,infer"]
        args += ["-c", str(concurrency), "-B", "-s", str(self.data_dir / "celerybeat-schedule")]
        args += ["-n", f"it-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
        return self.start("worker", args)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs.get(name)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path and path.exists() else ""

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def _manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@contextmanager
def running_stack(data_dir: Path, *, concurrency: int = 2, env_overrides: dict | None = None) -> Iterator[Stack]:
    """Own database + Redis db + DATA_DIR, migrated, a user with a token, gunicorn and one worker with beat.

    Used by the integration tests and by the benchmarks (benchmarks/first_model.py, bulk_inference.py).
    """
    import psycopg
    import redis

    db_name = f"ssn_it_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    broker = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    broker.flushdb()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "DATABASE_", "TRAINING_"))},
        "DJANGO_SETTINGS_MODULE": "webapp.config.settings",
        "DATABASE_URL": f"{PG}/{db_name}",
        "CELERY_BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": "integration-test-secret",
        "DEBUG": "false",
        "ML_DEVICE": "cpu",
        # Short fault timings so a lost worker is noticed within seconds.
        "TRAINING_HEARTBEAT_SECONDS": "1",
        "TRAINING_PROGRESS_SECONDS": "0.5",
        "TRAINING_STALE_AFTER_SECONDS": "6",
        "TRAINING_DISPATCH_INTERVAL_SECONDS": "2",
        "PYTHONUNBUFFERED": "1",
        **(env_overrides or {}),
    }
    running = Stack(data_dir, env)
    try:
        _manage(env, "migrate", "--noinput")
        token = (
            _manage(
                env,
                "shell",
                "-c",
                "from django.contrib.auth import get_user_model; from rest_framework.authtoken.models import Token; "
                "u = get_user_model().objects.create_user('it', password='it-password-1'); "
                "print(Token.objects.create(user=u).key)",
            )
            .strip()
            .splitlines()[-1]
        )
        running.api = running.start_web("web")
        running.api.token = token
        running.start_worker(concurrency=concurrency)
        wait_for(lambda: running.api.get("/api/v1/health/")[1].get("workers", 0) >= 1, 90, "a worker")
        yield running
    finally:
        running.close()
        broker.flushdb()
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def services_answer() -> bool:
    return _answers("127.0.0.1", 5432) and _answers(REDIS_HOST, REDIS_PORT)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    if not services_answer():
        reason = "integration tests need PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379"
        # `make test` (and so CI) starts both and sets this: there a missing service is a failure.
        if os.environ.get("STUDIO_REQUIRE_SERVICES"):
            pytest.fail(reason)
        pytest.skip(reason)
    # Logs and files of the stack stay in INTEGRATION_KEEP_DIR when set (for a failed run's post-mortem).
    keep = os.environ.get("INTEGRATION_KEEP_DIR")
    data_dir = Path(keep) if keep else tmp_path_factory.mktemp("stack")
    data_dir.mkdir(parents=True, exist_ok=True)
    with running_stack(data_dir, env_overrides={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}) as running:
        yield running
