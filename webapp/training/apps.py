from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "webapp.training"
    label = "training"

    def ready(self) -> None:
        from django.conf import settings

        from webapp.config.celery import app
        from webapp.datasets.signals import labels_changed

        from .services import on_labels_changed

        labels_changed.connect(on_labels_changed, dispatch_uid="training.auto_retrain")
        # `celery beat` (or a worker started with -B) runs the dispatcher/reaper on this schedule.
        app.conf.beat_schedule = {
            **(app.conf.beat_schedule or {}),
            "training.dispatch_and_reap": {
                "task": "training.dispatch_and_reap",
                "schedule": settings.TRAINING_DISPATCH_INTERVAL_SECONDS,
                "options": {"queue": "infer", "expires": settings.TRAINING_DISPATCH_INTERVAL_SECONDS},
            },
        }
