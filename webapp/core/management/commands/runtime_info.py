"""Print which database, broker, storage, data folder and instance name this configuration uses (`make run`)."""

from django.conf import settings
from django.core.management.base import BaseCommand


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


class Command(BaseCommand):
    help = "Show the database, broker and data folder in use."

    def handle(self, *args, **options) -> None:
        db = settings.DATABASES["default"]
        if db["ENGINE"].endswith("sqlite3"):
            database = f"SQLite at {db['NAME']}"
        else:
            engine = db["ENGINE"].rsplit(".", 1)[-1]
            database = f"{engine} {db.get('HOST') or 'localhost'}:{db.get('PORT') or ''}/{db['NAME']}"
        broker = settings.CELERY_BROKER_URL
        if broker.startswith("filesystem://"):
            broker = f"embedded filesystem broker at {settings.BROKER_DIR} (no Redis answered)"
        else:
            broker = _redact(broker)
        self.stdout.write(f"Data folder: {settings.DATA_DIR}")
        self.stdout.write(f"Database:    {database}")
        self.stdout.write(f"Broker:      {broker}")
        if settings.AWS_STORAGE_BUCKET_NAME:
            endpoint = getattr(settings, "AWS_S3_ENDPOINT_URL", None) or "AWS"
            storage = f"object storage, bucket {settings.AWS_STORAGE_BUCKET_NAME} at {endpoint}"
        else:
            storage = f"local folder {settings.MEDIA_ROOT} (one machine: set AWS_STORAGE_BUCKET_NAME for several)"
        self.stdout.write(f"Storage:     {storage}")
        # Keys in a shared Redis carry this prefix: another checkout on the same Redis has another name.
        self.stdout.write(f"Instance:    {settings.INSTANCE_NAME}")
