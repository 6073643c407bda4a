"""Image checks and conversions for uploads and masks (Pillow + numpy, no ORM).

Order matters for safety: byte size, then format by magic bytes, then dimensions and the memory a decode
needs from the header (Pillow's lazy open reads no pixel data), and only then the full decode. After it,
an EXIF orientation is applied once (`upright`), so that stored pixels, width/height, thumbnails, masks,
training and a browser showing the image all agree.
"""

import io
import re
import zipfile
import zlib
from dataclasses import dataclass

from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from ml.pixels import defect_pixels, to_8bit
from webapp.core.exceptions import InvalidInput, PayloadTooLarge, UnsupportedMediaType

THUMBNAIL_SIDE = 256
EXIF_ORIENTATION = 0x0112
# Modes a PNG can hold; an upright copy of any other mode (CMYK, YCbCr, LAB, F) is stored as TIFF.
_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"})
# Modes Image.reduce averages in place. Not palette indices, 1-bit or 16-bit; nor LA/RGBA, which Pillow
# premultiplies first: a full-size copy, the very cost avoided here.
_REDUCIBLE = frozenset({"L", "RGB", "RGBX", "CMYK", "YCbCr", "I", "F"})

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
    # True when an EXIF orientation was applied: the stored file must then be `upright_bytes`, not the upload.
    oriented: bool = False


def sniff_format(head: bytes) -> tuple[str, str] | None:
    """(Pillow format, extension) decided by the file's first bytes, or None when not accepted."""
    for pil_format, extension, _, magics in _FORMATS:
        if any(head.startswith(magic) for magic in magics):
            return pil_format, extension
    return None


def content_type_for(name: str) -> str:
    return CONTENT_TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def check_size(size: int, what: str = "File") -> None:
    """413 over MAX_UPLOAD_BYTES; 400 for an empty file (nothing to check the format of)."""
    limit = settings.MAX_UPLOAD_BYTES
    if size == 0:
        raise InvalidInput("The file is empty (0 bytes).")
    if size > limit:
        raise PayloadTooLarge(f"{what} is {size} bytes; the limit is {limit} bytes.")


def check_archive_size(size: int) -> None:
    limit = settings.MAX_ARCHIVE_BYTES
    if size > limit:
        raise PayloadTooLarge(f"Archive is {size} bytes; the limit is {limit} bytes.")


def read_zip_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """One entry's bytes, at most MAX_UPLOAD_BYTES (413 past that), or a 400 that says why it cannot be read:
    password-protected, a compression method zipfile lacks, or damaged (bad CRC, truncated)."""
    limit = settings.MAX_UPLOAD_BYTES
    if info.file_size > limit:
        raise PayloadTooLarge(f"{info.file_size} bytes; the limit is {limit} bytes.")
    if info.flag_bits & 0x1:
        raise InvalidInput("The zip entry is encrypted (password-protected); zip the images without a password.")
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
    except NotImplementedError:
        raise InvalidInput("The zip entry uses a compression method the studio cannot read; use deflate.") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, OSError) as exc:
        raise InvalidInput(f"The zip entry is damaged ({exc or type(exc).__name__}).") from None
    if len(data) > limit:
        raise PayloadTooLarge(f"more than {limit} bytes.")
    return data


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
        raise _too_many_pixels(exc) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidInput(f"Corrupt {pil_format} file: {exc}") from exc
    check_pixels(width, height)
    check_decode_memory(width, height, image.mode)
    try:
        if pil_format == "PNG":
            # Pillow decodes a PNG cut inside its last chunk without complaint; verify() checks every
            # chunk's CRC and the end marker, so a truncated upload is refused rather than stored.
            PILImage.open(io.BytesIO(data), formats=["PNG"]).verify()
        image.load()
    except PILImage.DecompressionBombError as exc:
        raise _too_many_pixels(exc) from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise InvalidInput(f"Corrupt or truncated {pil_format} file: {exc}") from exc
    if width < 1 or height < 1:
        raise InvalidInput("Image has no pixels.")
    image, oriented = upright(image)
    width, height = image.size
    return CheckedImage(pil_format, extension, width, height, image, oriented)


