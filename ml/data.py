"""Samples, image/mask loading, dataset readers (MVTec AD layout, CSV manifest) and the backbone feature cache."""

from __future__ import annotations

import csv
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ml.config import MASK_CELLS
from ml.pixels import defect_pixels, image_depth, is_high_depth, to_rgb

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
# Discrete augmentations of defective images (supervised mode), as in the paper.
AUGMENTATIONS = ("none", "vflip", "hflip", "rot180")

ImageInput = str | Path | Image.Image | np.ndarray


class Sample(NamedTuple):
    """One training or evaluation image. ``label``: 0 good, 1 defective. A defective sample without
    ``mask_path`` is weakly labelled: it trains the image score only."""

    image_path: str
    label: int
    mask_path: str | None = None


def to_pil(image: ImageInput, depth: int | None = None) -> Image.Image:
    """Path, PIL image or ``H x W (x 3)`` uint8 array -> RGB PIL image, 8 bits per channel by the rule of
    :mod:`ml.pixels` (16-bit and float images scaled, never clipped; ``depth``: a model's ``sample_depth``)."""
    if isinstance(image, Image.Image):
        pil = image
    elif isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ValueError(f"numpy images must be uint8, got {image.dtype}")
        pil = Image.fromarray(image)
    else:
        with Image.open(image) as opened:
            pil = opened.copy()
    return to_rgb(pil, depth)


def training_depth(paths: Sequence[str | Path]) -> int | None:
    """The ``sample_depth`` of a model trained on these images: the largest depth their 16-bit and 32-bit images
    use (ml.pixels.image_depth), so that every image, dim frames too, is read on one scale; None when none is."""
    depths = []
    for path in paths:
        with Image.open(path) as opened:
            if not is_high_depth(opened):
                continue
            opened.load()
            depth = image_depth(opened)
        if depth is not None:
            depths.append(depth)
    return max(depths) if depths else None


def _hw(size: int | Sequence[int]) -> tuple[int, int]:
    """An int (square) or ``(height, width)`` -> ``(height, width)``."""
    if isinstance(size, int):
        return (size, size)
    h, w = size
    return (int(h), int(w))


def image_to_tensor(image: ImageInput, size: int | Sequence[int], depth: int | None = None) -> torch.Tensor:
    """-> ``3 x H x W`` float32 in [0, 1] (bilinear resize); ``size`` is an int (square) or ``(H, W)``;
    ``depth``: the bits per sample 16-bit images are read with (a model's ``sample_depth``; None: their own)."""
    h, w = _hw(size)
    pil = to_pil(image, depth).resize((w, h), Image.BILINEAR)
    return torch.from_numpy(np.array(pil, dtype=np.uint8)).permute(2, 0, 1).float().div_(255.0)


def load_mask(path: str | Path | None, size: int | Sequence[int]) -> torch.Tensor:
    """-> ``1 x H x W`` float32 in {0, 1}; zeros when ``path`` is None. ``size``: an int (square) or ``(H, W)``.

    Any mask file (0/255, 0/1, colour, alpha) is read by :func:`ml.pixels.defect_pixels`; a pixel of the
    resized mask is a defect where it covers at least half of one."""
    h, w = _hw(size)
    if path is None:
        return torch.zeros(1, h, w)
    with Image.open(path) as opened:
        mask = defect_pixels(opened).resize((w, h), Image.BILINEAR)
    return torch.from_numpy((np.array(mask) > 127).astype(np.float32))[None]


