"""Training: ``fit(config, samples, out_dir)`` -> a checkpoint, written atomically."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from ml.config import TrainConfig
from ml.data import AUGMENTATIONS, CacheEntry, FeatureCache, Sample, training_depth
from ml.extract import feature_runner
from ml.geometry import check_size
from ml.loss import SupersimplenetLoss
from ml.metrics import compute_metrics
from ml.predict import FORMAT_VERSION, Predictor, build_model, resolve_device, trainable_state
from ml.sampling import EpochSampler, epoch_order  # noqa: F401 - epoch_order re-exported
from ml.tiling import resolve_config, training_samples
from ml.torch_model import Supersimplenet

logger = logging.getLogger(__name__)

# Share of the progress bar each phase gets (feature extraction is about one epoch of work on CPU).
_FEATURES_SHARE = 0.15
_EVAL_SHARE = 0.1


class TrainingCancelled(Exception):
    """Raised by :func:`fit` when ``should_stop()`` returned True; no checkpoint is left behind."""


class Progress(NamedTuple):
    """One progress report; ``fraction`` rises monotonically from 0 to 1 over the whole fit."""

    phase: str  # "features" | "train" | "evaluate"
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float | None
    fraction: float


@dataclass
class FitResult:
    checkpoint_path: Path
    history: list[dict[str, float]]
    device: str
    train_counts: dict[str, int]
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    eval_scores: list[float] = field(default_factory=list)
    threshold: float | None = None
    # The config trained, "auto" image size and tiling resolved (ml.tiling.resolve_config).
    config: TrainConfig | None = None


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def training_entries(config: TrainConfig, samples: Sequence[Sample]) -> list[CacheEntry]:
    """Cache entries: every sample once, plus the flipped/rotated copies of defective samples when
    supervised with augmentation."""
    entries = []
    for index, sample in enumerate(samples):
        augs = AUGMENTATIONS if (sample.label == 1 and config.augment_defects) else ("none",)
        entries.extend(CacheEntry(index, aug) for aug in augs)
    return entries


def build_optimizer(model: Supersimplenet, config: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(
        [
            {
                "params": model.adaptor.parameters(),
                "lr": config.adaptor_lr,
                "weight_decay": config.adaptor_weight_decay,
            },
            {
                "params": model.segmentation.parameters(),
                "lr": config.head_lr,
                "weight_decay": config.head_weight_decay,
            },
            {
                "params": model.classification.parameters(),
                "lr": config.head_lr,
                "weight_decay": config.head_weight_decay,
            },
        ]
    )


def _autocast(config: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    if not config.autocast:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)


def random_crop(
    config: TrainConfig,
    feature_size: int | tuple[int, int],
    model: Supersimplenet,
    generator: torch.Generator,
    masks: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    pixel_valid: torch.Tensor | None = None,
) -> tuple[int, int, list[tuple[int, int]]] | None:
    """Random windows of the aggregated map for one step: ``(height, width, [(top, left) per sample])`` in cells,
    ``config.train_crop`` pixels a side (each axis at most the map's). A defective sample's window holds a random
    cell of its mask, so its label stays true. None (whole maps) when crops are off, the window would cover more
    than half the map (less than a 2x saving), or the batch holds a defective image without a usable mask (its
    defect could lie anywhere).

    Window corners are drawn so that the map's edges are trained about as often as its middle: a corner uniform
    over every window that overlaps the map, clamped inside it. (A corner uniform over the inside windows covers
    an edge row in 1 of ``map - window + 1`` steps; good images then peaked at the edge at inference.)"""
    if config.train_crop is None:
        return None
    fh, fw = (feature_size, feature_size) if isinstance(feature_size, int) else feature_size
    cells = max(1, config.train_crop * model.aggregator.upscale // model.extractor.strides[0])
    ch, cw = min(cells, fh), min(cells, fw)
    if 2 * ch * cw > fh * fw:
        return None
    count = 1 if masks is None else masks.shape[0]

    def edge_fair(side: int, window: int) -> int:
        return min(max(0, int(torch.randint(1 - window, side, (1,), generator=generator))), side - window)

    corners = []
    for i in range(count):
        top, left = edge_fair(fh, ch), edge_fair(fw, cw)
        if labels is not None and float(labels[i]) > 0:
            cells_on = masks[i, 0].nonzero() if pixel_valid is None or bool(pixel_valid[i]) else masks[i, 0][:0]
            if not len(cells_on):
                return None
            y, x = (int(v) for v in cells_on[int(torch.randint(len(cells_on), (1,), generator=generator))])
            top = min(max(0, y - int(torch.randint(ch, (1,), generator=generator))), fh - ch)
            left = min(max(0, x - int(torch.randint(cw, (1,), generator=generator))), fw - cw)
        corners.append((top, left))
    return ch, cw, corners


def feature_statistics(model: Supersimplenet, cache: FeatureCache, device: torch.device) -> None:
    """Per-channel mean/std of aggregated good-image features, written into the aggregator."""
    good = [i for i in range(len(cache)) if cache.labels[i] == 0] or list(range(len(cache)))
    total = sq = None
    count = 0
    with torch.no_grad():
        for start in range(0, len(good), 16):
            features, *_ = cache.batch(good[start : start + 16], device)
            x = model.aggregator(features).double()
            s, s2 = x.sum(dim=(0, 2, 3)), (x * x).sum(dim=(0, 2, 3))
            total = s if total is None else total + s
            sq = s2 if sq is None else sq + s2
            count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = (sq / count - mean * mean).clamp_min(0).sqrt()
    model.aggregator.set_statistics(mean.float(), std.float())


def _save_atomic(payload: dict[str, Any] | bytes, path: Path) -> None:
    """Write a checkpoint (torch.save of a dict) or raw bytes so that a reader never sees a half-written file:
    a temp file beside the target, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".model-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(payload, bytes):
                handle.write(payload)
            else:
                torch.save(payload, handle)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def plan(config: TrainConfig, train_samples: Sequence[Sample]) -> tuple[TrainConfig, list[Sample]]:
    """The config ``fit`` trains with and the samples it trains on: the mode's images (unsupervised: the good
    ones), "auto" size and tiling resolved, the tiles in tiled mode (ml/tiling.py), and the epochs set by the
    fast preset's draw budget (fewer epochs on a large unsupervised set). A caller that shows progress reads
    the epoch count from here before the fit starts."""
    samples = [s for s in train_samples if config.mode == "supervised" or s.label == 0]
    config = resolve_config(config, samples)
    if config.sample_depth is None:
        depth = training_depth([s.image_path for s in samples])
        if depth is not None:
            config = dataclasses.replace(config, sample_depth=depth)
            logger.info("16-bit images read as %d-bit (sample_depth)", depth)
    samples = training_samples(config, samples)
    return config.budgeted(len(samples)), samples


def fit(
    config: TrainConfig,
    train_samples: Sequence[Sample],
    out_dir: str | Path,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    eval_samples: Sequence[Sample] | None = None,
) -> FitResult:
    """Train SuperSimpleNet and write ``out_dir/model.pt``.

    Args:
        config: hyper-parameters (``TrainConfig.from_preset``).
        train_samples: images with labels and optional masks. Unsupervised mode uses the good ones only;
            supervised mode uses all (defective images without a mask train the image score only).
        out_dir: folder for the checkpoint.
        on_progress: called with a :class:`Progress` after every feature batch and training step.
        should_stop: polled before every feature batch and training step; True cancels the fit.
        eval_samples: held-out images; when given, metrics and a threshold are computed on them.

    Raises:
        TrainingCancelled: ``should_stop()`` returned True.
        ValueError: no usable training image.
    """
    started = time.perf_counter()
    device = resolve_device(config.device)
    generator = seed_everything(config.seed)
    samples = [s for s in train_samples if config.mode == "supervised" or s.label == 0]
    counts = {
        "good": sum(s.label == 0 for s in samples),
        "defective": sum(s.label == 1 for s in samples),
        "masks": sum(s.label == 1 and s.mask_path is not None for s in samples),
    }
    if not counts["good"]:
        raise ValueError("training needs at least one good image")
    config, samples = plan(config, samples)
    has_eval = bool(eval_samples)
    train_share = 1.0 - _FEATURES_SHARE - (_EVAL_SHARE if has_eval else 0.0)
    last_fraction = 0.0

    def report(phase: str, epoch: int, step: int, steps: int, loss: float | None, fraction: float) -> None:
        nonlocal last_fraction
        last_fraction = max(last_fraction, min(1.0, fraction))
        if on_progress is not None:
            on_progress(Progress(phase, epoch, config.epochs, step, steps, loss, last_fraction))

    def check_stop() -> None:
        if should_stop is not None and should_stop():
            raise TrainingCancelled("training cancelled")

    model = build_model(config).to(device)
    check_size(config.size, multiple=model.extractor.strides[0])
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)

    def on_feature_batch(done: int, total: int) -> None:
        report("features", 0, done, total, None, _FEATURES_SHARE * done / total)
        check_stop()

    check_stop()
    feature_size = model.feature_size(config.size)
    entries = training_entries(config, samples)
    extract, backend = feature_runner(model.extractor, config.size, device, images=len(entries))
    logger.info("features of %d entries at %s by %s", len(entries), config.size, backend)
    cache = FeatureCache.build(
        extract,
        samples,
        entries,
        config.size,
        feature_size,
        device,
        on_batch=on_feature_batch,
        mask_cells=config.mask_cells,
        depth=config.sample_depth,
    )
    if config.feature_norm:
        feature_statistics(model, cache, device)

    optimizer = build_optimizer(model, config)
    milestones = sorted({max(1, int(round(m * config.epochs))) for m in config.lr_milestones})
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=config.lr_gamma)
    scaler = torch.amp.GradScaler("cuda", enabled=config.autocast and device.type == "cuda")
    criterion = SupersimplenetLoss()
    history: list[dict[str, float]] = []
    sampler = EpochSampler(config, cache, samples)
    model.train()
    for epoch in range(1, config.epochs + 1):
        batches = sampler.batches(sampler.epoch_units(generator))
        losses = []
        for step, indices in enumerate(batches, start=1):
            check_stop()
            features, masks, labels, pixel_valid = cache.batch(indices, device)
            if config.channels_last:
                features = [f.contiguous(memory_format=torch.channels_last) for f in features]
            crop = random_crop(config, feature_size, model, generator, masks, labels, pixel_valid)
            with _autocast(config, device):
                out = model.forward_features(features, masks, labels, generator=generator, crop=crop)
            bags = cache.bags_of(indices, device)
            if bags is not None:  # the perturbed copies of a bag's tiles are a bag of their own
                bags = torch.cat((bags, bags.where(bags < 0, bags + len(cache))))
            valid = torch.cat((pixel_valid,) * 2)
            loss = criterion(out.map_logits, out.score_logits, out.masks, out.labels, valid, bags)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.clip_grad_norm:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            losses.append(float(loss.detach()))
            done = (epoch - 1 + step / len(batches)) / config.epochs
            report("train", epoch, step, len(batches), losses[-1], _FEATURES_SHARE + train_share * done)
        scheduler.step()
        history.append({"epoch": epoch, "loss": float(np.mean(losses))})
        logger.info("epoch %d/%d loss %.4f", epoch, config.epochs, history[-1]["loss"])
    model.eval()
    del cache

    metrics: dict[str, Any] = {}
    eval_scores: list[float] = []
    threshold = None
    if has_eval:
        # The in-memory model (eager torch). A product that scores with ``Predictor(checkpoint)`` (onnxruntime on
        # the CPU) gets scores ~1e-6 apart: it should evaluate with that predictor (webapp/training/evaluation.py).
        predictor = Predictor.from_model(model, config, device)
        base = _FEATURES_SHARE + train_share

        def on_eval_batch(done: int, total: int) -> None:
            check_stop()
            report("evaluate", config.epochs, done, total, None, base + _EVAL_SHARE * done / total)

        scores, labels, maps, masks = predictor.score_samples(eval_samples, on_batch=on_eval_batch)
        metrics = compute_metrics(scores, labels, maps, masks)
        eval_scores = [float(s) for s in scores]
        threshold = metrics["threshold"]

    check_stop()
    checkpoint_path = Path(out_dir) / "model.pt"
    payload = {
        "config": config.to_dict(),
        "state_dict": trainable_state(model),
        "backbone": {
            "name": model.extractor.name,
            "layers": list(model.extractor.layers),
            "channels": list(model.extractor.channels),
            "weights_source": model.extractor.weights_source,
            "normalisation": model.extractor.normalisation,
        },
        "image_size": config.to_dict()["image_size"],  # an int when square (as before), else [height, width]
        "image_height": config.image_height,
        "image_width": config.image_width,
        "tiling": config.tiling,
        "threshold": threshold,
        "metrics": metrics,
        "train_counts": counts,
        "history": history,
        "format_version": FORMAT_VERSION,
    }
    if model.extractor.weights_source == "random":
        # A random backbone cannot be rebuilt from a weight source: keep it in the checkpoint.
        payload["backbone_state_dict"] = {k: v.cpu() for k, v in model.extractor.state_dict().items()}
    _save_atomic(payload, checkpoint_path)
    final_loss = history[-1]["loss"] if history else None
    report("evaluate" if has_eval else "train", config.epochs, 1, 1, final_loss, 1.0)
    return FitResult(
        checkpoint_path=checkpoint_path,
        history=history,
        device=str(device),
        train_counts=counts,
        seconds=time.perf_counter() - started,
        metrics=metrics,
        eval_scores=eval_scores,
        threshold=threshold,
        config=config,
    )