def _too_many_pixels(exc: Exception) -> PayloadTooLarge:
    """Pillow refuses headers of more than twice its own pixel limit before the size is known; say it with the
    product's limit (MAX_IMAGE_PIXELS), as :func:`check_pixels` does for the sizes it sees."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = f"{int(found.group(1))} pixels" if found else "more pixels than Pillow will open"
    return PayloadTooLarge(f"Image is {pixels}; the limit is {settings.MAX_IMAGE_PIXELS}.")


def check_pixels(width: int, height: int) -> None:
    limit = settings.MAX_IMAGE_PIXELS
    if width * height > limit:
        raise PayloadTooLarge(f"Image is {width}x{height} = {width * height} pixels; the limit is {limit}.")


def decoded_bytes(width: int, height: int, mode: str) -> int:
    """Memory Pillow allocates for the decoded pixels (1 byte for L/P/1, 2 for 16-bit, else 4 per pixel)."""
    per_pixel = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    return width * height * per_pixel


def check_decode_memory(width: int, height: int, mode: str) -> None:
    """413 before decoding when the decoded image would need more than MAX_DECODE_BYTES."""
    needed, limit = decoded_bytes(width, height, mode), settings.MAX_DECODE_BYTES
    if needed > limit:
        raise PayloadTooLarge(
            f"Decoding this {width}x{height} {mode} image needs {needed // 2**20} MiB of memory; "
            f"the limit (MAX_DECODE_BYTES) is {limit // 2**20} MiB."
        )


def orientation(image: PILImage.Image) -> int:
    """The EXIF orientation (1..8; 1 = as stored) of an opened image."""
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a damaged EXIF block says nothing about orientation
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def upright(image: PILImage.Image) -> tuple[PILImage.Image, bool]:
    """The image turned as its EXIF orientation says (tag removed), and whether it was turned."""
    if orientation(image) == 1:
        return image, False
    turned = ImageOps.exif_transpose(image)
    if turned is not image:
        image.close()
    return turned, True


def upright_bytes(checked: CheckedImage) -> tuple[bytes, str]:
    """A lossless file of an oriented image's upright pixels: (bytes, extension), PNG or else TIFF."""
    out = io.BytesIO()
    if checked.image.mode in _PNG_MODES:
        checked.image.save(out, format="PNG", compress_level=6)
        return out.getvalue(), "png"
    checked.image.save(out, format="TIFF", compression="tiff_deflate")
    return out.getvalue(), "tif"


def stored_bytes(checked: CheckedImage, data: bytes) -> tuple[bytes, str]:
    """What to store for an accepted upload: the bytes as sent, or the upright copy of an oriented image."""
    return upright_bytes(checked) if checked.oriented else (data, checked.extension)


def _reduced(image: PILImage.Image, side: int) -> PILImage.Image:
    """A copy whose longest side is `side` or more, made from the decoded image without converting or copying
    it at full size (a 7740 x 7740 RGBA upload costs 240 MB per copy): averaged where Pillow can do that in
    place, else sampled (the final resize from at least twice its size still smooths)."""
    factor = max(image.size) // side
    if factor < 2:
        return image.copy()
    if image.mode in _REDUCIBLE:
        return image.reduce(factor)
    width, height = image.size
    return image.resize((max(1, width // factor), max(1, height // factor)), PILImage.Resampling.NEAREST)


# The version of the rule thumbnails are drawn by (ml.pixels): part of thumbnail_url (`?v=`), so a browser that
# cached an older drawing for a year (thumbnails are immutable per URL) asks for the new one. Bump it with a
# migration that draws the stored thumbnails again (datasets 0006 did for rule 2).
THUMBNAIL_RULE = 2


def thumbnail_jpeg(image: PILImage.Image) -> bytes:
    """JPEG whose longest side is at most THUMBNAIL_SIDE (smaller images are not enlarged)."""
    thumb = to_8bit(_reduced(image, 2 * THUMBNAIL_SIDE))
    thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


def decode_mask(data: bytes, *, width: int, height: int) -> tuple[bytes, int]:
    """A mask PNG of any mode -> ({0,255} single-channel PNG bytes, defect pixel count). Raises 400/413.

    An EXIF orientation in the mask is applied like an image's (open_checked)."""
    if sniff_format(data[:16]) != ("PNG", "png"):
        raise InvalidInput("A mask must be a PNG image.")
    try:
        checked = open_checked(data, allowed=("PNG",))
    except UnsupportedMediaType as exc:
        raise InvalidInput(exc.detail) from exc
    if (checked.width, checked.height) != (width, height):
        raise InvalidInput(f"Mask is {checked.width}x{checked.height}; it must be {width}x{height} like its image.")
    defect = defect_pixels(checked.image)
    area = defect.histogram()[255]
    if area == 0:
        raise EmptyMask("The mask is empty (every pixel is black or transparent); delete the mask instead.")
    out = io.BytesIO()
    defect.save(out, format="PNG", optimize=True)
    return out.getvalue(), area


# Stored images a browser shows as the model sees them, pixel for pixel: 8-bit grayscale, RGB or opaque palette
# PNG, JPEG and BMP. Others (TIFF, 16-bit, float, transparency, CMYK) get a rendered 8-bit PNG (view_png).
_BROWSER_FORMATS = ("PNG", "JPEG", "BMP")
_BROWSER_MODES = ("L", "RGB", "1", "P")


def browser_native(header: PILImage.Image) -> bool:
    """True when a browser shows the stored file pixel for pixel as the model sees it (`header`: the file
    opened by Pillow, no pixels needed): it is then sent as stored."""
    return (
        header.format in _BROWSER_FORMATS
        and header.mode in _BROWSER_MODES
        and "transparency" not in header.info
        and (header.mode != "P" or "A" not in (header.palette.mode if header.palette else ""))
    )


def view_png(handle, depth: int | None = None) -> bytes:
    """The full-resolution PNG a browser shows of a stored image that is not browser_native
    (ml.pixels.to_8bit: the pixels the model is given; `depth`: the active model's sample_depth)."""
    with PILImage.open(handle) as opened:
        opened.load()
        view = to_8bit(opened, depth)
    out = io.BytesIO()
    view.save(out, format="PNG", compress_level=1)  # speed over size: it is made on each request
    return out.getvalue()
