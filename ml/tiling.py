"""Tiled mode: small defects on large images.

The image is resized to a grid of overlapping tiles, each at the working resolution, so the model sees
``rows x cols`` times the pixels it sees untiled (a defect a few dozen pixels wide in a 1024 x 1024 image
covers 4x the feature cells with a 2 x 2 grid than squeezed to 256 x 256). Every tile goes through the
same network; the tile maps are stitched back (cross-faded where tiles overlap, :meth:`TileGrid.stitch`) and the
image score is taken from the tiles:

- score ``seg``: the maximum of the stitched map (exactly: ``score == stitched_map.max()``);
- scores ``cls`` and ``mean``: the largest tile score (an image is as defective as its worst tile).

Training cuts every training image into the same tiles; a tile of a defective image with a mask is
defective when its part of the mask has a defect pixel, else good. A defective image *without* a mask
cannot say which tile holds its defect, only that one does: its tiles form a *bag* (multiple-instance
learning). They are trained together, in one batch, and the image-level loss sees the bag once, through
its largest tile score, the same rule that scores a tiled image at inference (``ml.loss``); a tile of a bag
trains nothing on its own. A weak label therefore counts in tiled mode as it does untiled.

Settings (``TrainConfig``): ``tiling`` = ``"off"`` | ``"RxC"`` (e.g. ``"2x2"``) | ``"auto"`` and
``tile_overlap`` (share of a tile's side shared with its neighbour, default 0.25). ``auto`` picks, per axis,
``floor(median image side / working side)`` tiles, at most :data:`AUTO_MAX_PER_AXIS`: images at least twice
the working resolution get tiled, smaller ones stay untiled.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ml.geometry import (  # noqa: F401 - the tiling settings live with the other torch-free parsers
    AUTO_MAX_PER_AXIS,
    MAX_TILES_PER_AXIS,
    OFF,
    Size,
    auto_tiles,
    format_tiling,
    parse_tiling,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TileGrid:
    """``rows x cols`` tiles of ``tile`` = (h, w) pixels, neighbours sharing ``overlap`` of a side."""

    rows: int
    cols: int
    tile: Size
    overlap: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"tile_overlap must be in [0, 1), got {self.overlap}")

    @property
    def count(self) -> int:
        return self.rows * self.cols

    @property
    def tiled(self) -> bool:
        return self.count > 1

    @property
    def step(self) -> Size:
        return tuple(max(1, int(round(t * (1.0 - self.overlap)))) for t in self.tile)

    @property
    def full(self) -> Size:
        """(H, W) of the image the tiles are cut from."""
        (h, w), (sh, sw) = self.tile, self.step
        return ((self.rows - 1) * sh + h, (self.cols - 1) * sw + w)

    def boxes(self) -> list[tuple[int, int]]:
        """Top-left corner of every tile, row by row."""
        sh, sw = self.step
        return [(r * sh, c * sw) for r in range(self.rows) for c in range(self.cols)]

    def cut(self, images: torch.Tensor) -> torch.Tensor:
        """``B x C x H x W`` (H, W = :attr:`full`) -> ``B * count x C x h x w``, image by image, tile by tile."""
        h, w = self.tile
        tiles = [images[:, :, top : top + h, left : left + w] for top, left in self.boxes()]
        return torch.stack(tiles, dim=1).flatten(0, 1)

    def blend_weights(self) -> torch.Tensor:
        """``h x w`` weight of a tile's pixels in the stitch: 1 inside, ramping down linearly across the overlap
        towards the tile's edges (never to 0), so neighbouring tiles cross-fade instead of meeting at a seam."""
        ramps = []
        for side, step, count in zip(self.tile, self.step, (self.rows, self.cols), strict=True):
            overlap = side - step
            index = torch.arange(side, dtype=torch.float32)
            distance = torch.minimum(index, side - 1 - index) + 1
            ramps.append(torch.ones(side) if count == 1 or overlap <= 0 else (distance / (overlap + 1)).clamp(max=1))
        return ramps[0][:, None] * ramps[1][None, :]

    def stitch(self, maps: torch.Tensor) -> torch.Tensor:
        """``B * count x h x w`` tile maps -> ``B x H x W``: each pixel the weighted mean of the tiles covering it
        (:meth:`blend_weights`: a pixel one tile covers is that tile's value; overlaps cross-fade).

        On the maps' own device, with a batch size only the input knows (each tile is padded to the full image
        and summed): the same code runs eagerly and inside the exported ONNX model."""
        (h, w), (full_h, full_w) = self.tile, self.full
        tiles = maps.reshape(-1, self.count, h, w)
        weights = self.blend_weights().to(maps.device, maps.dtype)
        out = None
        cover = torch.zeros(self.full, dtype=maps.dtype, device=maps.device)
        for k, (top, left) in enumerate(self.boxes()):
            pad = (left, full_w - left - w, top, full_h - top - h)
            placed = F.pad(tiles[:, k] * weights, pad)
            out = placed if out is None else out + placed
            cover[top : top + h, left : left + w] += weights
        return out / cover