def sample_tensors(
    sample: Sample, size: int | Sequence[int], depth: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(image ``3 x H x W``, mask ``1 x H x W``) of a sample at the working resolution; a tile of a tiled
    sample (``ml.tiling.TileSample``: has ``box`` and ``full``) is cut from the image resized to ``full``."""
    box = getattr(sample, "box", None)
    if box is None:
        return image_to_tensor(sample.image_path, size, depth), load_mask(sample.mask_path, size)
    (h, w), (top, left) = _hw(size), box
    image = _full_image(sample.image_path, tuple(sample.full), depth)
    mask = load_mask(sample.mask_path, sample.full)
    return image[:, top : top + h, left : left + w], mask[:, top : top + h, left : left + w]


_last_full = threading.local()  # per thread: (key, tensor) of the image whose tiles are being read


def _full_image(path: str, full: tuple[int, int], depth: int | None = None) -> torch.Tensor:
    """The tiles of one image come one after another: decode it once for all of them. The key holds the file's
    size and modification time, so a file rewritten at the same path is read again."""
    stat = os.stat(path)
    key = (path, full, depth, stat.st_mtime_ns, stat.st_size)
    cached = getattr(_last_full, "entry", None)
    if cached is None or cached[0] != key:
        cached = (key, image_to_tensor(path, full, depth))
        _last_full.entry = cached
    return cached[1]


def augment(tensor: torch.Tensor, name: str) -> torch.Tensor:
    """Apply one of :data:`AUGMENTATIONS` to a ``C x H x W`` tensor."""
    if name == "none":
        return tensor
    if name == "vflip":
        return tensor.flip(-2)
    if name == "hflip":
        return tensor.flip(-1)
    if name == "rot180":
        return tensor.flip(-2, -1)
    raise ValueError(f"unknown augmentation {name!r}")


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _mask_for(root: Path, defect: str, image: Path) -> str | None:
    for suffix in (".png", image.suffix):
        candidate = root / "ground_truth" / defect / f"{image.stem}_mask{suffix}"
        if candidate.is_file():
            return str(candidate)
    return None


def read_mvtec(root: str | Path, split: str, include_defective: bool = True) -> list[Sample]:
    """Samples of ``root/<split>/`` in MVTec AD layout.

    ``<split>/good/*`` are good; every other sub-folder holds defective images whose masks live in
    ``ground_truth/<defect>/<name>_mask.png`` (missing mask: weak label). With ``include_defective=False``
    only good images are returned (the unsupervised training set).
    """
    root = Path(root)
    folder = root / split
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist (expected MVTec AD layout: {split}/good/...)")
    samples = [Sample(str(p), 0, None) for p in _images_in(folder / "good")]
    if include_defective:
        for defect_dir in sorted(d for d in folder.iterdir() if d.is_dir() and d.name != "good"):
            for p in _images_in(defect_dir):
                samples.append(Sample(str(p), 1, _mask_for(root, defect_dir.name, p)))
    return samples


def read_manifest(path: str | Path, split: str, split_column: str) -> list[Sample]:
    """Samples of a CSV manifest (columns ``image, mask, label`` and a split column), paths relative to
    the CSV's folder. ``label`` is ``good``/``defective`` (or 0/1)."""
    path = Path(path)
    base = path.parent
    samples = []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"image", "label", split_column} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
        for row in reader:
            if row[split_column] != split:
                continue
            label = 1 if row["label"].strip().lower() in {"defective", "1", "bad", "anomalous"} else 0
            mask = row.get("mask") or None
            samples.append(Sample(str(base / row["image"]), label, str(base / mask) if mask else None))
    return samples


def read_dataset(
    path: str | Path, split: str, mode: str = "supervised", split_column: str | None = None
) -> list[Sample]:
    """MVTec folder or CSV manifest -> samples of ``split``. Unsupervised training sets keep good images only."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        column = split_column or ("split_supervised" if mode == "supervised" else "split_unsupervised")
        samples = read_manifest(path, split, column)
    else:
        samples = read_mvtec(path, split, include_defective=split != "train" or mode == "supervised")
    if split == "train" and mode == "unsupervised":
        samples = [s for s in samples if s.label == 0]
    return samples


class CacheEntry(NamedTuple):
    sample_index: int
    augmentation: str


class FeatureCache:
    """Backbone features of every (sample, augmentation) pair, computed once and kept as float16.

    The backbone is frozen and the augmentations are discrete, so the cache gives exactly the features a
    per-step forward would give (up to float16 storage). Masks are stored at feature resolution. On a GPU the
    cache stays in GPU memory when it fits (:func:`cache_device`), so a training step copies nothing from the host.

    Attributes:
        features: one ``N x C_i x h_i x w_i`` float16 tensor per backbone level, on :attr:`device`.
        masks: ``N x 1 x H x W`` at the aggregated feature size, {0, 1}.
        labels: ``N`` float; pixel_valid: ``N`` bool (False for weak labels); entries: the pairs.
        bags: ``N`` long: the tiles of one weak image in one augmentation share an id >= 0 (``ml.tiling``);
            -1 for every other entry.
    """

    def __init__(
        self,
        features: list[torch.Tensor],
        masks: torch.Tensor,
        labels: torch.Tensor,
        pixel_valid: torch.Tensor,
        entries: list[CacheEntry],
        bags: torch.Tensor | None = None,
    ) -> None:
        self.device = features[0].device if features else torch.device("cpu")
        self.features = features
        self.masks = masks.to(self.device)
        self.labels = labels.to(self.device)
        self.pixel_valid = pixel_valid.to(self.device)
        self.entries = entries
        self.bags = torch.full((len(entries),), -1, dtype=torch.long) if bags is None else bags.long().cpu()
        self.has_bags = bool((self.bags >= 0).any())

    def __len__(self) -> int:
        return len(self.entries)

    def batch(self, indices: Sequence[int], device: torch.device) -> tuple[list[torch.Tensor], ...]:
        idx = torch.as_tensor(list(indices), dtype=torch.long, device=self.device)
        features = [f[idx].to(device, torch.float32, non_blocking=True) for f in self.features]
        return features, self.masks[idx].to(device), self.labels[idx].to(device), self.pixel_valid[idx].to(device)

    def bags_of(self, indices: Sequence[int], device: torch.device) -> torch.Tensor | None:
        """The bag ids of a batch's entries, or None when the batch holds no bag (the usual case)."""
        if not self.has_bags:  # every untiled training: no per-step work
            return None
        bags = self.bags[list(indices)]
        return bags.to(device) if bool((bags >= 0).any()) else None

    @classmethod
    @torch.no_grad()
    def build(
        cls,
        extractor: Callable[[torch.Tensor], Sequence[torch.Tensor]],
        samples: Sequence[Sample],
        entries: list[CacheEntry],
        image_size: int | Sequence[int],
        feature_size: int | Sequence[int],
        device: torch.device,
        batch_size: int = 16,
        on_batch: Callable[[int, int], None] | None = None,
        mask_cells: str = "area",
        depth: int | None = None,
    ) -> FeatureCache:
        """Run ``extractor`` over all entries. ``on_batch(done, total)`` is called after every batch (it may
        raise to cancel)."""
        levels: list[list[torch.Tensor]] = []
        masks, labels, valid, bags = [], [], [], []
        bag_ids: dict[tuple[int, str], int] = {}
        total = len(entries)
        store = torch.device("cpu")
        for start in range(0, total, batch_size):
            chunk = entries[start : start + batch_size]
            images = []
            for entry in chunk:
                sample = samples[entry.sample_index]
                image, mask = sample_tensors(sample, image_size, depth)
                images.append(augment(image, entry.augmentation))
                mask = augment(mask, entry.augmentation)
                masks.append(downsample_mask(mask[None], feature_size, mask_cells)[0])
                labels.append(float(sample.label))
                valid.append(sample.label == 0 or sample.mask_path is not None)
                bag = getattr(sample, "bag", -1)
                bags.append(-1 if bag < 0 else bag_ids.setdefault((bag, entry.augmentation), len(bag_ids)))
            outputs = extractor(torch.stack(images).to(device))
            if not levels:
                levels = [[] for _ in outputs]
                per_entry = sum(out[0].numel() for out in outputs) * 2  # bytes in float16
                store = cache_device(device, per_entry * total)
            for level, out in zip(levels, outputs, strict=True):
                level.append(out.to(store, torch.float16))
            if on_batch is not None:
                on_batch(min(start + batch_size, total), total)
        return cls(
            [torch.cat(store) for store in levels],
            torch.stack(masks),
            torch.tensor(labels),
            torch.tensor(valid),
            list(entries),
            torch.tensor(bags, dtype=torch.long),
        )


# The share of the GPU's free memory the feature cache may take; the rest is for the training itself.
CACHE_GPU_SHARE = 0.5


def cache_device(device: torch.device, nbytes: int) -> torch.device:
    """Where a feature cache of ``nbytes`` lives: on a CUDA ``device`` when it fits in
    :data:`CACHE_GPU_SHARE` of the free memory (no host copy per step), else on the CPU."""
    if device.type != "cuda":
        return torch.device("cpu")
    free, _total = torch.cuda.mem_get_info(device)
    return device if nbytes <= CACHE_GPU_SHARE * free else torch.device("cpu")


def downsample_mask(masks: torch.Tensor, size: int | Sequence[int], rule: str = "area") -> torch.Tensor:
    """``B x 1 x H x W`` -> ``B x 1 x h x w`` training masks at feature resolution (``size``: int or ``(h, w)``).

    ``rule="area"`` (the paper): bilinear, binarised at 0.5, so a cell is defective when about half of it is.
    ``rule="any"``: a cell is defective when any of its pixels is. A defect thinner than half a feature cell (a
    3-pixel crack at stride 8) vanishes under "area" and its cells are then taught as *normal*; "any" keeps it.
    """
    if rule == "any":
        return (F.adaptive_max_pool2d(masks, _hw(size)) > 0.5).float()
    if rule != "area":
        raise ValueError(f"mask rule must be one of {MASK_CELLS}, got {rule!r}")
    return (F.interpolate(masks, size=_hw(size), mode="bilinear", align_corners=False) > 0.5).float()
