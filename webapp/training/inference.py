"""Scoring with a model version: the project's own images, synchronous predict, and inference batches.

Predictions are computed by the worker's cached Predictor (`engine.predictor_for`), heatmaps stored as
single-channel 8-bit PNGs aligned with the image. Scores are stored at one precision (`ml.metrics.normalise`)
and judged by one rule (`ml.metrics.is_defective`: score >= threshold). Every step is idempotent: an image
or item already scored is skipped, so re-delivered or re-dispatched tasks only finish what is missing.
"""

from __future__ import annotations

import base64
import logging
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ml.metrics import is_defective, normalise
from webapp.core.exceptions import (
    Conflict,
    InvalidInput,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
    is_storage_unreachable,
    none_accepted,
)
from webapp.core.queue import enqueue
from webapp.datasets.imaging import check_size, open_checked, read_zip_entry, sniff_format, stored_bytes
from webapp.datasets.import_plan import unsafe_reason
from webapp.datasets.models import Image, Project

from . import engine
from .models import ACTIVE_STATUSES, InferenceBatch, InferenceItem, JobStatus, ModelVersion, Prediction

logger = logging.getLogger(__name__)


def active_version(project: Project) -> ModelVersion:
    version = ModelVersion.objects.filter(project=project, is_active=True).first()
    if version is None:
        raise Conflict("The project has no active model yet; train one first.")
    return version


def store_bytes(name: str, data: bytes) -> str:
    """Write-or-replace `name` (heatmaps are recomputed by re-delivered tasks: same name, same content)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))


# --- the project's images --------------------------------------------------------------------------------


def score_project(version_id: int) -> int:
    """Score every image of the project that has no prediction by this version yet. Returns how many."""
    version = ModelVersion.objects.filter(id=version_id).select_related("project").first()
    if version is None or not version.is_active:
        return 0  # superseded before we got to it: the newer version scores instead
    todo = list(
        Image.objects.filter(project_id=version.project_id)
        .exclude(predictions__model_version=version)
        .order_by("id")
        .values_list("id", flat=True)
    )
    done = 0
    chunk = max(1, settings.INFERENCE_CHUNK_SIZE)
    for start in range(0, len(todo), chunk):
        if not ModelVersion.objects.filter(id=version_id, is_active=True).exists():
            break
        done += score_images(version, todo[start : start + chunk])
    logger.info("Model version %s scored %s images of project %s", version.id, done, version.project_id)
    return done


def score_images(version: ModelVersion, image_ids: list[int]) -> int:
    images = list(Image.objects.filter(id__in=image_ids).order_by("id"))
    if not images:
        return 0
    scratch = engine.scratch_dir("score-")
    try:
        paths = [engine.local_path(image.file.name, scratch) for image in images]
        results = engine.predictor_for(version).predict(paths, batch_size=settings.INFERENCE_BATCH_SIZE)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    stored = 0
    for image, result in zip(images, results, strict=True):
        name = store_bytes(f"predictions/v{version.id}/{image.id}.png", engine.heatmap_png(result.anomaly_map))
        try:
            with transaction.atomic():
                Prediction.objects.update_or_create(
                    image=image, model_version=version, defaults={"score": normalise(result.score), "heatmap": name}
                )
            stored += 1
        except IntegrityError:  # the image (or version) was deleted while it was being scored
            engine.delete_stored(name)
    return stored


# --- synchronous predict -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """One file to score: its bytes, or an open file (an upload spooled to disk) read only when its turn comes."""

    filename: str
    data: bytes | None = None
    file: Any = None
    problem: ServiceError | None = None  # why the file could not even be read (a damaged or encrypted zip entry)

    def read(self) -> bytes:
        """The file's bytes after its size and first bytes were checked (413 / 415 without reading the rest)."""
        if self.problem is not None:
            raise self.problem
        if self.data is not None:
            return self.data
        check_size(self.file.size, self.filename)
        self.file.seek(0)
        head = self.file.read(16)
        if sniff_format(head) is None:
            raise UnsupportedMediaType("Unsupported image format; accepted: PNG, JPEG, BMP, TIFF.")
        self.file.seek(0)
        return self.file.read(settings.MAX_UPLOAD_BYTES + 1)


