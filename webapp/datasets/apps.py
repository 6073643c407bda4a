from django.apps import AppConfig

# Seconds between runs of `datasets.redispatch_imports` (celery beat): imports left queued while the broker
# was down are sent again, and running imports whose worker died are failed.
IMPORT_DISPATCH_INTERVAL_S = 60.0


class DatasetsConfig(AppConfig):
    name = "webapp.datasets"
    label = "datasets"

    def ready(self) -> None:
        from webapp.config.celery import app

        app.conf.beat_schedule = {
            **(app.conf.beat_schedule or {}),
            "datasets.redispatch_imports": {
                "task": "datasets.redispatch_imports",
                "schedule": IMPORT_DISPATCH_INTERVAL_S,
                "options": {"queue": "infer", "expires": IMPORT_DISPATCH_INTERVAL_S},
            },
        }
