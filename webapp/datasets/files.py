"""Content-addressed files in Django's default storage, written before rows, never rewritten.

Images live at `images/ab/<sha256>.<ext>`, thumbnails at `thumbnails/ab/<sha256>.jpg` and masks at
`masks/ab/<sha256>.png`; the same bytes are stored once even across projects. Edits and deletions
only change rows: the file collector (webapp/core/collect.py) deletes files no row, running job or
model version's snapshot refers to. The one immediate delete is of a file the failing request itself
just wrote and no row refers to.

A file only ever appears under its final name whole: on a local disk it is written to a temporary name in the
same folder and linked into place, so a write that fails half-way (a full disk, a killed process) leaves nothing
under the name. A file found under its name with the wrong size (left by an older, non-atomic write) is not
trusted: it is written again.
"""

import io
import logging
import os
import uuid
from contextlib import contextmanager

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import Http404

from webapp.core.exceptions import StorageUnavailable, is_storage_unreachable

logger = logging.getLogger(__name__)


def image_name(sha256: str, extension: str) -> str:
    return f"images/{sha256[:2]}/{sha256}.{extension}"


def thumbnail_name(sha256: str) -> str:
    return f"thumbnails/{sha256[:2]}/{sha256}.jpg"


def mask_name(sha256: str) -> str:
    return f"masks/{sha256[:2]}/{sha256}.png"


def write_once(name: str, data: bytes) -> bool:
    """Store `data` at exactly `name` unless the same file is already there. True when this call wrote it."""
    present = default_storage.exists(name)
    if present:
        size = default_storage.size(name)
        if size == len(data):
            return False
        logger.warning("%s is incomplete (%d of %d bytes): writing it again", name, size, len(data))
    try:
        path = default_storage.path(name)
    except NotImplementedError:  # object storage: a put is whole or nothing
        if present:
            default_storage.delete(name)
        saved = default_storage.save(name, ContentFile(data))
        if saved != name:
            # Another request stored the same content at `name` meanwhile; ours is a duplicate copy.
            default_storage.delete(saved)
            return False
        return True
    return _write_local(path, data, replace=present)


def _write_local(path: str, data: bytes, *, replace: bool) -> bool:
    """Write to a temporary file beside `path`, then link it into place: `path` is whole or absent."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{uuid.uuid4().hex}.part"
    try:
        with open(temporary, "xb") as handle:
            handle.write(data)
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)  # fails if the name exists: another request stored the same bytes meanwhile
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: rename (whole or absent all the same)
            if os.path.exists(path):
                return False
            os.replace(temporary, path)
        return True
    finally:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass


def delete_quietly(names) -> None:
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except Exception:  # noqa: BLE001 - disk or object storage: the collector deletes it later
            logger.warning("Could not delete %s", name, exc_info=True)


def delete_unreferenced(image_files: list[str] = (), thumbnails: list[str] = (), others: list[str] = ()) -> None:
    """Undo a failed write: delete image/thumbnail files no Image row refers to, and `others` unconditionally."""
    from webapp.datasets.models import Image

    def unreferenced(field: str, names) -> set[str]:
        names = sorted(set(filter(None, names)))
        used: set[str] = set()
        for start in range(0, len(names), 500):  # stay under SQLite's bound-parameter limit
            chunk = names[start : start + 500]
            used.update(Image.objects.filter(**{f"{field}__in": chunk}).values_list(field, flat=True))
        return set(names) - used

    delete_quietly([*unreferenced("file", image_files), *unreferenced("thumbnail", thumbnails), *others])


def open_stored(name: str):
    """A stored file for streaming; a missing one is a 404, not a 500."""
    if not name:
        raise Http404("No file stored.")
    try:
        return default_storage.open(name, "rb")
    except OSError as exc:
        if is_storage_unreachable(exc):  # a timeout of the object storage is an OSError too: 503, not 404
            raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc
        raise Http404("The file is missing from storage.") from exc


def read_head(name: str, size: int = 65536) -> bytes:
    """The first `size` bytes of a stored file, without fetching the rest: a ranged GET on object storage
    (django-storages' S3 backend reads a whole object on first access), a short read on a local disk.
    Enough for Pillow to read a PNG's or a TIFF's header (its mode) when the header comes first."""
    storage = getattr(default_storage, "_wrapped", default_storage)
    if hasattr(storage, "bucket") and hasattr(storage, "_normalize_name"):
        from storages.utils import clean_name

        key = storage._normalize_name(clean_name(name))
        return storage.bucket.Object(key).get(Range=f"bytes=0-{size - 1}")["Body"].read()
    with default_storage.open(name, "rb") as handle:
        return handle.read(size)


@contextmanager
def opened_header(name: str):
    """A stored image opened by Pillow from its first bytes only (read_head): format, mode and info, no
    pixels. A TIFF whose directory comes last is opened from the whole file instead."""
    from PIL import Image as PILImage

    head = read_head(name)  # a storage error stays one (it is not a header Pillow cannot read)
    try:
        opened = PILImage.open(io.BytesIO(head))
    except (OSError, SyntaxError, ValueError):
        with default_storage.open(name, "rb") as handle, PILImage.open(handle) as whole:
            yield whole
        return
    with opened:
        yield opened


def is_high_depth_file(name: str) -> bool:
    """A stored PNG or TIFF of 16-bit, 32-bit or float samples (ml.pixels.is_high_depth), read from its header."""
    from ml.pixels import is_high_depth

    if not name.lower().endswith((".png", ".tif", ".tiff")):
        return False
    with opened_header(name) as opened:
        return is_high_depth(opened)
