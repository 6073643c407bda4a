"""`make run` creates the first admin user once and says which database and broker it uses."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def run(command: str) -> str:
    out = StringIO()
    call_command(command, stdout=out)
    return out.getvalue()


def test_it_creates_one_admin_with_a_generated_password_and_prints_it_once(monkeypatch, client):
    monkeypatch.delenv("ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)

    first = run("ensure_admin")
    second = run("ensure_admin")

    password = next(line.split(":", 1)[1].strip() for line in first.splitlines() if "password:" in line)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password) and len(password) >= 12
    assert Token.objects.get(user=admin).key in first
    assert "already exists" in second and password not in second
    assert get_user_model().objects.filter(is_superuser=True).count() == 1
    assert client.login(username="admin", password=password)


def test_it_takes_name_and_password_from_the_environment_without_printing_the_password(monkeypatch):
    monkeypatch.setenv("ADMIN_USERNAME", "quality")
    monkeypatch.setenv("ADMIN_PASSWORD", "line-3-secret")

    out = run("ensure_admin")

    assert get_user_model().objects.get(username="quality").check_password("line-3-secret")
    assert "line-3-secret" not in out and "quality" in out


def test_runtime_info_names_the_database_and_broker(settings):
    settings.CELERY_BROKER_URL = "redis://:hunter2@cache.internal:6379/0"

    out = run("runtime_info")

    assert "Database:" in out and "Broker:" in out
    assert "cache.internal:6379" in out and "hunter2" not in out


def test_runtime_info_explains_the_embedded_broker(settings):
    settings.CELERY_BROKER_URL = "filesystem://"

    assert "embedded filesystem broker" in run("runtime_info")


def test_runtime_info_names_the_storage(settings):
    assert "Storage:     local folder" in run("runtime_info")

    settings.AWS_STORAGE_BUCKET_NAME = "studio"
    settings.AWS_S3_ENDPOINT_URL = "http://minio:9000"

    assert "object storage, bucket studio at http://minio:9000" in run("runtime_info")
