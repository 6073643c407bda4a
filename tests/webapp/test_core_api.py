"""Schema and docs, the task-queue helper, and JSON error bodies everywhere under /api/ (health: test_health.py)."""

import pytest
from celery import Celery
from django.test import RequestFactory

from webapp.core import queue
from webapp.core.views import handler404, handler500

pytestmark = pytest.mark.django_db


def unreachable_app() -> Celery:
    return Celery("unreachable", broker="redis://127.0.0.1:1/0", set_as_current=False)  # nothing listens there


def test_enqueue_returns_false_when_the_broker_is_unreachable(settings, monkeypatch):
    settings.BROKER_TIMEOUT_S = 0.5
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery lets it override any app's broker
    app = unreachable_app()

    @app.task(name="tests.noop", queue="infer")
    def noop():
        return None

    assert queue.enqueue(noop) is False
    assert queue.broker_reachable(app) is False
    assert queue.worker_count(app, timeout=0.2) == 0


def test_enqueue_sends_to_a_reachable_broker():
    app = Celery("memory", broker="memory://", set_as_current=False)
    sent = []

    @app.task(name="tests.echo", queue="infer")
    def echo(x):
        return x

    app.conf.task_always_eager = False
    original = echo.apply_async
    echo.apply_async = lambda *a, **k: sent.append(k.get("args")) or original(*a, **k)

    assert queue.enqueue(echo, 5) is True
    assert sent == [(5,)]


def test_the_schema_documents_the_contract(anon_client):
    response = anon_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in [
        "/api/v1/auth/token/",
        "/api/v1/projects/",
        "/api/v1/projects/{id}/",
        "/api/v1/projects/{project_id}/members/",
        "/api/v1/projects/{project_id}/members/{user_id}/",
        "/api/v1/projects/{project_id}/images/",
        "/api/v1/projects/{project_id}/images/bulk/",
        "/api/v1/projects/{project_id}/imports/",
        "/api/v1/images/{id}/",
        "/api/v1/images/{id}/file/",
        "/api/v1/images/{id}/thumbnail/",
        "/api/v1/images/{id}/view/",
        "/api/v1/images/{id}/mask/",
        "/api/v1/imports/{id}/",
        "/api/v1/health/",
    ]:
        assert path in paths, path
    upload = paths["/api/v1/projects/{project_id}/images/"]["post"]["requestBody"]["content"]["multipart/form-data"]
    files = schema["components"]["schemas"][upload["schema"]["$ref"].rsplit("/", 1)[-1]]["properties"]["files"]
    assert files["items"]["format"] == "binary"
    archive_ref = paths["/api/v1/projects/{project_id}/imports/"]["post"]["requestBody"]["content"][
        "multipart/form-data"
    ]
    archive = schema["components"]["schemas"][archive_ref["schema"]["$ref"].rsplit("/", 1)[-1]]["properties"]["archive"]
    assert archive["format"] == "binary"
    assert "image/png" in paths["/api/v1/images/{id}/mask/"]["put"]["requestBody"]["content"]
    listing = paths["/api/v1/projects/{project_id}/images/"]["get"]["parameters"]
    assert {"label", "split", "has_mask", "ordering", "predicted", "ids", "page", "page_size"} <= {
        p["name"] for p in listing
    }
    assert "415" in paths["/api/v1/projects/{project_id}/images/"]["post"]["responses"]
    # every endpoint that needs a login is throttled too: 401 and 429 are documented on each operation
    for path, operations in paths.items():
        for method, operation in operations.items():
            if "401" in operation.get("responses", {}):
                assert "429" in operation["responses"], (method, path)


def test_the_docs_page_uses_local_assets(anon_client):
    response = anon_client.get("/api/v1/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page and "/static/drf_spectacular_sidecar/" in page
    assert "cdn.jsdelivr" not in page and "unpkg" not in page
    from django.contrib.staticfiles import finders

    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{asset}"), asset


def test_unknown_api_paths_are_404_json(api_client):
    response = api_client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_an_api_path_without_its_trailing_slash_is_served_not_redirected(api_client, project):
    from .conftest import mask_png
    from .factories import ImageFactory

    created = api_client.post("/api/v1/projects", {"name": "No slash"}, format="json")
    image = ImageFactory(project=project, width=8, height=6)
    mask = api_client.put(f"/api/v1/images/{image.pk}/mask", mask_png(8, 6), content_type="image/png")
    missing = api_client.post("/api/v1/nothing-here", {}, format="json")

    assert created.status_code == 201 and created.json()["name"] == "No slash"  # the body was not lost
    assert mask.status_code == 200 and mask.json()["has_mask"] is True
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"


def test_wrong_methods_are_405_json(api_client):
    response = api_client.put("/api/v1/projects/", {}, format="json")
    assert response.status_code == 405
    assert "not allowed" in response.json()["detail"]


def test_django_error_handlers_answer_json_under_api_and_html_elsewhere():
    factory = RequestFactory()

    api_404 = handler404(factory.get("/api/v1/x/"), Exception("x"))
    api_500 = handler500(factory.get("/api/v1/x/"))
    page_404 = handler404(factory.get("/somewhere/"), Exception("x"))

    assert (api_404.status_code, api_404["Content-Type"]) == (404, "application/json")
    assert (api_500.status_code, api_500["Content-Type"]) == (500, "application/json")
    assert b'"detail"' in api_500.content
    assert page_404.status_code == 404 and "text/html" in page_404["Content-Type"]


def test_admin_lists_every_datasets_model(admin_client):
    for model in ("project", "membership", "image", "mask", "importjob"):
        assert admin_client.get(f"/admin/datasets/{model}/").status_code == 200


def test_browsers_get_json_too(api_client):
    response = api_client.get(
        "/api/v1/projects/999/", HTTP_ACCEPT="text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    )
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_errors_django_renders_itself_become_json_under_api(api_client, settings):
    settings.DEBUG = True  # Django's technical 404 page instead of handler404

    response = api_client.get("/api/v1/nothing-here/")

    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not Found"}


def test_html_pages_outside_api_stay_html(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "text/html" in response["Content-Type"]


def test_enqueue_by_name_finds_the_registered_task_and_its_queue_in_a_fresh_process():
    """A web process has imported no tasks module when it first enqueues: the name must still resolve."""
    import subprocess
    import sys

    code = (
        "import django; django.setup(); from webapp.core.queue import task_named; "
        "print(task_named('training.run_job').queue, task_named('datasets.import_archive').queue)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["train", "infer"]


@pytest.mark.parametrize("path", ["/api/v1/schema/", "/api/v1/docs/", "/api/v1/health/"])
def test_public_paths_answer_whatever_token_is_sent_along(anon_client, path):
    anon_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert anon_client.get(path).status_code == 200
