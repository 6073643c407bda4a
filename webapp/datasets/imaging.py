"""Image checks and conversions for uploads and masks (Pillow + numpy, no ORM).

Order matters for safety: byte size, then format by magic bytes, then dimensions from the header
(Pillow's lazy open reads no pixel data), and only then the full decode.
"""

import io
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from webapp.core.exceptions import InvalidInput, PayloadTooLarge, UnsupportedMediaType

THUMBNAIL_SIDE = 256

# (Pillow format, file extension, content type, magic prefixes)
_FORMATS = (
    ("PNG", "png", "image/png", (b"\x89PNG\r\n\x1a\n",)),
    ("JPEG", "jpg", "image/jpeg", (b"\xff\xd8\xff",)),
    ("BMP", "bmp", "image/bmp", (b"BM",)),
    ("TIFF", "tif", "image/tiff", (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")),
)
CONTENT_TYPES = {ext: content_type for _, ext, content_type, _ in _FORMATS}
CONTENT_TYPES["jpeg"] = "image/jpeg"
CONTENT_TYPES["tiff"] = "image/tiff"


class EmptyMask(InvalidInput):
    """A mask without a single defect pixel."""


@dataclass(frozen=True)
class CheckedImage:
    """A fully decoded, accepted image."""

    format: str
    extension: str
    width: int
    height: int
    image: PILImage.Image


def sniff_format(head: bytes) -> tuple[str, str] | None:
    """(Pillow format, extension) decided by the file's first bytes, or None when not accepted."""
    for pil_format, extension, _, magics in _FORMATS:
        if any(head.startswith(magic) for magic in magics):
            return pil_format, extension
    return None


def content_type_for(name: str) -> str:
    return CONTENT_TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def check_size(size: int, what: str = "File") -> None:
    limit = settings.MAX_UPLOAD_BYTES
    if size > limit:
        raise PayloadTooLarge(f"{what} is {size} bytes; the limit is {limit} bytes.")


def check_archive_size(size: int) -> None:
    limit = settings.MAX_ARCHIVE_BYTES
    if size > limit:
        raise PayloadTooLarge(f"Archive is {size} bytes; the limit is {limit} bytes.")


def open_checked(data: bytes, *, allowed: tuple[str, ...] | None = None) -> CheckedImage:
    """Validate and decode image bytes. Raises 413 / 415 / 400 service errors as API.md says."""
    check_size(len(data))
    sniffed = sniff_format(data[:16])
    if sniffed is None or (allowed is not None and sniffed[0] not in allowed):
        accepted = ", ".join(allowed) if allowed else "PNG, JPEG, BMP, TIFF"
        raise UnsupportedMediaType(f"Unsupported image format; accepted: {accepted}.")
    pil_format, extension = sniffed
    try:
        image = PILImage.open(io.BytesIO(data), formats=[pil_format])  # lazy: header only
        width, height = image.size
    except PILImage.DecompressionBombError as exc:
        raise PayloadTooLarge(f"Image has too many pixels: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidInput(f"Corrupt {pil_format} file: {exc}") from exc
    check_pixels(width, height)
    try:
        if pil_format == "PNG":
            # Pillow decodes a PNG cut inside its last chunk without complaint; verify() checks every
            # chunk's CRC and the end marker, so a truncated upload is refused rather than stored.
            PILImage.open(io.BytesIO(data), formats=["PNG"]).verify()
        image.load()
    except PILImage.DecompressionBombError as exc:
        raise PayloadTooLarge(f"Image has too many pixels: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise InvalidInput(f"Corrupt or truncated {pil_format} file: {exc}") from exc
    if width < 1 or height < 1:
        raise InvalidInput("Image has no pixels.")
    return CheckedImage(pil_format, extension, width, height, image)


def check_pixels(width: int, height: int) -> None:
    limit = settings.MAX_IMAGE_PIXELS
    if width * height > limit:
        raise PayloadTooLarge(f"Image is {width}x{height} = {width * height} pixels; the limit is {limit}.")


def to_8bit(image: PILImage.Image) -> PILImage.Image:
    """An 'L' or 'RGB' view of any Pillow mode (16-bit, float, palette, alpha, CMYK, 1-bit) for display."""
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and array.max(initial=0) > 255):
            array = array / 257.0  # 16-bit range onto 8 bits
        elif mode == "F":
            lo, hi = float(array.min(initial=0)), float(array.max(initial=0))
            array = (array - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(array)
        return PILImage.fromarray(np.clip(array, 0, 255).astype(np.uint8), mode="L")
    if mode in ("LA", "La", "PA", "P", "RGBA", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        return PILImage.alpha_composite(background, rgba).convert("RGB")
    if mode == "1":
        return image.convert("L")
    return image.convert("RGB")


def thumbnail_jpeg(image: PILImage.Image) -> bytes:
    """JPEG whose longest side is at most THUMBNAIL_SIDE (smaller images are not enlarged)."""
    thumb = to_8bit(image).copy()
    thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


def decode_mask(data: bytes, *, width: int, height: int) -> tuple[bytes, int]:
    """A mask PNG of any mode -> ({0,255} single-channel PNG bytes, defect pixel count). Raises 400/413."""
    if sniff_format(data[:16]) != ("PNG", "png"):
        raise InvalidInput("A mask must be a PNG image.")
    try:
        checked = open_checked(data, allowed=("PNG",))
    except UnsupportedMediaType as exc:
        raise InvalidInput(exc.detail) from exc
    if (checked.width, checked.height) != (width, height):
        raise InvalidInput(f"Mask is {checked.width}x{checked.height}; it must be {width}x{height} like its image.")
    array = np.asarray(checked.image)
    defect = array != 0 if array.ndim == 2 else (array != 0).any(axis=2)
    area = int(defect.sum())
    if area == 0:
        raise EmptyMask("The mask is empty (all pixels zero); delete the mask instead.")
    out = io.BytesIO()
    PILImage.fromarray(defect.astype(np.uint8) * 255, mode="L").save(out, format="PNG", optimize=True)
    return out.getvalue(), area
