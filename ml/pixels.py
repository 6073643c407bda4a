"""What the model sees of an image of any Pillow mode: 8 bits per channel.

One rule for training, scoring, inference and what the browser shows (thumbnails, the labeller's full-size
view), so an operator paints on the pixels the model is given:

- 8-bit grayscale, RGB, palette, 1-bit and CMYK images: as they are (grayscale stays one channel here; the
  model gets it as three equal channels);
- 16-bit and 32-bit integer images (``I;16``, ``I``): scaled from the bit depth their values use. Cameras store
  10, 12 or 14 bits in a 16-bit container, so the depth is the smallest of 8, 10, 12, 14 and 16 bits (or more,
  for ``I``) that holds the image's brightest value (its brightest 0.01 % of pixels set aside: hot pixels do
  not decide): a 12-bit image fills the 8-bit range instead of reading as black. An image of a 12-bit camera
  darker than a quarter of that range reads as 10-bit (brighter);
- float images (``F``): values in [0, 1] are scaled by 255; other non-negative values like integers; an image
  with negative values is stretched from its minimum to its maximum;
- transparency (alpha, ``tRNS``): composed over white.

A model reads every high-depth image with one depth, its ``sample_depth``: ``fit`` takes the largest depth its
training images use, and the checkpoint keeps it, so a dim frame of a 12-bit camera (or a dark part, or a
lamp that failed) reaches the model dark, as it is, and is not brightened as a 10-bit one. Thumbnails and the
browser's view read each image by its own depth.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

STANDARD_DEPTHS = (8, 10, 12, 14, 16)
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")


def sample_depth(brightest: float) -> int:
    """Bits per sample of an integer image whose brightest value is ``brightest``."""
    for depth in STANDARD_DEPTHS:
        if brightest < 2**depth:
            return depth
    return max(17, math.ceil(math.log2(brightest + 1)))


def _scaled(values: np.ndarray, full_scale: float) -> Image.Image:
    out = np.multiply(values, np.float32(255.0 / full_scale), dtype=np.float32)
    np.add(out, np.float32(0.5), out=out)
    np.clip(out, 0, 255, out=out)
    return Image.fromarray(out.astype(np.uint8), mode="L")


HOT_PIXEL_SHARE = 1e-4  # the brightest 0.01 % of an image's pixels do not decide its depth (hot pixels, glints)


def brightest_value(values: np.ndarray) -> float:
    """The image's brightest value once its brightest HOT_PIXEL_SHARE of pixels are set aside: one hot pixel of a
    dim 12-bit frame must not decide whether the frame reads as 10-bit or 12-bit."""
    flat = values.ravel()
    skip = int(flat.size * HOT_PIXEL_SHARE)
    if flat.size == 0:
        return 0.0
    if skip == 0:
        return float(flat.max())
    if flat.dtype == np.uint16:  # the usual case: a histogram is cheaper than a partition
        counts = np.bincount(flat, minlength=65536)
        above = np.cumsum(counts[::-1])
        return float(65535 - int(np.searchsorted(above, skip + 1)))
    return float(np.partition(flat, flat.size - 1 - skip)[flat.size - 1 - skip])


def is_high_depth(image: Image.Image) -> bool:
    """16-bit, 32-bit integer or float samples: scaled onto 8 bits by a depth (:func:`image_depth`)."""
    return image.mode.startswith("I;16") or image.mode in ("I", "F")


def _values(image: Image.Image) -> np.ndarray:
    values = np.asarray(image)
    if image.mode == "F":
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    return values


def _unit_float(image: Image.Image, lo: float, hi: float) -> bool:
    return image.mode == "F" and lo >= 0 and hi <= 1


def image_depth(image: Image.Image) -> int | None:
    """The depth this image's own values use (the smallest standard one holding its brightest value, hot pixels
    set aside); None for 8-bit modes, floats in [0, 1] and floats with negative values (scaled their own way)."""
    if not is_high_depth(image):
        return None
    values = _values(image)
    lo, hi = float(values.min(initial=0)), brightest_value(values)
    if _unit_float(image, lo, hi) or lo < 0 and image.mode == "F":
        return None
    return sample_depth(math.ceil(hi))


def _high_depth_to_8bit(image: Image.Image, depth: int | None) -> Image.Image:
    values = _values(image)
    lo = float(values.min(initial=0))
    hi = brightest_value(values)
    if _unit_float(image, lo, hi):
        return _scaled(values, 1.0)
    if lo < 0 and image.mode == "F":
        if hi <= lo:
            return Image.new("L", image.size, 0)
        return _scaled(values - np.float32(lo), hi - lo)
    return _scaled(values, 2 ** (depth or sample_depth(math.ceil(hi))) - 1)


def to_8bit(image: Image.Image, depth: int | None = None) -> Image.Image:
    """An ``L`` or ``RGB`` image of any Pillow mode, by the rule above. ``depth``: the bits per sample to read
    16-bit and 32-bit images with (a model's ``sample_depth``, the same for every image it sees); None: each
    image's own (:func:`image_depth`)."""
    mode = image.mode
    if mode in ("L", "RGB") and "transparency" not in image.info:
        return image
    if is_high_depth(image):
        return _high_depth_to_8bit(image, depth)
    if mode in _ALPHA_MODES or mode == "P" or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "1":
        return image.convert("L")
    return image.convert("RGB")


def to_rgb(image: Image.Image, depth: int | None = None) -> Image.Image:
    """:func:`to_8bit` with three channels, as the model takes it."""
    eight = to_8bit(image, depth)
    return eight if eight.mode == "RGB" else eight.convert("RGB")


def defect_pixels(mask: Image.Image) -> Image.Image:
    """A mask of any mode -> an ``L`` image, 255 where a defect is painted, 0 elsewhere.

    A pixel's brightness is its brightest colour channel (the colour, for palette masks: never the palette
    index). A defect pixel is one at least half as bright as the mask's brightest pixel, so the soft edges of
    an anti-aliased, blurred or JPEG-compressed mask do not widen it; in an integer mask whose brightest value
    is below 16 (0/1 and class-index masks) every non-zero pixel counts. Where the mask has transparency, a
    defect pixel is also at least half opaque (alpha 128): an opaque black canvas and a fully transparent
    one are both empty.
    """
    mode = mask.mode
    if mode in ("P", "PA") or (mode in ("1", "L", "RGB") and "transparency" in mask.info):
        mask, mode = mask.convert("RGBA"), "RGBA"
    if mode == "1":
        mask, mode = mask.convert("L"), "L"
    alpha = None
    if mode.startswith("I;16") or mode in ("I", "F"):
        lit = np.asarray(mask)
        if mode == "F":
            lit = np.nan_to_num(lit, nan=0.0, posinf=0.0, neginf=0.0)
    else:
        bands = np.asarray(mask)
        if bands.ndim == 3:
            if mode in _ALPHA_MODES:
                alpha, bands = bands[..., -1], bands[..., :-1]
            lit = bands.max(axis=2)
        else:
            lit = bands
    brightest = float(lit.max(initial=0))
    if brightest <= 0:
        defect = np.zeros(lit.shape, dtype=bool)
    elif mode != "F" and brightest < 16:
        defect = lit > 0
    else:
        defect = lit >= brightest / 2
    if alpha is not None:
        defect &= alpha >= 128
    return Image.fromarray(defect.astype(np.uint8) * 255, mode="L")