def predict_uploads(*, project: Project, uploads: list[Upload]) -> dict:
    """Validate like image uploads (413/415/400), score with the active model, store nothing."""
    version = active_version(project)
    if not uploads:
        raise InvalidInput("Send one or more images in `files`.")
    if len(uploads) > settings.PREDICT_MAX_FILES:
        raise InvalidInput(
            f"{len(uploads)} files sent; at most {settings.PREDICT_MAX_FILES} per request "
            "(use inference batches for more)."
        )
    images = []
    for upload in uploads:
        try:
            # upright (EXIF orientation applied), in its own mode: the Predictor reads 16-bit images with the
            # version's sample_depth, as training and batches do
            images.append(open_checked(upload.read()).image)
        except ServiceError as exc:
            raise type(exc)(f"{upload.filename}: {exc.detail}") from exc
    results = engine.predictor_for(version).predict(images, batch_size=settings.INFERENCE_BATCH_SIZE)
    scores = [normalise(result.score) for result in results]
    return {
        "model": version.id,
        "results": [
            {
                "filename": upload.filename,
                "score": score,
                "is_defective": is_defective(score, version.threshold),
                "heatmap_png_base64": base64.b64encode(engine.heatmap_png(result.anomaly_map)).decode("ascii"),
            }
            for upload, result, score in zip(uploads, results, scores, strict=True)
        ],
    }


# --- inference batches ---------------------------------------------------------------------------------------


def archive_entries(fileobj) -> Iterator[Upload]:
    """Regular files of a zip, read one at a time in memory (never extracted by name: `../` escapes nowhere).

    Entry count and total uncompressed size are checked before anything is decompressed (zip bombs).
    """
    try:
        archive = zipfile.ZipFile(fileobj)
    except zipfile.BadZipFile as exc:
        raise InvalidInput(f"The archive is not a valid zip file: {exc}") from exc
    infos = [info for info in archive.infolist() if not info.is_dir()]
    if len(infos) > settings.MAX_ARCHIVE_ENTRIES:
        raise PayloadTooLarge(f"The archive has {len(infos)} entries; the limit is {settings.MAX_ARCHIVE_ENTRIES}.")
    if sum(info.file_size for info in infos) > settings.MAX_ARCHIVE_UNCOMPRESSED_BYTES:
        raise PayloadTooLarge("The archive's uncompressed size is over the limit.")
    for info in infos:
        path = PurePosixPath(info.filename)
        if path.name.startswith(".") or "__MACOSX" in path.parts:
            continue  # archiver metadata, not content
        unsafe = unsafe_reason(info)  # as an import judges it: `../x.jpg`, an absolute path, a symbolic link
        if unsafe is not None:
            yield Upload(info.filename, problem=InvalidInput(f"Not scored: {unsafe} ({info.filename[:200]!r})."))
            continue
        try:
            data = read_zip_entry(archive, info)
        except ServiceError as exc:
            # A damaged, encrypted, oddly compressed or oversized entry: a row with its reason in the results,
            # and the other entries are still scored.
            yield Upload(info.filename, problem=exc)
            continue
        yield Upload(info.filename, data)


def _safe_name(filename: str) -> str:
    keep = "".join(c if c.isalnum() or c in "._-" else "_" for c in PurePosixPath(filename).name)
    return keep[-100:] or "image"


def _checked_bytes(upload: Upload) -> tuple[bytes, str]:
    """(bytes to store, a suffix for the name) for one upload, checked like an image upload; an image with
    an EXIF orientation is stored upright (as PNG or TIFF, named so), like the project's images."""
    data = upload.read()
    checked = open_checked(data)
    try:
        stored, extension = stored_bytes(checked, data)
    finally:
        checked.image.close()
    return stored, f".{extension}" if checked.oriented else ""


