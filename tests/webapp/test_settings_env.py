"""Settings come from the environment, typed; the broker falls back to the embedded one."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT = "from django.conf import settings; import django; django.setup(); print({})"


def settings_value(expression: str, tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CELERY_BROKER_URL", "SECRET_KEY", "DEBUG", "DATA_DIR", "DATABASE_URL"}
    }
    clean.update(DJANGO_SETTINGS_MODULE="webapp.config.settings", DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", PRINT.format(expression)], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_without_a_broker_setting_or_a_redis_it_uses_the_embedded_broker_under_data_dir(tmp_path):
    result = settings_value(
        "settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS['data_folder_in']",
        tmp_path,
        DEBUG="true",
        REDIS_URL="redis://127.0.0.1:1/0",
    )

    assert result.returncode == 0, result.stderr
    assert "filesystem://" in result.stdout and str(tmp_path / "broker") in result.stdout


def test_an_explicit_broker_wins(tmp_path):
    result = settings_value("settings.CELERY_BROKER_URL", tmp_path, DEBUG="true", CELERY_BROKER_URL="redis://q:6379/3")

    assert result.stdout.strip() == "redis://q:6379/3"


def test_debug_is_a_real_boolean_and_off_it_requires_a_secret_key(tmp_path):
    refused = settings_value("settings.DEBUG", tmp_path, DEBUG="False")
    allowed = settings_value("settings.DEBUG", tmp_path, DEBUG="False", SECRET_KEY="s" * 50)

    assert refused.returncode != 0 and "SECRET_KEY" in refused.stderr
    assert allowed.returncode == 0 and allowed.stdout.strip() == "False"


def test_sqlite_lives_in_data_dir_and_database_url_selects_postgres(tmp_path):
    sqlite = settings_value("settings.DATABASES['default']['NAME']", tmp_path, DEBUG="true")
    postgres = settings_value(
        "settings.DATABASES['default']['ENGINE']",
        tmp_path,
        DEBUG="true",
        DATABASE_URL="postgres://u:p@db:5432/studio",
    )

    assert sqlite.stdout.strip() == str(tmp_path / "db.sqlite3")
    assert postgres.stdout.strip() == "django.db.backends.postgresql"


def test_a_redis_broker_gets_the_installation_prefix_and_shares_its_redis_with_the_cache(tmp_path):
    result = settings_value(
        "settings.CELERY_BROKER_TRANSPORT_OPTIONS['global_keyprefix'], settings.INSTANCE_NAME,"
        " settings.CACHES['default']['LOCATION'], settings.CACHES['default']['KEY_PREFIX']",
        tmp_path,
        DEBUG="true",
        CELERY_BROKER_URL="redis://q:6379/3",
    )

    prefix, instance, location, key_prefix = result.stdout.split()
    assert prefix == f"{instance}:" and key_prefix == instance and instance.startswith("ssn-")
    assert location == "redis://q:6379/3"


def test_without_redis_the_cache_is_a_folder_in_data_dir(tmp_path):
    result = settings_value(
        "settings.CACHES['default']['BACKEND'], settings.CACHES['default']['LOCATION']",
        tmp_path,
        DEBUG="true",
        REDIS_URL="redis://127.0.0.1:1/0",
    )

    assert "FileBasedCache" in result.stdout and str(tmp_path / "cache") in result.stdout


def test_stored_files_are_never_served_outside_the_api_not_even_with_debug(tmp_path):
    # With DEBUG, Django's static() used to serve MEDIA_ROOT to anyone: heatmaps by sequential id, images by hash.
    resolves = (
        "__import__('django.urls', fromlist=['resolve']).resolve(settings.MEDIA_URL + 'images/ab/ab.png').func.__name__"
    )
    result = settings_value(resolves, tmp_path, DEBUG="true")

    assert "settings.DEBUG" not in result.stderr and "Resolver404" in result.stderr, result.stdout
