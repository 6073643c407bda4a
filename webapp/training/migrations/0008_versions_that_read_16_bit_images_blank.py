"""Versions trained before ml.pixels read their 16-bit training images as blank (white) pictures: they are
marked (`metrics.read_16_bit_blank`, the warning `read_16_bit_blank` says to train a new version), and the
stored scores of 16-bit images by such a project's active version are dropped, so the dispatcher scores them
again by today's rule (the gallery then agrees with new predictions and inference batches)."""

from django.db import migrations

TRAIN_FILES_CHECKED = 50  # of a version's training images: a project of 8-bit images is told apart by these


def mark(apps, schema_editor):
    from webapp.datasets import files

    ModelVersion = apps.get_model("training", "ModelVersion")
    SnapshotEntry = apps.get_model("training", "SnapshotEntry")
    Prediction = apps.get_model("training", "Prediction")
    Image = apps.get_model("datasets", "Image")
    known: dict[str, bool] = {}

    def high_depth(name: str) -> bool:
        if name not in known:
            try:
                known[name] = files.is_high_depth_file(name)
            except Exception:  # noqa: BLE001 - a file missing or unreadable tells nothing
                known[name] = False
        return known[name]

    affected = set()
    for version in ModelVersion.objects.filter(sample_depth__isnull=True).exclude(job=None).iterator():
        names = SnapshotEntry.objects.filter(job_id=version.job_id, split="train").values_list("file", flat=True)
        if any(high_depth(name) for name in names[:TRAIN_FILES_CHECKED]):
            version.metrics = {**(version.metrics or {}), "read_16_bit_blank": True}
            version.save(update_fields=["metrics"])
            affected.add(version.project_id)
    for version in ModelVersion.objects.filter(is_active=True, project_id__in=affected):
        rows = Image.objects.filter(project_id=version.project_id).values_list("id", "file")
        deep = [pk for pk, name in rows.iterator() if high_depth(name)]
        Prediction.objects.filter(model_version=version, image_id__in=deep).delete()


class Migration(migrations.Migration):
    dependencies = [("training", "0007_modelversion_sample_depth"), ("datasets", "0006_redraw_high_depth_thumbnails")]

    operations = [migrations.RunPython(mark, migrations.RunPython.noop, elidable=True)]