def create_inference_batch(
    *, project: Project, created_by=None, uploads: Iterable[Upload], version: ModelVersion | None = None
) -> InferenceBatch:
    """Store the files, create the batch and its items in chunks. The caller dispatches after the commit.

    `version` is a version of this project (the caller checked it); the active one when None. A file that
    is no acceptable image becomes an item with its error (counted as done and failed) rather than
    refusing the whole batch; a batch of nothing but such files is refused (`none_accepted`: 415 when all are
    of an unsupported format, else 400, with each file's reason) and nothing is kept.
    """
    version = version or active_version(project)
    stored: list[str] = []
    try:
        with transaction.atomic():
            batch = InferenceBatch.objects.create(project=project, model_version=version, created_by=created_by)
            items, refused = [], []
            chunk = max(1, settings.INFERENCE_CHUNK_SIZE)
            for index, upload in enumerate(uploads):
                error = name = ""
                try:
                    data, suffix = _checked_bytes(upload)
                except ServiceError as exc:
                    error = exc.detail
                    refused.append((upload.filename, exc))
                if not error:
                    name = default_storage.save(
                        f"inference/{batch.id}/{index:06d}-{_safe_name(upload.filename)}{suffix}", ContentFile(data)
                    )
                    stored.append(name)
                data = None  # one file in memory at a time
                items.append(
                    InferenceItem(
                        batch=batch,
                        filename=upload.filename,
                        file=name,
                        chunk=index // chunk,
                        error=error,
                        processed_at=timezone.now() if error else None,
                    )
                )
            if not items:
                raise InvalidInput("Send images in `files` or a zip of images in `archive`.")
            if len(refused) == len(items):  # nothing to score: say why now (as an upload does), keep no batch
                raise none_accepted("scored", refused)
            failed = len(refused)
            InferenceItem.objects.bulk_create(items, batch_size=500)
            batch.total = len(items)
            batch.done = batch.failed = failed
            batch.save()
    except Exception:
        for name in stored:
            engine.delete_stored(name)
        raise
    return batch


def dispatch_inference_batch(batch_id: int) -> bool:
    """Send one task per chunk that still has work. False when the broker is unreachable."""
    chunks = (
        InferenceItem.objects.filter(batch_id=batch_id, processed_at__isnull=True)
        .values_list("chunk", flat=True)
        .distinct()
        .order_by("chunk")
    )
    for chunk in chunks:
        if not enqueue("training.run_inference_chunk", batch_id, chunk):
            return False
    InferenceBatch.objects.filter(id=batch_id).update(dispatched_at=timezone.now())
    return True


def _predict_one(predictor, path: str):
    """The result for one file, or its error message."""
    try:
        return predictor.predict([path], batch_size=1)[0]
    except Exception as exc:  # noqa: BLE001 - recorded on the item
        return f"{type(exc).__name__}: {exc}"


def _local_files(items, scratch) -> list[str | None]:
    """Local paths of the items' files; None for a file storage cannot give (gone): that item fails on its own.
    A storage that does not answer (webapp.core.exceptions.is_storage_unreachable) raises."""
    paths = []
    for item in items:
        try:
            paths.append(engine.local_path(item.file.name, scratch))
        except Exception as exc:
            if is_storage_unreachable(exc):
                raise
            logger.warning("Inference item %s: %s", item.id, exc)
            paths.append(None)
    return paths


WAITING_FOR_STORAGE = "Waiting for the storage"
MISSING_FILE = "The uploaded file could not be read from storage (it is gone)."


