"""Working resolution: parsing ``256`` / ``"640x232"`` / ``"auto"``, the ``auto`` rule, stride checks.

Sizes are **height x width** everywhere (the paper's convention: KSDD2 at 640 x 232 is 640 rows, 232 columns).
An int (or ``"256"``) means a square. No torch here: the web application imports this module to validate
settings without loading the model code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

AUTO = "auto"
# Every side must be a multiple of this: the stride of the shallowest feature map of every backbone (8), which
# sets the grid of the anomaly map and of the training masks. Deeper maps (stride 16) are resized onto that
# grid, so they need no exact division (the paper trains KSDD2 at 640 x 232, and 232 = 8 x 29).
SIZE_MULTIPLE = 8
# ``auto`` rounds to the deepest stride the default layers use (16), so all levels divide exactly.
AUTO_MULTIPLE = 16
MIN_SIDE = 32
MAX_SIDE = 4096
# Pixel budget of ``auto``: the images' own median area, kept between AUTO_MIN_PIXELS (the paper's 256 x 256: smaller
# images are enlarged to it) and AUTO_PIXELS (512 x 512: larger images are reduced to it). Small defects on large
# images need the larger budget (docs/ml.md, "Hard data": parts 0.74 image AUROC at 256, 0.999 at 512); the fast
# preset's training crops (``train_crop``) keep its cost per step near that of 256 x 256.
AUTO_PIXELS = 512 * 512
AUTO_MIN_PIXELS = 256 * 256

_SIZE = re.compile(r"^\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*$")

Size = tuple[int, int]


def parse_size(value: object) -> Size | str:
    """``256`` / ``"256"`` -> ``(256, 256)``; ``"640x232"`` / ``(640, 232)`` -> ``(640, 232)``; ``"auto"`` stays.

    Raises ``ValueError`` naming the value when it is none of these (sides are not range-checked here:
    :func:`check_size` does that).
    """
    if isinstance(value, bool):
        raise ValueError(f"image size {value!r} is not a size: use 256, '640x232' (height x width) or 'auto'")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return (int(value[0]), int(value[1]))
    if isinstance(value, str):
        if value.strip().lower() == AUTO:
            return AUTO
        match = _SIZE.match(value)
        if match:
            h = int(match.group(1))
            return (h, int(match.group(2) or h))
    raise ValueError(f"image size {value!r} is not a size: use 256, '640x232' (height x width) or 'auto'")


def check_size(size: Size, multiple: int = SIZE_MULTIPLE, what: str = "image size") -> Size:
    """Validate ``(height, width)``: each side a multiple of ``multiple`` (a feature stride), MIN_SIDE..MAX_SIDE."""
    h, w = size
    for name, side in (("height", h), ("width", w)):
        if side < MIN_SIDE or side > MAX_SIDE or side % multiple:
            raise ValueError(
                f"{what} {format_size(size)}: the {name} {side} must be a multiple of {multiple} (the backbone's "
                f"feature stride) between {MIN_SIDE} and {MAX_SIDE}"
            )
    return (int(h), int(w))


def format_size(size: Size) -> str:
    """``(256, 256)`` -> ``"256"``; ``(640, 232)`` -> ``"640x232"``."""
    h, w = size
    return str(h) if h == w else f"{h}x{w}"


def compact(size: Size) -> int | Size:
    """The stored form of a size: an int when square (as every checkpoint before height x width), else ``(h, w)``."""
    h, w = size
    return h if h == w else (h, w)


def legacy_side(size: Size) -> int:
    """One number for clients that know only square sizes: the larger side."""
    return max(size)


def _round_to(value: float, multiple: int) -> int:
    return max(MIN_SIDE, multiple * int(round(value / multiple)))


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else math.sqrt(values[mid - 1] * values[mid])


def auto_size(
    dims: Iterable[tuple[int, int]],
    pixels: int = AUTO_PIXELS,
    multiple: int = AUTO_MULTIPLE,
    min_pixels: int = AUTO_MIN_PIXELS,
) -> Size:
    """The ``auto`` working resolution for images of ``dims`` (``(width, height)`` pairs, as PIL reports them).

    Rule: area = the images' median area, kept between ``min_pixels`` and ``pixels`` (256 x 256 and 512 x 512 by
    default); r = median of width / height; height = sqrt(area / r), width = sqrt(area * r), each rounded to the
    nearest multiple of ``multiple`` (at least MIN_SIDE, at most MAX_SIDE). So small images are enlarged to about
    256 x 256, images of 512 x 512 or more are reduced to about that area, the ones between keep theirs; a square
    part stays square (1024 x 1024 -> 512 x 512) and a strip stays a strip (500 x 1250 -> 816 x 320).
    No images: a square of ``min_pixels``.
    """
    dims = [(w, h) for w, h in dims if w > 0 and h > 0]
    ratio = _median([w / h for w, h in dims]) if dims else 1.0
    area = _median([float(w * h) for w, h in dims]) if dims else float(min_pixels)
    pixels = max(min(pixels, area), min(min_pixels, pixels))
    h = min(MAX_SIDE, _round_to(math.sqrt(pixels / ratio), multiple))
    w = min(MAX_SIDE, _round_to(math.sqrt(pixels * ratio), multiple))
    return (h, w)


def median_dims(dims: Iterable[tuple[int, int]]) -> tuple[int, int] | None:
    """Median ``(width, height)`` of the images (per axis), None without images."""
    items = list(dims)
    if not items:
        return None
    ws = sorted(w for w, _ in items)
    hs = sorted(h for _, h in items)
    return ws[len(ws) // 2], hs[len(hs) // 2]


# --- tiled mode (ml/tiling.py) ---------------------------------------------------------------------------

OFF = "off"
AUTO_MAX_PER_AXIS = 2
MAX_TILES_PER_AXIS = 8
_GRID = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_tiling(value: object) -> tuple[int, int] | str:
    """``"off"`` -> ``(1, 1)``; ``"2x3"`` / ``(2, 3)`` -> ``(2, 3)`` (rows x cols); ``"auto"`` -> ``"auto"``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in (OFF, "", "none", "1x1"):
            return (1, 1)
        if text == AUTO:
            return AUTO
        match = _GRID.match(text)
        grid = (int(match.group(1)), int(match.group(2))) if match else None
    elif isinstance(value, Sequence) and len(value) == 2 and all(isinstance(v, int) for v in value):
        grid = (int(value[0]), int(value[1]))
    else:
        grid = None
    if grid is None or not all(1 <= n <= MAX_TILES_PER_AXIS for n in grid):
        raise ValueError(
            f"tiling {value!r} is not valid: use 'off', 'auto' or 'RxC' with 1..{MAX_TILES_PER_AXIS} tiles a side"
        )
    return grid


def format_tiling(grid: tuple[int, int]) -> str:
    return OFF if tuple(grid) == (1, 1) else f"{grid[0]}x{grid[1]}"


def auto_tiles(dims: Iterable[tuple[int, int]], tile: Size, max_per_axis: int = AUTO_MAX_PER_AXIS) -> tuple[int, int]:
    """Grid for images of ``dims`` (``(width, height)`` pairs) at working resolution ``tile`` (h, w)."""
    median = median_dims(dims)
    if median is None:
        return (1, 1)
    width, height = median
    return tuple(max(1, min(max_per_axis, side // t)) for side, t in ((height, tile[0]), (width, tile[1])))
