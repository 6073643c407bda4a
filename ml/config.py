"""Training configuration: one dataclass, two presets (``paper`` and ``fast``), saved with every checkpoint."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ml import geometry

MODES = ("unsupervised", "supervised")
PRESETS = ("fast", "paper")
SCORES = ("cls", "seg", "mean")
SUPERVISED_EPOCHS = ("authors", "balanced")
MASK_CELLS = ("area", "any")
BUDGET_MIN_EPOCHS = 3


@dataclass
class TrainConfig:
    """Everything that decides how a model is built and trained.

    The defaults are the paper's recipe (SuperSimpleNet, ICPR 2024); :meth:`from_preset` derives the
    ``fast`` CPU recipe from them.
    """

    mode: str = "unsupervised"
    preset: str = "paper"
    backbone: str = "wide_resnet50_2"
    # None: the backbone's default layers (``ml.backbones.DEFAULT_LAYERS``).
    layers: tuple[str, ...] | None = None
    pretrained: bool = True
    # Optional explicit weights file for the backbone (else: installed package / torch hub cache / download).
    weights: str | None = None
    # Working resolution, height x width: an int (square, as every checkpoint before height x width), "640x232",
    # (640, 232) or "auto" (resolved by ``fit`` from the training images: ml.geometry.auto_size, budget
    # ``auto_pixels``). Stored as an int when square, else as a (height, width) tuple.
    image_size: int | tuple[int, int] | str = 256
    auto_pixels: int = geometry.AUTO_PIXELS
    # Bits per sample that 16-bit and 32-bit images are read with (ml.pixels), the same for every image the model
    # sees. None: ``fit`` takes the largest depth its training images use (ml.data.training_depth) and stores it;
    # a checkpoint without it (trained before) reads each image by its own depth.
    sample_depth: int | None = None
    # Tiled mode (ml/tiling.py): "off", "RxC" (e.g. "2x2": rows x cols of tiles at the working resolution) or "auto".
    tiling: str = "off"
    tile_overlap: float = 0.25
    # Upscaling of the shallowest feature map before concatenation: 2 = stride 4 (paper), 1 = stride 8.
    upscale: int = 2
    # Training on random crops of the feature map: the side of a crop in working-resolution pixels (each axis at most
    # the image's). The adaptor and the segmentation head see one position at a time, so a crop trains them as the
    # whole map does at a fraction of the cost; a defective image's crop holds part of its mask (ml.train.random_crop).
    # None trains on whole maps (the paper).
    train_crop: int | None = None
    epochs: int = 300
    # Unsupervised: about this many image draws per fit at most; a large training set gets fewer epochs (never fewer
    # than BUDGET_MIN_EPOCHS nor more than ``epochs``). None: always ``epochs``. ``fit`` resolves it.
    draw_budget: int | None = None
    batch_size: int = 32
    adaptor_lr: float = 1e-4
    adaptor_weight_decay: float = 0.01
    head_lr: float = 2e-4
    head_weight_decay: float = 1e-5
    lr_milestones: tuple[float, ...] = (0.8, 0.9)
    lr_gamma: float = 0.4
    # Gradient-norm clipping; the paper clips in supervised runs only.
    clip_grad_norm: float | None = None
    # Threshold of the Perlin noise masks (higher: fewer, smaller synthetic anomalies). A setting of its own;
    # ``from_preset`` fills it from PERLIN_THR (per preset and mode, documented in docs/ml.md).
    perlin_thr: float = 0.2
    noise_std: float = 0.015
    stop_grad: bool = True
    # Training masks at feature resolution (ml.data.downsample_mask): "area" = a cell is defective when half of it
    # is (the paper), "any" = when any pixel is (thin defects survive the stride).
    mask_cells: str = "area"
    # Defective images: none / vertical flip / horizontal flip / rotate 180 (supervised only).
    augment_defects: bool = True
    # Supervised epoch (ml/sampling.py): "authors" = every defective image in all four orientations plus as many
    # good images (8 x D draws); "balanced" = each defect once in one random orientation plus as many good (2 x D).
    supervised_epoch: str = "authors"
    # Standardise every backbone channel with statistics of the training images (stored in the checkpoint).
    feature_norm: bool = False
    # Image score: "cls" = classification head, "seg" = max of the anomaly map, "mean" = mean of both.
    score: str = "cls"
    # bf16 autocast on CPU / fp16 on CUDA for the trainable part.
    autocast: bool = False
    channels_last: bool = False
    seed: int = 42
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {PRESETS}, got {self.preset!r}")
        if self.supervised_epoch not in SUPERVISED_EPOCHS:
            raise ValueError(f"supervised_epoch must be one of {SUPERVISED_EPOCHS}, got {self.supervised_epoch!r}")
        if not -1.0 < self.perlin_thr < 1.0:
            raise ValueError(f"perlin_thr must be in (-1, 1), got {self.perlin_thr}")
        if self.sample_depth is not None and not 8 <= int(self.sample_depth) <= 32:
            raise ValueError(f"sample_depth must be 8..32 bits, got {self.sample_depth}")
        if self.mask_cells not in MASK_CELLS:
            raise ValueError(f"mask_cells must be one of {MASK_CELLS}, got {self.mask_cells!r}")
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {self.score!r}")
        size = geometry.parse_size(self.image_size)
        self.image_size = size if size == geometry.AUTO else geometry.compact(geometry.check_size(size))
        self.tiling = _normalise_tiling(self.tiling)
        if not 0.0 <= self.tile_overlap < 1.0:
            raise ValueError(f"tile_overlap must be in [0, 1), got {self.tile_overlap}")
        if self.train_crop is not None:
            if self.train_crop < geometry.MIN_SIDE or self.train_crop % geometry.SIZE_MULTIPLE:
                raise ValueError(
                    f"train_crop {self.train_crop} must be a multiple of {geometry.SIZE_MULTIPLE}, "
                    f"at least {geometry.MIN_SIDE}"
                )
        if self.draw_budget is not None and self.draw_budget < 1:
            raise ValueError(f"draw_budget must be >= 1 or None, got {self.draw_budget}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if self.layers is not None:
            self.layers = tuple(self.layers)
        self.lr_milestones = tuple(self.lr_milestones)

    @classmethod
    def from_preset(
        cls,
        preset: str = "fast",
        mode: str = "unsupervised",
        backbone: str = "efficientnet_lite0",
        image_size: int | tuple[int, int] | str = 256,
        epochs: int | None = None,
        seed: int = 42,
        device: str = "auto",
        **overrides: Any,
    ) -> TrainConfig:
        """Build a config from a named recipe; ``epochs=None`` keeps the preset's epoch count."""
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
        supervised = mode == "supervised"
        values: dict[str, Any] = dict(
            preset=preset,
            mode=mode,
            backbone=backbone,
            image_size=image_size,
            seed=seed,
            device=device,
            stop_grad=not supervised,
            clip_grad_norm=1.0 if supervised else None,
            perlin_thr=PERLIN_THR.get((preset, mode), 0.2),  # an unknown mode is refused by __post_init__
        )
        if preset == "paper":
            values.update(epochs=300, batch_size=32)
        else:
            values.update(FAST_PRESET, score=FAST_SCORE[mode] if mode in FAST_SCORE else "cls")
        values.update(BACKBONE_TUNING.get((preset, backbone), {}))
        if epochs is not None:
            values["epochs"] = epochs
            values["draw_budget"] = None  # epochs asked for are epochs trained
        values.update(overrides)
        return cls(**values)

    def budgeted(self, images: int) -> TrainConfig:
        """This config with ``epochs`` set by ``draw_budget`` for ``images`` training entries (unsupervised only):
        ceil(budget / images), at most ``epochs``, at least BUDGET_MIN_EPOCHS; then ``draw_budget`` None."""
        if self.draw_budget is None or self.mode != "unsupervised" or images < 1:
            return self
        epochs = min(self.epochs, max(BUDGET_MIN_EPOCHS, math.ceil(self.draw_budget / images)))
        return dataclasses.replace(self, epochs=epochs, draw_budget=None)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["layers"] = list(self.layers) if self.layers is not None else None
        data["lr_milestones"] = list(self.lr_milestones)
        if isinstance(self.image_size, tuple):
            data["image_size"] = list(self.image_size)
        return data

    @property
    def size(self) -> tuple[int, int]:
        """The working resolution as ``(height, width)``; raises while ``image_size`` is still "auto"."""
        if self.image_size == geometry.AUTO:
            raise ValueError("image_size 'auto' is resolved from the training images by fit (ml.train.resolve_config)")
        return geometry.parse_size(self.image_size)

    @property
    def image_height(self) -> int:
        return self.size[0]

    @property
    def image_width(self) -> int:
        return self.size[1]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _normalise_tiling(value: Any) -> str:
    grid = geometry.parse_tiling(value)
    return geometry.AUTO if grid == geometry.AUTO else geometry.format_tiling(grid)


