"""Project settings `image_size` and `tiling`: what the API accepts, how it is stored and shown.

`image_size` accepts `256` (square), `"640x232"` (height x width) or `"auto"` (chosen per training run
from the snapshot's images: ml.geometry.auto_size). Stored as text ("256", "640x232", "auto"); shown as
an int when square (old clients read a number) and as the string otherwise.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ml import geometry

MIN_IMAGE_SIDE, MAX_IMAGE_SIDE = 64, 1024
MAX_TILES_PER_SIDE = 4
SIZE_HELP = (
    'Working resolution: 256 (a square side), "640x232" (height x width) or "auto" (from the images\' median '
    "aspect ratio and area, kept between about 256 x 256 and 512 x 512 pixels). "
    f"Each side a multiple of {geometry.SIZE_MULTIPLE} (the backbone's "
    f"feature stride), {MIN_IMAGE_SIDE}..{MAX_IMAGE_SIDE}."
)
TILING_HELP = (
    'Tiled mode for small defects on large images: "off", "RxC" (rows x columns of tiles, each at the working '
    f'resolution, 1..{MAX_TILES_PER_SIDE} a side, e.g. "2x2") or "auto" (2 a side where the images are at '
    "least twice the working resolution). Costs about rows x columns the time per image."
)


def canonical_size(value: object) -> str:
    """`256` / `"256"` / `"640x232"` / `"auto"` -> stored text; ValueError naming the value otherwise."""
    bad = (
        f'{value!r} is not a valid image size: use 256 (square), "640x232" (height x width) or "auto"; '
        f"each side a multiple of {geometry.SIZE_MULTIPLE} between {MIN_IMAGE_SIDE} and {MAX_IMAGE_SIDE}."
    )
    if not isinstance(value, int | str) or isinstance(value, bool):
        raise ValueError(bad)
    try:
        size = geometry.parse_size(value)
    except ValueError:
        raise ValueError(bad) from None
    if size == geometry.AUTO:
        return geometry.AUTO
    if any(side % geometry.SIZE_MULTIPLE or not MIN_IMAGE_SIDE <= side <= MAX_IMAGE_SIDE for side in size):
        raise ValueError(bad)
    return geometry.format_size(size)


def shown_size(stored: str) -> int | str:
    """Stored text -> API value: an int when square, else "HxW" or "auto"."""
    size = geometry.parse_size(str(stored))
    if size == geometry.AUTO:
        return geometry.AUTO
    return size[0] if size[0] == size[1] else geometry.format_size(size)


@extend_schema_field(
    {
        "oneOf": [{"type": "integer"}, {"type": "string", "pattern": r"^(\d+x\d+|auto)$"}],
        "description": SIZE_HELP,
        "example": "640x232",
    }
)
class ImageSizeField(serializers.Field):
    default_error_messages = {"invalid": "{message}"}

    def to_internal_value(self, data):
        try:
            return canonical_size(data)
        except ValueError as exc:
            self.fail("invalid", message=str(exc))

    def to_representation(self, value):
        return shown_size(value)


@extend_schema_field(OpenApiTypes.STR)
class TilingField(serializers.Field):
    default_error_messages = {"invalid": "{message}"}

    def to_internal_value(self, data):
        bad = f'{data!r} is not a valid tiling: use "off", "auto" or "RxC" with 1..{MAX_TILES_PER_SIDE} a side.'
        if not isinstance(data, str):
            self.fail("invalid", message=bad)
        try:
            grid = geometry.parse_tiling(data)
        except ValueError:
            self.fail("invalid", message=bad)
        if grid == geometry.AUTO:
            return geometry.AUTO
        if max(grid) > MAX_TILES_PER_SIDE:
            self.fail("invalid", message=bad)
        return geometry.format_tiling(grid)

    def to_representation(self, value):
        return value