class TiledWrapper(nn.Module):
    """A per-tile ``(score, map)`` model as a whole-image one: ``B x 3 x H x W`` (H, W = ``grid.full``) ->
    (image scores ``B``, stitched maps ``B x H x W``), cut, scored and stitched as :class:`TileGrid` does, with the
    image score of :func:`image_scores`. What the ONNX export of a tiled model holds."""

    def __init__(self, tile_model: nn.Module, grid: TileGrid, score: str) -> None:
        super().__init__()
        self.tile_model = tile_model
        self.grid = grid
        self.score = score

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tile_scores, tile_maps = self.tile_model(self.grid.cut(images))
        stitched = self.grid.stitch(tile_maps)
        return image_scores(self.grid, tile_scores, stitched, self.score), stitched


def grid_from(tiling: object, tile: Size, overlap: float) -> TileGrid:
    grid = parse_tiling(tiling)
    if grid == "auto":
        raise ValueError("tiling 'auto' must be resolved from the training images first (ml.train.resolve_config)")
    return TileGrid(grid[0], grid[1], tuple(tile), overlap)


def image_scores(grid: TileGrid, tile_scores: torch.Tensor, stitched: torch.Tensor, score: str) -> torch.Tensor:
    """Image scores in [0, 1] of a tiled batch (see the module docstring for the rule)."""
    if score == "seg":
        return stitched.flatten(1).amax(dim=1)
    return tile_scores.view(-1, grid.count).amax(dim=1)


class TileSample(NamedTuple):
    """A training tile: ``box`` = (top, left) of the tile in the image resized to ``grid.full``. ``bag``: for
    the tiles of a defective image without a mask, the index of that image (module docstring), else -1."""

    image_path: str
    label: int
    mask_path: str | None
    box: tuple[int, int]
    full: Size
    bag: int = -1


def tile_samples(samples: Sequence, grid: TileGrid) -> list[TileSample]:
    """Every sample cut into the grid's tiles, with tile labels from the masks (module docstring)."""
    from ml.data import load_mask

    h, w = grid.tile
    out: list[TileSample] = []
    for index, sample in enumerate(samples):
        if sample.label == 1 and sample.mask_path is None:
            out.extend(TileSample(sample.image_path, 1, None, box, grid.full, index) for box in grid.boxes())
            continue
        mask = load_mask(sample.mask_path, grid.full)[0] if sample.label == 1 else None
        for top, left in grid.boxes():
            label = 0 if mask is None else int(bool(mask[top : top + h, left : left + w].any()))
            out.append(TileSample(sample.image_path, label, sample.mask_path, (top, left), grid.full))
    return out


def _image_dims(samples: Sequence) -> list[tuple[int, int]]:
    """(width, height) of every sample's image, from the file headers (no decoding)."""
    from PIL import Image

    dims = []
    for sample in samples:
        with Image.open(sample.image_path) as opened:
            dims.append(opened.size)
    return dims


def resolve_config(config, samples: Sequence, dims: Sequence[tuple[int, int]] | None = None):
    """``config`` with ``image_size="auto"`` and ``tiling="auto"`` resolved from the training images
    (``ml.geometry.auto_size`` with ``config.auto_pixels``; :func:`auto_tiles`); unchanged when neither is auto.
    ``dims``: the images' ``(width, height)`` when the caller knows them (else read from the files' headers)."""
    import dataclasses

    from ml.geometry import AUTO, auto_size, compact, parse_size

    if config.image_size != AUTO and config.tiling != AUTO:
        return config
    dims = _image_dims(samples) if dims is None else list(dims)
    changes: dict = {}
    if config.image_size == AUTO:
        changes["image_size"] = compact(auto_size(dims, config.auto_pixels))
    if config.tiling == AUTO:
        tile = parse_size(changes.get("image_size", config.image_size))
        changes["tiling"] = format_tiling(auto_tiles(dims, tile))
    resolved = dataclasses.replace(config, **changes)
    logger.info("resolved image_size %s, tiling %s", resolved.image_size, resolved.tiling)
    return resolved


def training_samples(config, samples: Sequence) -> list:
    """The samples ``fit`` trains on: the samples themselves, or their tiles in tiled mode."""
    grid = grid_from(config.tiling, config.size, config.tile_overlap)
    return tile_samples(samples, grid) if grid.tiled else list(samples)
