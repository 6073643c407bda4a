"""Zip imports: an MVTec AD layout brings labels, masks, splits and defect types; any other zip brings
unlabeled images; a `manifest.csv` (manifest.py) adds labels, splits and defect types to either. Images the
project already has take what the archive knows when the project knows less (reimport.py).

Entries are read into memory one at a time and stored through the same checks as uploads, so nothing
from an archive is ever extracted to a path it names. Entries that try to escape (`../`, absolute
paths, drive letters, symbolic links) are skipped and reported; caps on the entry count and the total
uncompressed size refuse zip bombs before anything is read; a bad entry never stops the others.
"""

import logging
import time
import uuid
import zipfile
from datetime import timedelta
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from webapp.core.exceptions import (
    InsufficientStorage,
    InvalidInput,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
    is_disk_full,
)

from . import files, imaging, manifest, reimport, services
from .imaging import EmptyMask
from .import_plan import plan_archive
from .manifest import Known
from .models import ImportJob, ImportStatus, Label, Project

logger = logging.getLogger(__name__)

# Entries are judged by content; the name only decides how to report a refused one: an image in a format
# we do not take is an error, anything else (notes, CSVs) is skipped as not an image.
IMAGE_LIKE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".avif", ".heic", ".jp2"}
PROGRESS_EVERY_S = 1.0
# A running import writes its heartbeat after every image, at most every PROGRESS_EVERY_S; one silent this long
# has lost its worker (no single image takes two minutes to store).
STALE_AFTER_S = 120.0
WORKER_LOST = (
    "The worker running this import stopped (it was restarted or ran out of memory, or the server's disk filled "
    "up). Import the archive again: the images already imported are recognised and kept."
)


# ---------------------------------------------------------------- job creation (web request)


@transaction.atomic
def import_job_create(*, project: Project, user, archive: UploadedFile) -> ImportJob:
    """Store the uploaded zip, create a queued job and send it to the `infer` queue after commit.

    After the commit `job.queue` says whether the broker took the task ("unavailable": it stays queued)."""
    imaging.check_archive_size(archive.size)
    archive.seek(0)
    if not zipfile.is_zipfile(archive):
        raise InvalidInput("The archive is not a zip file.")
    archive.seek(0)
    intended = f"imports/{uuid.uuid4().hex}.zip"
    try:
        name = default_storage.save(intended, archive)
    except BaseException:
        files.delete_quietly([intended])  # a save that failed half-way (a full disk) must not keep its part
        raise
    try:
        job = ImportJob.objects.create(project=project, created_by=user, archive=name, archive_name=archive.name[:255])
    except BaseException:
        files.delete_quietly([name])
        raise
    transaction.on_commit(lambda: dispatch(job))
    return job


def disk_full(done: int = 0, total: int = 0) -> InsufficientStorage:
    """The server's disk filled up during an import: it stops there (every further entry would fail alike)."""
    where = f" after {done} of {total} images" if total else ""
    return InsufficientStorage(
        f"The server's disk is full: the import stopped{where}. Free space, then import the archive "
        "again: the images already imported are recognised and kept."
    )


def dispatch(job: ImportJob) -> bool:
    """Send the import's task; its `queue` field keeps the answer, so every later GET shows it too."""
    from webapp.core.queue import enqueue

    sent = enqueue("datasets.import_archive", job.pk)
    job.queue = "ok" if sent else "unavailable"
    ImportJob.objects.filter(pk=job.pk).exclude(queue=job.queue).update(queue=job.queue)
    return sent


def redispatch_and_reap(*, queued_after_s: float = 60.0, stale_after_s: float = STALE_AFTER_S) -> dict:
    """Send again imports still queued after `queued_after_s` (created while the broker was down, or lost),
    and fail running imports whose heartbeat stopped (their worker died). Run by celery beat."""
    now = timezone.now()
    sent = 0
    for job in ImportJob.objects.filter(
        status=ImportStatus.QUEUED, created_at__lt=now - timedelta(seconds=queued_after_s)
    ):
        sent += dispatch(job)
    return {"sent": sent, "reaped": reap_lost_imports(stale_after_s=stale_after_s)}


def reap_lost_imports(*, project_id: int | None = None, stale_after_s: float = STALE_AFTER_S) -> int:
    """Fail running imports (of one project, or all) whose heartbeat stopped: beat runs it, and so do the
    requests that show imports, so a lost import is seen as failed even while beat is down."""
    now = timezone.now()
    lost = ImportJob.objects.filter(
        status=ImportStatus.RUNNING, heartbeat_at__lt=now - timedelta(seconds=stale_after_s)
    )
    if project_id is not None:
        lost = lost.filter(project_id=project_id)
    if not lost.exists():  # the usual answer, and a read: a poll must not take the database's write lock
        return 0
    projects = set(lost.values_list("project_id", flat=True))
    with transaction.atomic():
        archives = [name for name in lost.values_list("archive", flat=True) if name]
        # The archive goes too (the message says to import it again): a failed import keeps no 2 GB file.
        failed = lost.update(status=ImportStatus.FAILED, error=WORKER_LOST, finished_at=now, archive="")
        for lost_project in projects:  # the labels it counted before its worker died may call for a training
            services.labels_arrived(lost_project)
        transaction.on_commit(lambda: files.delete_quietly(archives))
    return failed


