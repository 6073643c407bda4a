from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "webapp.core"
    label = "core"

    def ready(self) -> None:
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_save

        from webapp.config.celery import app

        from .tokens import revoke_on_password_change

        pre_save.connect(revoke_on_password_change, sender=get_user_model(), dispatch_uid="revoke-token-on-password")

        app.conf.beat_schedule = {
            **(app.conf.beat_schedule or {}),
            "core.collect_files": {
                "task": "core.collect_files",
                "schedule": settings.FILES_COLLECT_INTERVAL_SECONDS,
                "options": {"queue": "infer", "expires": settings.FILES_COLLECT_INTERVAL_SECONDS},
            },
        }
