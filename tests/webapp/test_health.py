"""GET /api/v1/health/ reads worker heartbeats from the cache: fast, and it never pings the workers."""

import pytest

from webapp.config.celery import app
from webapp.core import heartbeat, queue
from webapp.core.api import views

from .test_training_support import sent  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_ping(monkeypatch):
    """A Celery ping (which waits out its whole timeout) fails the test."""

    def ping_made(*args, **kwargs):
        raise AssertionError("the health endpoint pinged the workers")

    monkeypatch.setattr(app.control, "inspect", ping_made)
    monkeypatch.setattr(queue, "worker_count", ping_made)


def test_it_counts_the_workers_whose_heartbeat_is_fresh(anon_client):
    # given two workers that beat, and one whose last beat is four periods old
    heartbeat.beat("train@a", queues=["train"])
    heartbeat.beat("infer@a", queues=["infer"])
    heartbeat.beat("infer@gone", now=heartbeat.time.time() - 4 * heartbeat._period(), queues=["infer"])

    # when
    response = anon_client.get("/api/v1/health/")

    # then
    assert response.status_code == 200
    assert response.json() == {
        "database": "ok",
        "broker": "ok",
        "workers": 2,
        "scheduler": "unknown",  # the dispatcher has not run in this installation yet
        "scheduler_last_run_seconds": None,
        "storage": "ok",
        "workers_by_queue": {"train": 1, "infer": 1},
    }


def test_a_worker_that_stops_is_no_longer_counted(anon_client):
    heartbeat.beat("train@a")
    heartbeat.forget("train@a")

    assert anon_client.get("/api/v1/health/").json()["workers"] == 0


def test_it_is_200_when_the_broker_is_down(anon_client, monkeypatch):
    monkeypatch.setattr(queue, "broker_reachable", lambda app=None, timeout=None: False)
    heartbeat.beat("train@a")

    response = anon_client.get("/api/v1/health/")

    assert response.status_code == 200
    assert {k: response.json()[k] for k in ("database", "broker", "workers")} == {
        "database": "ok",
        "broker": "error",
        "workers": 0,
    }


def test_it_is_200_when_the_database_is_down_and_readiness_is_503(anon_client, monkeypatch):
    monkeypatch.setattr(views, "_database_ok", lambda: False)

    health = anon_client.get("/api/v1/health/")
    ready = anon_client.get("/api/v1/health/ready/")

    assert health.status_code == 200 and health.json()["database"] == "error"
    assert ready.status_code == 503 and ready.json()["database"] == "error"


def test_readiness_is_200_when_the_database_answers(anon_client):
    response = anon_client.get("/api/v1/health/ready/")
    assert response.status_code == 200
    assert set(response.json()) == {
        "database",
        "broker",
        "workers",
        "scheduler",
        "scheduler_last_run_seconds",
        "storage",
        "workers_by_queue",
    }


def test_health_says_when_the_storage_does_not_answer_and_no_worker_trains(anon_client, monkeypatch):
    from django.core.files.storage import default_storage

    heartbeat.beat("infer@a", queues=["infer"])  # an infer-only worker: trainings wait for ever
    monkeypatch.setattr(views, "_probe", {"future": None, "started": -60.0, "state": "unknown"})
    monkeypatch.setattr(default_storage, "exists", lambda name: (_ for _ in ()).throw(ConnectionError("S3 down")))

    body = anon_client.get("/api/v1/health/").json()
    ready = anon_client.get("/api/v1/health/ready/")

    assert body["storage"] == "error" and body["workers_by_queue"] == {"train": 0, "infer": 1}
    assert ready.status_code == 200  # the web still serves pages and labels: not taken out of the balancer


def test_the_scheduler_is_ok_while_the_dispatcher_runs_and_late_when_it_stopped(anon_client, settings, sent):  # noqa: F811
    """A dead `celery beat` (or no worker on queue infer) stops the reaper: health says so."""
    from webapp.training.services import dispatch_and_reap

    settings.TRAINING_DISPATCH_INTERVAL_SECONDS = 15.0
    dispatch_and_reap()  # what the beat schedule runs every interval

    body = anon_client.get("/api/v1/health/").json()
    assert body["scheduler"] == "ok" and 0 <= body["scheduler_last_run_seconds"] < 5

    heartbeat.scheduler_ran(now=heartbeat.time.time() - 46)  # last run three intervals and a second ago
    body = anon_client.get("/api/v1/health/").json()
    assert body["scheduler"] == "late" and body["scheduler_last_run_seconds"] >= 46


def test_health_is_never_throttled(anon_client, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "2/minute", "user": "2/minute"})

    assert all(anon_client.get("/api/v1/health/").status_code == 200 for _ in range(5))


def test_the_worker_bootstep_beats_while_the_worker_runs_and_forgets_on_stop(settings):
    # given the bootstep Celery adds to every worker of the project's app
    assert heartbeat.WorkerHeartbeat in app.steps["worker"]
    settings.WORKER_HEARTBEAT_SECONDS = 0.05

    from types import SimpleNamespace

    class Worker:  # a worker started with `-Q train`
        hostname = "probe@host"
        app = SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from={"train": object()})))

    step = heartbeat.WorkerHeartbeat.__new__(heartbeat.WorkerHeartbeat)
    heartbeat.WorkerHeartbeat.__init__(step, Worker())

    # when it starts, then stops
    step.start(Worker())
    seen = _wait_for(lambda: heartbeat.live_workers() == ["probe@host"])
    # it says which queues it reads, so the dispatcher can tell an idle train worker
    by_queue = (heartbeat.live_workers(queue="train"), heartbeat.live_workers(queue="infer"))
    step.stop(Worker())

    # then it was seen alive, and is gone after the stop
    assert seen and by_queue == (["probe@host"], [])
    step._thread.join(timeout=5)
    assert heartbeat.live_workers() == [] and heartbeat.live_workers(queue="train") == []


def _wait_for(predicate, tries: int = 200) -> bool:
    import time

    for _ in range(tries):
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_a_hung_storage_makes_health_say_error_within_a_second_not_after_its_timeouts(anon_client, monkeypatch):
    import threading
    import time

    from django.core.files.storage import default_storage

    released = threading.Event()
    monkeypatch.setattr(views, "_probe", {"future": None, "started": -60.0, "state": "ok"})
    monkeypatch.setattr(default_storage, "exists", lambda name: released.wait(30) or True)  # hangs until released
    try:
        started = time.monotonic()
        body = anon_client.get("/api/v1/health/").json()
        ready = anon_client.get("/api/v1/health/ready/")
        waited = time.monotonic() - started
    finally:
        released.set()

    assert body["storage"] == "error" and ready.status_code == 200
    assert waited < 15  # not the 30 s hang: two requests, each waiting STORAGE_PROBE_WAIT_S for the one probe