# ---------------------------------------------------------------- running (worker)


def run_import(*, job_id: int) -> ImportJob:
    """Import the job's archive. Idempotent: only a queued job is claimed (atomically), so a re-sent or
    re-delivered task for a job that another worker runs, or that finished, does nothing."""
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    if not claimed:
        return job
    try:
        with default_storage.open(job.archive.name, "rb") as handle, zipfile.ZipFile(handle) as archive:
            _import(job, archive)
        job.status = ImportStatus.SUCCEEDED
    except ProjectGone:
        return _end_without_project(job)
    except ServiceError as exc:
        job.status, job.error = ImportStatus.FAILED, exc.detail
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        reason = disk_full().detail if is_disk_full(exc) else f"Unreadable archive: {exc}"
        job.status, job.error = ImportStatus.FAILED, reason
    except Exception as exc:
        logger.exception("Import %s failed", job.pk)
        job.status, job.error = ImportStatus.FAILED, f"Import failed: {exc}"
    job.finished_at = timezone.now()
    job.progress = 1.0 if job.status == ImportStatus.SUCCEEDED else job.progress
    archive_name, job.archive = job.archive.name, ""
    try:
        with transaction.atomic():  # a savepoint: a failed save must not break a caller's transaction
            # Every field but `queue`, which the web may write after the task was sent (dispatch): a full-row
            # save would put back the value this worker read.
            job.save(update_fields=_WORKER_FIELDS)
    except (DatabaseError, IntegrityError):
        if _project_exists(job):
            raise
        return _end_without_project(job, archive_name)
    files.delete_quietly([archive_name])
    return job


_WORKER_FIELDS = [f.name for f in ImportJob._meta.concrete_fields if f.name not in ("id", "queue")]


class ProjectGone(Exception):
    """The project (and with it this import's row) was deleted while the import ran."""


def _project_exists(job: ImportJob) -> bool:
    return Project.objects.filter(pk=job.project_id).exists()


def _end_without_project(job: ImportJob, archive_name: str | None = None) -> ImportJob:
    """Stop quietly: there is no row left to report on, only the archive to remove."""
    logger.info("Import %s stopped: its project %s was deleted while it ran.", job.pk, job.project_id)
    files.delete_quietly([archive_name or job.archive.name])
    job.status, job.error = ImportStatus.FAILED, "The project was deleted during the import."
    return job


def _import(job: ImportJob, archive: zipfile.ZipFile) -> None:
    infos = archive.infolist()
    if len(infos) > settings.MAX_ARCHIVE_ENTRIES:
        raise PayloadTooLarge(f"The archive has {len(infos)} entries; the limit is {settings.MAX_ARCHIVE_ENTRIES}.")
    uncompressed = sum(info.file_size for info in infos)
    if uncompressed > settings.MAX_ARCHIVE_UNCOMPRESSED_BYTES:
        raise PayloadTooLarge(
            f"The archive unpacks to {uncompressed} bytes; the limit is {settings.MAX_ARCHIVE_UNCOMPRESSED_BYTES}."
        )
    plan = plan_archive(infos)
    job.skipped, job.errors, job.total = list(plan.skipped), [], len(plan.images)
    rows = _read_manifest(job, archive, plan.manifest)
    tally = _LabelTally(job.project_id)
    try:
        _import_images(job, archive, plan, rows, tally)
    except BaseException:
        # What was imported counts for retraining however the import ends, unless the database itself is what
        # failed (a full disk under SQLite): then the import's own error is the one to keep.
        try:
            tally.flush(done=True)
        except DatabaseError:
            logger.warning("Import %s: its new labels could not be counted", job.pk, exc_info=True)
        raise
    tally.flush(done=True)


class _LabelTally:
    """The labels and masks an import added, counted into the project's retrain counter as the import goes
    (at each progress write), so an import that stops half-way (its worker killed, a full disk) leaves them
    counted: importing the archive again finds those images and adds nothing to count. Retraining is told
    once, at the end (or by the reaper, for a killed worker), not on every write."""

    def __init__(self, project_id: int):
        self.project_id, self.total, self.counted = project_id, 0, 0

    def flush(self, *, done: bool = False) -> None:
        with transaction.atomic():
            services.count_new_labels(self.project_id, self.total - self.counted, notify=False)
            self.counted = self.total
            if done and self.counted and Project.objects.filter(pk=self.project_id).exists():
                services.labels_arrived(self.project_id)


