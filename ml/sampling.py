"""Which cached entries an epoch visits, and in which order.

- Unsupervised (or no defective image): every entry once, shuffled.
- Supervised, ``supervised_epoch="authors"`` (the authors' data loader; ``paper`` and ``fast`` presets): every
  defective image in each of its orientations (none / vflip / hflip / rot180: 4 x D entries), plus as many good
  images (4 x D) drawn by inverse-frequency sampling: 8 x D draws per epoch. The ``fast`` preset adds rounds of
  the defective entries while 4 x D is below half the good images (a handful of defects still gets steps).
- Supervised, ``supervised_epoch="balanced"`` (the project's earlier schedule): each defective image once in one
  random orientation, plus as many good images: 2 x D; the ``fast`` preset stretches it to at least the number
  of good images so that a project with a handful of defects still gets enough optimiser steps.

In tiled mode the tiles of a defective image without a mask form a bag (``ml.tiling``): the sampler treats the
bag of one orientation as one defective entry, keeps its tiles next to each other in the order, and
:meth:`EpochSampler.batches` never splits them across batches (the bag's loss needs all of them).

Inverse-frequency sampling of good images (as the authors' loader, after Bozic et al., "Mixed supervision for
surface-defect detection"): the images drawn least often so far (counted over the whole fit) go first, ties at
random, so the good images are visited evenly even when one epoch draws fewer good images than there are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ml.config import SUPERVISED_EPOCHS, TrainConfig
from ml.data import FeatureCache, Sample

__all__ = ["SUPERVISED_EPOCHS", "EpochSampler", "epoch_order"]


class EpochSampler:
    """Draws the cache indices of successive epochs; keeps the good images' draw counts between epochs."""

    def __init__(self, config: TrainConfig, cache: FeatureCache, samples: Sequence[Sample]) -> None:
        self.config = config
        self.size = len(cache)
        self.bags = cache.bags.tolist()
        self.good = [i for i, e in enumerate(cache.entries) if samples[e.sample_index].label == 0]
        # A defective image -> its units (one per orientation), a unit being its entry or its bag's entries.
        units: dict[tuple[str, int], dict[int, list[int]]] = {}
        for i, e in enumerate(cache.entries):
            sample = samples[e.sample_index]
            if sample.label != 1:
                continue
            if self.bags[i] >= 0:
                units.setdefault(("bag", sample.bag), {}).setdefault(self.bags[i], []).append(i)
            else:
                units.setdefault(("image", e.sample_index), {})[i] = [i]
        self.by_sample = {key: list(options.values()) for key, options in units.items()}
        self.defective = sorted(self.by_sample)
        self.drawn = torch.zeros(len(self.good), dtype=torch.float64)

    @property
    def supervised(self) -> bool:
        return self.config.mode == "supervised" and bool(self.defective)

    def batches(self, units: Sequence[Sequence[int]]) -> list[list[int]]:
        """An epoch's units (:meth:`epoch_units`) packed into batches of ``config.batch_size`` entries without
        splitting a unit: a batch that would cut a bag closes early, a bag larger than a batch is a batch of its
        own. A lone last entry joins the batch before it: BatchNorm cannot train on a single sample."""
        out: list[list[int]] = []
        for unit in units:
            if not out or len(out[-1]) + len(unit) > self.config.batch_size:
                out.append([])
            out[-1].extend(unit)
        if len(out) > 1 and len(out[-1]) == 1:
            out[-2].extend(out.pop())
        return out

    def draw_good(self, count: int, generator: torch.Generator) -> list[int]:
        """``count`` good entries, least-drawn first (ties broken at random): over the fit every good image is
        drawn ``k`` or ``k + 1`` times, never one image twice while another waits."""
        picks: list[int] = []
        while count > 0 and self.good:
            take = min(count, len(self.good))
            keys = self.drawn + torch.rand(len(self.good), generator=generator, dtype=torch.float64)
            chosen = keys.argsort()[:take]
            self.drawn[chosen] += 1
            picks.extend(self.good[int(i)] for i in chosen)
            count -= take
        return picks

    def epoch(self, generator: torch.Generator) -> list[int]:
        """One epoch's cache indices, in order."""
        return [i for unit in self.epoch_units(generator) for i in unit]

    def epoch_units(self, generator: torch.Generator) -> list[list[int]]:
        """One epoch in units: an entry, or the entries of a bag (one weak image's tiles, ``ml.tiling``)."""
        if not self.supervised:
            return [[i] for i in torch.randperm(self.size, generator=generator).tolist()]
        if self.config.supervised_epoch == "authors":
            positives = [unit for sample in self.defective for unit in self.by_sample[sample]]
            if self.config.preset == "fast":
                # A project with a handful of defects: whole extra rounds of them (then a random part of one
                # round) until half the epoch covers the good images, as the balanced fast epoch does.
                wanted = math.ceil(len(self.good) / 2)
                one_round = list(positives)
                while len(positives) < wanted:
                    extra = torch.randperm(len(one_round), generator=generator).tolist()
                    positives.extend(one_round[i] for i in extra[: wanted - len(positives)])
        else:
            half = len(self.defective)
            if self.config.preset == "fast":
                half = max(half, math.ceil(len(self.good) / 2))
            positives = []
            for k in range(half):
                # Every defective image once, then random ones to fill a stretched epoch.
                if k < len(self.defective):
                    sample = self.defective[k]
                else:
                    sample = self.defective[int(torch.randint(len(self.defective), (1,), generator=generator))]
                options = self.by_sample[sample]
                positives.append(options[int(torch.randint(len(options), (1,), generator=generator))])
        picks = positives + [[i] for i in self.draw_good(len(positives), generator)]
        order = torch.randperm(len(picks), generator=generator).tolist()
        return [picks[k] for k in order]


def epoch_order(
    config: TrainConfig, cache: FeatureCache, samples: Sequence[Sample], generator: torch.Generator
) -> list[int]:
    """One epoch's cache indices from a fresh sampler (no draw counts carried over)."""
    return EpochSampler(config, cache, samples).epoch(generator)