# The fast preset trains on random 256 x 256 windows (``train_crop``) of the working resolution: at 512 x 512
# (``auto`` on large images) a step costs what a whole 256 x 256 map does. Measured on `parts` (300 images, 512):
# whole maps are 4x the time per step; crops reached image AUROC 0.999, pixel AUROC 1.000 (docs/ml.md, "Hard data").
FAST_TRAIN_CROP = 256

# The team's CPU recipe (figures behind each choice: docs/ml.md, "The fast preset"). Features are cached
# (exact: the backbone is frozen and augmentations are discrete) and the map stays at the backbone's stride 8
# (upscale 1: a quarter of the paper's head cost). Few epochs on a few dozen images give few optimiser steps,
# so batches are smaller and learning rates 10x the paper's. Backbone channels are standardised with training
# statistics and the synthetic noise is scaled to them (std 1.0 on unit-variance features); with the paper's
# 0.015 on raw EfficientNet-Lite features (std ~7) the heads never see the noise and learn nothing useful.
# bf16 autocast and channels_last were measured slower on the project's CPUs and stay off.
FAST_PRESET: dict[str, Any] = dict(
    epochs=8,
    batch_size=4,
    upscale=1,
    adaptor_lr=1e-3,
    head_lr=2e-3,
    feature_norm=True,
    noise_std=1.0,
    # The authors' supervised epoch (8 x D, ml/sampling.py): on magnetic tile (100 good + 40 defective, 8 epochs)
    # image AUROC 0.851 vs 0.828 for the balanced 2 x D epoch, at 2.3x the training time (docs/ml.md).
    supervised_epoch="authors",
    # Training masks: a feature cell is defective when any of its pixels is. The paper's "half the cell" rule
    # erased 16 of 18 thin cracks on `strips` at 256 (taught as normal): pixel AUROC 0.55-0.92 -> 0.998.
    mask_cells="any",
    train_crop=FAST_TRAIN_CROP,
    # 8 epochs up to 150 good images, fewer beyond (300 images: 4 epochs, at least 3): on `parts` (300 images, 512)
    # 3 epochs gave image AUROC 0.978 and 8 epochs 0.999, at about half the training time (docs/ml.md).
    draw_budget=1200,
    autocast=False,
    channels_last=False,
)
# Image score of the fast preset per mode, chosen on real data (magnetic tile): unsupervised, the classification
# head learns only synthetic noise and ranks real defects near chance, the map's maximum does much better;
# supervised, the head has seen real defects and the mean of both scores is best.
FAST_SCORE = {"unsupervised": "seg", "supervised": "mean"}

# Default Perlin threshold per (preset, mode): the paper's 0.2 for unsupervised MVTec-like objects and 0.6 for
# supervised runs (the authors also use 0.6 for VisA-like data in unsupervised mode: set perlin_thr=0.6 there).
PERLIN_THR: dict[tuple[str, str], float] = {
    ("paper", "unsupervised"): 0.2,
    ("paper", "supervised"): 0.6,
    ("fast", "unsupervised"): 0.2,
    ("fast", "supervised"): 0.6,
}

# Per (preset, backbone) adjustments measured on real data (docs/ml.md, "Backbones on real data").
BACKBONE_TUNING: dict[tuple[str, str], dict[str, Any]] = {}