def _wait_for_storage(batch: InferenceBatch, exc: Exception) -> int:
    """Object storage did not answer: the batch stays running, says so, and its chunk is sent again after
    INFERENCE_STALL_SECONDS (services.redispatch_inference_batches); after INFERENCE_STORAGE_PATIENCE_SECONDS
    without storage it fails with the reason. Nothing is lost: the uploaded files wait in storage."""
    waited = (timezone.now() - batch.created_at).total_seconds()
    if waited > settings.INFERENCE_STORAGE_PATIENCE_SECONDS:
        logger.error("Inference batch %s: storage unreachable for %.0f s, giving up: %s", batch.id, waited, exc)
        InferenceBatch.objects.filter(id=batch.id, status__in=ACTIVE_STATUSES).update(
            status=JobStatus.FAILED,
            error=f"The storage did not answer for {waited / 60:.0f} minutes ({exc}); upload the files again "
            "once it does."[:4000],
            finished_at=timezone.now(),
        )
        return 0
    logger.warning("Inference batch %s: storage unreachable, the chunk is sent again later: %s", batch.id, exc)
    InferenceBatch.objects.filter(id=batch.id, status__in=ACTIVE_STATUSES).update(
        error=f"{WAITING_FOR_STORAGE} ({exc}); the batch goes on by itself when it answers."[:4000]
    )
    return 0


def run_inference_chunk(batch_id: int, chunk: int) -> int:
    """Score the unprocessed items of one chunk; any number of workers may run chunks of one batch."""
    batch = InferenceBatch.objects.filter(id=batch_id).select_related("model_version").first()
    if batch is None or batch.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
        return 0
    items = list(InferenceItem.objects.filter(batch_id=batch_id, chunk=chunk, processed_at__isnull=True))
    if not items:
        return 0
    InferenceBatch.objects.filter(id=batch_id, status=JobStatus.QUEUED).update(status=JobStatus.RUNNING)
    scratch = engine.scratch_dir("batch-")
    try:
        predictor = engine.predictor_for(batch.model_version)
        paths = _local_files(items, scratch)
    except Exception as exc:  # noqa: BLE001 - no chunk can succeed without the model: fail visibly, never loop
        shutil.rmtree(scratch, ignore_errors=True)
        if is_storage_unreachable(exc):
            return _wait_for_storage(batch, exc)
        logger.exception("Inference batch %s: model version %s cannot be loaded", batch_id, batch.model_version_id)
        InferenceBatch.objects.filter(id=batch_id, status__in=ACTIVE_STATUSES).update(
            status=JobStatus.FAILED,
            error=f"Model version {batch.model_version_id} could not be loaded: {type(exc).__name__}: {exc}"[:4000],
            finished_at=timezone.now(),
        )
        return 0
    try:
        present = [path for path in paths if path is not None]
        try:
            scored = iter(predictor.predict(present, batch_size=settings.INFERENCE_BATCH_SIZE) if present else [])
            outcomes = [next(scored) if path is not None else MISSING_FILE for path in paths]
        except Exception:  # noqa: BLE001 - one bad file must not fail its neighbours: retry one by one
            logger.warning("Inference batch %s chunk %s: batch predict failed, per item now", batch_id, chunk)
            outcomes = [_predict_one(predictor, path) if path is not None else MISSING_FILE for path in paths]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    newly_done = failed = 0
    for item, outcome in zip(items, outcomes, strict=True):
        if isinstance(outcome, str):
            updated = InferenceItem.objects.filter(id=item.id, processed_at__isnull=True).update(
                error=outcome, processed_at=timezone.now()
            )
            failed += updated
        else:
            name = f"inference/{batch_id}/heatmaps/{item.id}.png"
            name = store_bytes(name, engine.heatmap_png(outcome.anomaly_map))
            updated = InferenceItem.objects.filter(id=item.id, processed_at__isnull=True).update(
                score=normalise(outcome.score), heatmap=name, processed_at=timezone.now()
            )
        newly_done += updated
    if newly_done:
        InferenceBatch.objects.filter(id=batch_id).update(done=F("done") + newly_done, failed=F("failed") + failed)
        InferenceBatch.objects.filter(id=batch_id, error__startswith=WAITING_FOR_STORAGE).update(error="")
    InferenceBatch.objects.filter(id=batch_id, done__gte=F("total")).exclude(status=JobStatus.SUCCEEDED).update(
        status=JobStatus.SUCCEEDED, finished_at=timezone.now()
    )
    return newly_done
