"""The file collector: deletes stored files that nothing refers to any more, safely.

Edits never delete files. Stored files are immutable (content-addressed images, thumbnails and
masks; per-version heatmaps and checkpoints), so a training that froze a snapshot of the project
keeps reading exactly the bytes it froze, whatever people change meanwhile. Deleting an image,
replacing a mask or deleting a project only drops rows; this collector later removes the files no
row refers to.

"Refers to" is every FileField of every installed model, so training snapshots (SnapshotEntry),
model checkpoints, predictions, inference items and import archives all hold their files without
this module knowing about them. A file is deleted only when it was unreferenced at two passes at
least `grace_seconds` apart (UnreferencedFile remembers the first): a row being written during the
first pass, an upload or a snapshot, has committed by the second.

Works on any Django storage that implements `listdir` (local files, S3 through django-storages).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.apps import apps
from django.core.files.storage import default_storage
from django.db import models
from django.utils import timezone

from .models import UnreferencedFile

logger = logging.getLogger(__name__)

# Top-level folders of the storage that the application writes; nothing else is ever touched.
MANAGED_PREFIXES = ("images", "thumbnails", "masks", "predictions", "models", "imports", "inference")


@dataclass
class CollectReport:
    scanned: int = 0
    referenced: int = 0
    pending: int = 0  # unreferenced, waiting out the grace period
    deleted: list[str] = field(default_factory=list)


def referenced_names() -> set[str]:
    """Every file name a row of any installed model points at."""
    names: set[str] = set()
    for model in apps.get_models():
        for model_field in model._meta.get_fields():
            if isinstance(model_field, models.FileField) and model_field.concrete:
                column = model_field.name
                values = model._default_manager.exclude(**{column: ""}).values_list(column, flat=True)
                names.update(name for name in values.iterator(chunk_size=2000) if name)
    return names


def stored_names(prefixes=MANAGED_PREFIXES) -> Iterator[str]:
    """Names of the files in storage under `prefixes`, recursively. Temporary files (".name") are skipped."""
    pending = list(prefixes)
    while pending:
        folder = pending.pop()
        try:
            dirs, files = default_storage.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue  # a prefix nothing was written to yet
        pending.extend(f"{folder}/{name}" for name in dirs)
        for name in files:
            if not name.startswith("."):
                yield f"{folder}/{name}"


def collect_files(*, grace_seconds: float, now=None, dry_run: bool = False) -> CollectReport:
    """One pass of the collector (see the module docstring). `dry_run` reports without deleting."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=max(0.0, grace_seconds))
    report = CollectReport()
    # Listed before the references are read: a file written after the listing is not looked at, and
    # a row committed before the reading protects its file.
    names = set(stored_names())
    referenced = referenced_names()
    report.scanned = len(names)
    orphans = names - referenced
    report.referenced = len(names) - len(orphans)
    known = dict(UnreferencedFile.objects.values_list("name", "first_seen_at"))
    # Files referenced again (re-uploaded bytes) or gone from storage are forgotten.
    forget = [name for name in known if name not in orphans]
    if forget and not dry_run:
        for start in range(0, len(forget), 500):
            UnreferencedFile.objects.filter(name__in=forget[start : start + 500]).delete()
    new = []
    for name in sorted(orphans):
        seen = known.get(name)
        if seen is None:
            new.append(UnreferencedFile(name=name, first_seen_at=now))
            report.pending += 1
        elif seen <= cutoff:
            report.deleted.append(name)
        else:
            report.pending += 1
    if dry_run:
        return report
    UnreferencedFile.objects.bulk_create(new, ignore_conflicts=True)
    candidates, report.deleted = report.deleted, []
    for name in candidates:
        # Checked again right before the delete, one file at a time: bytes re-uploaded since the pass
        # began (content-addressed, so the same name) keep their file.
        if is_referenced(name):
            UnreferencedFile.objects.filter(name=name).delete()
            continue
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("Could not delete unreferenced file %s", name, exc_info=True)
            continue
        UnreferencedFile.objects.filter(name=name).delete()
        report.deleted.append(name)
    if report.deleted:
        logger.info("File collector deleted %s unreferenced files", len(report.deleted))
    return report


def is_referenced(name: str) -> bool:
    """True when some row refers to `name` right now (checked just before deleting it)."""
    return any(
        model._default_manager.filter(**{model_field.name: name}).exists()
        for model in apps.get_models()
        for model_field in model._meta.get_fields()
        if isinstance(model_field, models.FileField) and model_field.concrete
    )
