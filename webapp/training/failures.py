"""Why a training run ended without a model, in two registers.

`TrainingJob.error` is a sentence for the people on the training page; `TrainingJob.error_detail` is the
exception text for engineers. Neither may show a server path: paths under MEDIA_ROOT become the stored
file's name (`masks/ab/<sha>.png`), a training's scratch copy the same, and any other absolute path
becomes `<path>`.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from webapp.core.exceptions import is_disk_full, is_storage_unreachable

GENERIC = (
    "The training stopped because of an unexpected error. Press Train to try again; "
    "if it fails again, show the details to an engineer."
)
CANCELLED = "The training was cancelled before a model was stored."
OUT_OF_MEMORY = (
    "The worker ran out of memory. Try the fast preset, a smaller image size or fewer epochs, "
    "or train on a machine with more memory."
)
BAD_IMAGE = (
    "An image of the training set could not be read (corrupt, truncated or not an image). "
    "Replace or delete it, then train again."
)
MISSING_FILE = (
    "A file of the training set is missing from storage. Upload the image again or delete it, then train again."
)
WORKER_STOPPED = "The worker stopped during the training (it was restarted, shut down or ran out of time). Train again."
NO_WEIGHTS = (
    "The pretrained backbone weights are not available on the worker. Ask an administrator to install "
    "them, then train again."
)
NO_GOOD_IMAGES = "Nothing to train on: the train split holds no image labelled good."
STORAGE_DOWN = (
    "The file storage did not answer, so the training could not read its images or store the model. Nothing "
    "was lost: press Train again once the storage answers (the health page says storage: ok)."
)
DISK_FULL = (
    "The server's disk is full, so the model could not be stored. Ask an administrator to free space (old imports, "
    "model versions no one uses), then press Train again."
)

# Any absolute path: a slash not preceded by a word character, ':' or another slash (so relative names
# and URLs stay), followed by path characters.
_ABSOLUTE = re.compile(r"(?<![\w:/.<>-])/[^\s'\"`,;:()\[\]{}<>]+")
_OOM = re.compile(r"out of memory|can't allocate memory|cannot allocate memory|not enough memory", re.IGNORECASE)
_BAD_IMAGE = re.compile(r"cannot identify image|image file is truncated|broken data stream|truncated|decod", re.I)
# Celery/billiard ends of a task that are not the training's fault.
_WORKER_ENDS = {"WorkerLostError", "SoftTimeLimitExceeded", "TimeLimitExceeded", "Terminated", "WorkerShutdown"}


def _forms(value) -> set[str]:
    """A setting's path as written and resolved (symlinks), without a trailing slash."""
    return {str(Path(value)).rstrip("/"), str(Path(value).resolve()).rstrip("/")} - {""}


def _roots() -> list[tuple[str, str]]:
    """(prefix, replacement), longest first: storage-relative for media, `<path>/` for the other roots."""
    roots = [(form + "/", "") for form in _forms(settings.MEDIA_ROOT)]
    roots += [(form + "/", "<path>/") for key in ("DATA_DIR", "BASE_DIR") for form in _forms(getattr(settings, key))]
    return sorted(roots, key=lambda root: len(root[0]), reverse=True)


def scrub_paths(text: str) -> str:
    """The text with every server path removed (see the module docstring)."""
    if not text:
        return text
    # A scratch copy of a stored file (object storage): DATA_DIR/tmp/<job folder>/<uuid>-<name> -> <name>.
    for data in _forms(settings.DATA_DIR):
        text = re.sub(re.escape(data) + r"/tmp/[^/\s'\"]+/(?:[0-9a-f]{32}-)?", "", text)
    for prefix, replacement in _roots():
        text = text.replace(prefix, replacement)
    return _ABSOLUTE.sub("<path>", text)


def _missing_name(exc: BaseException) -> str:
    name = getattr(exc, "filename", None) or ""
    if not name:
        found = re.search(r"'([^']+)'|\"([^\"]+)\"", str(exc))
        name = (found.group(1) or found.group(2)) if found else ""
    return scrub_paths(str(name)).lstrip("/")


def _missing_sentence(exc: BaseException, project_id: int | None) -> str:
    """Name the image whose file or mask is missing, when the stored name tells which one."""
    name = _missing_name(exc)
    if not name or name.startswith("<path>") or project_id is None:
        return MISSING_FILE
    from webapp.datasets.models import Image

    images = Image.objects.filter(project_id=project_id)
    image = images.filter(file=name).values("id", "filename").first()
    if image:
        return (
            f"The file of image {image['id']} ({image['filename']}) is missing from storage. "
            "Upload it again or delete the image, then train again."
        )
    image = images.filter(mask__file=name).values("id", "filename").first()
    if image:
        return (
            f"The mask of image {image['id']} ({image['filename']}) is missing from storage. "
            "Paint it again or delete the mask, then train again."
        )
    return MISSING_FILE


def sentence(exc: BaseException, *, project_id: int | None = None) -> str:
    """The sentence for people: common causes by name, a generic sentence otherwise."""
    text = str(exc)
    kind = type(exc).__name__
    if kind == "TrainingCancelled":
        return CANCELLED
    if kind in _WORKER_ENDS:
        return WORKER_STOPPED
    if kind == "BackboneWeightsError":
        return NO_WEIGHTS
    if isinstance(exc, MemoryError) or kind == "OutOfMemoryError" or _OOM.search(text):
        return OUT_OF_MEMORY
    if is_disk_full(exc):
        return DISK_FULL
    if is_storage_unreachable(exc):
        return STORAGE_DOWN
    if isinstance(exc, FileNotFoundError):
        return _missing_sentence(exc, project_id)
    if kind in {"UnidentifiedImageError", "DecompressionBombError"} or (
        isinstance(exc, (OSError, ValueError, SyntaxError)) and _BAD_IMAGE.search(text)
    ):
        return BAD_IMAGE
    if "at least one good image" in text:
        return NO_GOOD_IMAGES
    return GENERIC


def detail(exc: BaseException) -> str:
    """The exception for engineers: type and message (and its cause), without server paths."""
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause is not exc:
        parts.append(f"caused by {type(cause).__name__}: {cause}")
    return scrub_paths("\n".join(parts))[:4000]


def describe(exc: BaseException, *, project_id: int | None = None) -> tuple[str, str]:
    """(error, error_detail) for a job whose run raised `exc`. Never raises: the job must be ended whatever."""
    try:
        text = detail(exc)
    except Exception:  # noqa: BLE001 - a message that cannot be read or scrubbed is left out, not shown raw
        text = type(exc).__name__
    try:
        return sentence(exc, project_id=project_id), text
    except Exception:  # noqa: BLE001 - e.g. the database lookup of the missing file's image failed
        return GENERIC, text
