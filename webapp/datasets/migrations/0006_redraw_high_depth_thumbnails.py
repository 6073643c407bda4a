"""Thumbnails of 16-bit, 32-bit and float images drawn again by ml.pixels' rule (the depth the values use):
before, a 12-bit image in a 16-bit container was divided by 257 and showed black."""

from django.db import migrations

def redraw(apps, schema_editor):
    from django.core.files.storage import default_storage
    from PIL import Image as PILImage

    from webapp.datasets import files, imaging

    Image = apps.get_model("datasets", "Image")
    done = set()
    for name, thumbnail in Image.objects.exclude(thumbnail="").values_list("file", "thumbnail").iterator():
        if thumbnail in done:
            continue
        done.add(thumbnail)
        try:
            if not files.is_high_depth_file(name):  # the header only (a ranged GET on S3)
                continue
            with default_storage.open(name, "rb") as handle, PILImage.open(handle) as opened:
                opened.load()
                data = imaging.thumbnail_jpeg(opened)
            default_storage.delete(thumbnail)
            files.write_once(thumbnail, data)
        except Exception:  # noqa: BLE001 - a file missing or unreadable keeps the thumbnail it has
            continue


class Migration(migrations.Migration):
    dependencies = [("datasets", "0005_import_queue_state")]

    operations = [migrations.RunPython(redraw, migrations.RunPython.noop, elidable=True)]
