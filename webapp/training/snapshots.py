"""Training snapshots: what a run trains and evaluates on, frozen when it starts.

A job's snapshot is one SnapshotEntry per labelled image (file, label, split, mask file, defect
type) written in the transaction that claims the job. The run reads only its entries, so people
can label, paint, move and delete images while it trains: the files the entries name are immutable
and the collector (webapp/core/collect.py) keeps every file an entry refers to. The next run
freezes a new snapshot and sees the edits.

The summary stored on the job (and copied to its model version) counts the snapshot and says what
changed since the project's previous model version: images added, removed, relabelled, moved
between splits and masks new or replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

from webapp.datasets.models import Image, Label, Project, Split

from .models import ModelVersion, SnapshotEntry, TrainingJob

CHANGE_KEYS = ("added", "removed", "relabelled", "masks", "moved")


@dataclass(frozen=True)
class Row:
    image_id: int
    sha256: str
    file: str
    mask_file: str
    label: str
    split: str
    defect_type: str | None


def current_rows(project: Project) -> list[Row]:
    """The project's labelled images as a snapshot would take them now (one query, so one consistent view)."""
    values = (
        Image.objects.filter(project=project, label__in=[Label.GOOD, Label.DEFECTIVE])
        .order_by("id")
        .values_list("id", "sha256", "file", "mask__file", "label", "split", "defect_type", "has_mask")
    )
    return [
        Row(pk, sha, file, (mask or "") if has_mask else "", label, split, defect_type)
        for pk, sha, file, mask, label, split, defect_type, has_mask in values.iterator(chunk_size=2000)
    ]


def entry_rows(job_id: int) -> list[Row]:
    values = SnapshotEntry.objects.filter(job_id=job_id).values_list(
        "image_id", "sha256", "file", "mask_file", "label", "split", "defect_type"
    )
    return [Row(*value) for value in values.iterator(chunk_size=2000)]


def previous_version(project_id: int) -> ModelVersion | None:
    """The project's newest model version (the one "changed since" is measured against)."""
    return ModelVersion.objects.filter(project_id=project_id).order_by("-version").first()


def changes(rows: list[Row], previous: list[Row] | None) -> dict | None:
    """{added, removed, relabelled, masks, moved} of `rows` against `previous`; None without a previous."""
    if previous is None:
        return None
    before = {row.image_id: row for row in previous}
    now_ids = set()
    counts = dict.fromkeys(CHANGE_KEYS, 0)
    for row in rows:
        now_ids.add(row.image_id)
        old = before.get(row.image_id)
        if old is None:
            counts["added"] += 1
            counts["masks"] += bool(row.mask_file)
            continue
        counts["relabelled"] += old.label != row.label
        counts["moved"] += old.split != row.split
        counts["masks"] += bool(row.mask_file) and row.mask_file != old.mask_file
    counts["removed"] = sum(1 for image_id in before if image_id not in now_ids)
    return counts


def summarize(rows: list[Row], *, previous: ModelVersion | None, previous_rows: list[Row] | None) -> dict:
    def counts(selected: list[Row]) -> dict:
        return {
            "images": len(selected),
            "good": sum(row.label == Label.GOOD for row in selected),
            "defective": sum(row.label == Label.DEFECTIVE for row in selected),
            "masks": sum(bool(row.mask_file) for row in selected),
        }

    return {
        **counts(rows),
        "train": counts([row for row in rows if row.split == Split.TRAIN]),
        "test": counts([row for row in rows if row.split == Split.TEST]),
        "previous_version": previous.version if previous is not None else None,
        "changed": changes(rows, previous_rows),
    }


def _rows_of(version: ModelVersion | None) -> list[Row] | None:
    if version is None:
        return None
    rows = entry_rows(version.job_id) if version.job_id is not None else []
    return rows or None  # none: trained before snapshots existed, nothing to compare with


def freeze(job: TrainingJob) -> dict:
    """Write the job's entries and summary; call inside the transaction that claims the job."""
    rows = current_rows(job.project)
    SnapshotEntry.objects.filter(job=job).delete()  # a re-claimed job freezes afresh
    SnapshotEntry.objects.bulk_create(
        [
            SnapshotEntry(
                job=job,
                image_id=row.image_id,
                sha256=row.sha256,
                file=row.file,
                mask_file=row.mask_file,
                label=row.label,
                split=row.split,
                defect_type=row.defect_type,
            )
            for row in rows
        ],
        batch_size=500,
    )
    previous = previous_version(job.project_id)
    job.snapshot = summarize(rows, previous=previous, previous_rows=_rows_of(previous))
    job.save(update_fields=["snapshot"])
    return job.snapshot


def pending(project: Project) -> dict:
    """The summary a run started now would freeze (for the training page and the retrain policy)."""
    previous = previous_version(project.id)
    return summarize(current_rows(project), previous=previous, previous_rows=_rows_of(previous))


def is_unchanged(summary: dict) -> bool:
    """True when a snapshot equals the previous version's (nothing to learn from a retrain)."""
    changed = summary.get("changed")
    return changed is not None and not any(changed.get(key) for key in CHANGE_KEYS)


def release(job_id: int) -> int:
    """Drop the entries of a job that ended without a model version, so the collector may take their files."""
    deleted, _ = SnapshotEntry.objects.filter(job_id=job_id, job__model_version__isnull=True).delete()
    return deleted