def _import_images(job: ImportJob, archive, plan, rows: dict, tally: _LabelTally) -> None:
    used_masks: set[tuple[str, str, str]] = set()
    new_labels = 0
    last_beat = 0.0
    for done, planned in enumerate(plan.images, start=1):
        info = planned.info
        row = rows.pop(info.filename, None)
        known = row.over(planned.known) if row is not None else planned.known
        mask_info = plan.masks.get(planned.mask_key) if planned.mask_key else None
        if mask_info is not None:
            used_masks.add(planned.mask_key)
        try:
            new_labels += _import_one(job, archive, info, known, mask_info)
        except UnsupportedMediaType as exc:
            if PurePosixPath(info.filename).suffix.lower() in IMAGE_LIKE_SUFFIXES:
                job.errors.append({"name": info.filename, "reason": exc.detail})
            else:
                job.skipped.append({"name": info.filename, "reason": "not an image file"})
        except ServiceError as exc:
            job.errors.append({"name": info.filename, "reason": exc.detail})
        except IntegrityError:
            if not _project_exists(job):
                raise ProjectGone() from None
            raise
        except Exception as exc:  # a corrupt entry (bad CRC, encryption, ...) must not stop the others
            if is_disk_full(exc):  # ... but a full disk stops them all: say so once, not for every entry left
                raise disk_full(done - 1, len(plan.images)) from exc
            logger.warning("Import %s: entry %s failed", job.pk, info.filename, exc_info=True)
            job.errors.append({"name": info.filename, "reason": str(exc) or exc.__class__.__name__})
        job.progress = done / max(len(plan.images), 1)
        tally.total = new_labels + job.masks
        if time.monotonic() - last_beat > PROGRESS_EVERY_S:
            last_beat = time.monotonic()
            if not _save_progress(job):
                raise ProjectGone()
            tally.flush()
    for key, info in plan.masks.items():
        if key not in used_masks:
            job.skipped.append({"name": info.filename, "reason": "mask without a matching defective image"})
    for name, row in rows.items():
        reason = f"names no image imported from the archive: {name}"
        job.skipped.append({"name": f"{plan.manifest.filename} line {row.line}", "reason": reason})


def _import_one(
    job: ImportJob, archive: zipfile.ZipFile, info: zipfile.ZipInfo, known: Known, mask: zipfile.ZipInfo | None
) -> int:
    """Store one image (or find it: same bytes) and apply what the archive knows. Returns its new labels."""
    # A label without a split is given after creation, so that the split policy decides the split.
    image, created = services.image_create(
        project=job.project,
        filename=PurePosixPath(info.filename).name,
        data=imaging.read_zip_entry(archive, info),
        label=known.label if known.split_locked else Label.UNLABELED,
        split=known.split,
        split_locked=known.split_locked,
    )
    job.created += created
    job.duplicates += not created
    new_labels = int(created and image.label != Label.UNLABELED)
    more = known.defect_type is not None or image.label != known.label
    if mask is None and not (more if created else known.says_anything):
        return new_labels

    def read_mask() -> bytes:
        try:
            return imaging.read_zip_entry(archive, mask)
        except ServiceError:
            raise
        except Exception as exc:  # bad CRC and the like: the mask is reported, the image stays
            raise InvalidInput(f"Unreadable entry: {exc or exc.__class__.__name__}") from exc

    outcome = reimport.apply_known(
        project=job.project, image=image, known=known, read_mask=read_mask if mask is not None else None
    )
    if not created:
        job.updated += outcome.updated
        job.kept += outcome.kept
    job.masks += outcome.masks
    if isinstance(outcome.mask_problem, EmptyMask):
        reason = "empty mask: the image stays defective without a mask"
        job.skipped.append({"name": mask.filename, "reason": reason})
    elif outcome.mask_problem is not None:
        job.errors.append({"name": mask.filename, "reason": outcome.mask_problem.detail})
    return new_labels + outcome.new_labels


def _read_manifest(job: ImportJob, archive: zipfile.ZipFile, info: zipfile.ZipInfo | None) -> dict:
    """The manifest's rows by entry name ({} without one); its problems go to the job's errors."""
    if info is None:
        return {}
    try:
        parsed = manifest.parse(info.filename, imaging.read_zip_entry(archive, info))
    except ServiceError as exc:
        job.errors.append({"name": info.filename, "reason": f"{exc.detail} The manifest was ignored."})
        return {}
    except Exception as exc:
        job.errors.append({"name": info.filename, "reason": f"Unreadable manifest ({exc}); it was ignored."})
        return {}
    job.errors.extend(parsed.errors)
    return parsed.rows


def _save_progress(job: ImportJob) -> bool:
    """Write the job's counters; False when its row is gone (the project was deleted)."""
    return bool(
        ImportJob.objects.filter(pk=job.pk).update(
            progress=job.progress,
            total=job.total,
            created=job.created,
            duplicates=job.duplicates,
            masks=job.masks,
            updated=job.updated,
            kept=job.kept,
            skipped=job.skipped,
            errors=job.errors,
            heartbeat_at=timezone.now(),
        )
    )
