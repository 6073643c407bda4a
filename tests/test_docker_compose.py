"""No Docker engine runs on the development machines, so the compose file is checked against the code:
its commands must start the project's real entry points and its environment must name real settings."""

import importlib
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
# Names read by libraries rather than by settings.py (boto3 reads the S3 credentials itself).
LIBRARY_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
# Names read by docker/entrypoint.sh or the ensure_admin command.
ENTRYPOINT_ENV = {"WORKER_QUEUES", "WORKER_CONCURRENCY", "WORKER_NAME", "WEB_CONCURRENCY"}
ADMIN_ENV = {"ADMIN_USERNAME", "ADMIN_PASSWORD", "ADMIN_EMAIL"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def settings_env_names() -> set[str]:
    source = (ROOT / "webapp" / "config" / "settings.py").read_text()
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"', source))


def entrypoint_roles() -> set[str]:
    source = (DOCKER / "entrypoint.sh").read_text()
    return set(re.findall(r"^\s*([a-z][a-z-]*)\)\s*$", source, flags=re.MULTILINE))


def test_settings_reader_finds_the_documented_names():
    names = settings_env_names()
    assert {"DATA_DIR", "DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"} <= names


def test_every_app_environment_name_is_read_by_the_project(compose):
    known = settings_env_names() | LIBRARY_ENV | ENTRYPOINT_ENV | ADMIN_ENV
    for name, service in compose["services"].items():
        if service.get("image", "").startswith("ssn-studio"):
            unknown = set(service.get("environment", {})) - known
            assert not unknown, f"{name} sets environment names nothing reads: {sorted(unknown)}"


def test_env_example_names_are_used_by_compose():
    compose_text = (DOCKER / "compose.yaml").read_text()
    names = [
        line.split("=", 1)[0]
        for line in (DOCKER / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert names
    for name in names:
        assert "${" + name in compose_text, f"{name} in .env.example is not used by compose.yaml"


def test_app_services_run_a_role_the_entrypoint_knows(compose):
    roles = entrypoint_roles()
    assert {"web", "worker", "beat"} <= roles
    for name, service in compose["services"].items():
        if service.get("image", "").startswith("ssn-studio"):
            assert service["command"][0] in roles, name


def test_entrypoint_starts_the_real_wsgi_app_celery_app_and_commands():
    source = (DOCKER / "entrypoint.sh").read_text()
    module, attribute = re.search(r"gunicorn ([\w.]+):(\w+)", source).groups()
    assert re.search(r"celery -A webapp\.config ", source)
    assert hasattr(importlib.import_module("webapp.config"), "celery_app")
    wsgi_path = ROOT / (module.replace(".", "/") + ".py")
    assert f"{attribute} =" in wsgi_path.read_text()
    for command in re.findall(r"manage\.py (\w+)", source):
        builtin = command in {"migrate", "collectstatic"}
        ours = [ROOT / "webapp" / app / "management/commands" / f"{command}.py" for app in ("core", "training")]
        assert builtin or any(path.exists() for path in ours), command


def test_worker_queues_are_queues_that_tasks_are_routed_to(compose):
    from webapp.config.celery import app

    app.loader.import_default_modules()
    task_queues = {getattr(task, "queue", None) for task in app.tasks.values()} - {None}
    assert {"train", "infer"} <= task_queues
    for name, service in compose["services"].items():
        queues = service.get("environment", {}).get("WORKER_QUEUES")
        if queues:
            assert set(queues.split(",")) <= task_queues, name


def test_gpu_worker_reserves_an_nvidia_device_and_builds_the_cuda_variant(compose):
    worker = compose["services"]["worker-gpu"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert worker["build"]["args"]["TORCH_VARIANT"] == "cuda"
    assert "train" in worker["environment"]["WORKER_QUEUES"].split(",")
    dockerfile = (ROOT / worker["build"]["dockerfile"]).read_text()
    assert "ARG TORCH_VARIANT" in dockerfile


def test_web_waits_for_healthy_database_and_broker(compose):
    depends = compose["services"]["web"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    env = compose["services"]["web"]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://") and env["CELERY_BROKER_URL"].startswith("redis://")


def test_the_multi_gpu_worker_takes_every_gpu_and_runs_the_per_gpu_launcher(compose):
    worker = compose["services"]["worker-multi-gpu"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["count"] == "all" and "gpu" in devices[0]["capabilities"]
    assert worker["command"] == ["gpu-workers"] and worker["image"] == compose["services"]["worker-gpu"]["image"]
    assert "scripts/gpu_workers.sh" in (DOCKER / "entrypoint.sh").read_text()


def test_every_app_process_comes_back_when_it_dies(compose):
    """A dead beat stops the dispatcher and reaper; a dead worker its queue: Docker starts them again."""
    for name, service in compose["services"].items():
        if service.get("image", "").startswith("ssn-studio"):
            assert service.get("restart") == "unless-stopped", name


def test_the_web_server_keeps_idle_connections_longer_than_clients_poll():
    """Pages poll every 2-5 s; gunicorn's default keep-alive (2 s) drops a connection as the next poll goes out
    (tests/integration/test_keepalive.py runs the stack with the same flag)."""
    for script in (ROOT / "scripts/run.sh", DOCKER / "entrypoint.sh"):
        assert re.search(r"gunicorn [^&;]*--keep-alive 15", script.read_text(), re.S), script


def test_an_upgrade_serves_the_new_front_end_even_when_its_files_look_older():
    # collectstatic skips a file whose copy is newer than the source: an unpacked release kept the old scripts
    assert re.search(r"manage\.py collectstatic [^\n]*--clear", (ROOT / "scripts/run.sh").read_text())
