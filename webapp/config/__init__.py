"""Django project package. Exposes the Celery app so `celery -A webapp.config worker` finds it."""

from .celery import app as celery_app

__all__ = ("celery_app",)
