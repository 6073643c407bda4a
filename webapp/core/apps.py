from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "webapp.core"
    label = "core"

    def ready(self) -> None:
        from django.conf import settings

        from webapp.config.celery import app

        app.conf.beat_schedule = {
            **(app.conf.beat_schedule or {}),
            "core.collect_files": {
                "task": "core.collect_files",
                "schedule": settings.FILES_COLLECT_INTERVAL_SECONDS,
                "options": {"queue": "infer", "expires": settings.FILES_COLLECT_INTERVAL_SECONDS},
            },
        }
