"""Settings for the test suite: the normal settings with safe defaults for what tests do not configure.

Unit tests use an in-memory broker and a throw-away data folder; integration tests that start real
workers pass DATABASE_URL, CELERY_BROKER_URL and DATA_DIR explicitly.
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="ssn-test-"))
os.environ.setdefault("CELERY_BROKER_URL", "memory://")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
