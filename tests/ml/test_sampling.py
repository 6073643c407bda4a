"""Epoch composition (ml/sampling.py): the authors' supervised epoch, the balanced one, inverse-frequency draws."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from ml.config import TrainConfig
from ml.data import AUGMENTATIONS, Sample
from ml.sampling import EpochSampler, epoch_order
from ml.train import training_entries


class FakeCache:
    def __init__(self, entries):
        self.entries = entries
        self.bags = torch.full((len(entries),), -1)  # no tiled bags here (tests/ml/test_weak_tiles.py has them)

    def __len__(self):
        return len(self.entries)


def make(n_good: int, n_bad: int, preset: str = "paper", **overrides):
    samples = [Sample(f"g{i}.png", 0) for i in range(n_good)] + [Sample(f"d{i}.png", 1, None) for i in range(n_bad)]
    config = TrainConfig.from_preset(preset, mode="supervised", **overrides)
    return config, FakeCache(training_entries(config, samples)), samples


def test_paper_preset_uses_the_authors_epoch():
    assert TrainConfig.from_preset("paper", mode="supervised").supervised_epoch == "authors"
    assert TrainConfig().supervised_epoch == "authors"
    with pytest.raises(ValueError, match="supervised_epoch"):
        TrainConfig(supervised_epoch="long")


def test_authors_epoch_is_every_defect_in_four_orientations_plus_as_many_good():
    config, cache, samples = make(n_good=50, n_bad=5)
    order = epoch_order(config, cache, samples, torch.Generator().manual_seed(0))
    entries = [cache.entries[i] for i in order]
    defective = [e for e in entries if samples[e.sample_index].label == 1]
    good = [e for e in entries if samples[e.sample_index].label == 0]
    assert len(order) == 8 * 5
    # every (defective image, orientation) pair exactly once
    assert Counter((e.sample_index, e.augmentation) for e in defective) == Counter(
        (50 + d, aug) for d in range(5) for aug in AUGMENTATIONS
    )
    # 4 x D good images, no repeat while unused good images remain
    assert len(good) == 20 and len({e.sample_index for e in good}) == 20
    # shuffled: not all defects first
    labels = [samples[e.sample_index].label for e in entries]
    assert labels != sorted(labels) and labels != sorted(labels, reverse=True)


def test_inverse_frequency_sampling_visits_good_images_evenly_over_epochs():
    config, cache, samples = make(n_good=30, n_bad=2)  # 8 good draws per epoch, 30 good images
    sampler = EpochSampler(config, cache, samples)
    generator = torch.Generator().manual_seed(1)
    counts: Counter = Counter()
    for _ in range(15):  # 120 good draws: each of the 30 images exactly 4 times
        counts.update(
            cache.entries[i].sample_index
            for i in sampler.epoch(generator)
            if samples[cache.entries[i].sample_index].label == 0
        )
    assert set(counts) == set(range(30)) and set(counts.values()) == {4}


def test_more_good_draws_than_good_images_repeats_them_evenly():
    config, cache, samples = make(n_good=3, n_bad=4)  # 16 good draws from 3 images
    order = epoch_order(config, cache, samples, torch.Generator().manual_seed(2))
    good = Counter(cache.entries[i].sample_index for i in order if samples[cache.entries[i].sample_index].label == 0)
    assert sum(good.values()) == 16 and max(good.values()) - min(good.values()) <= 1


def test_balanced_epoch_is_each_defect_once_plus_as_many_good():
    config, cache, samples = make(n_good=50, n_bad=5, supervised_epoch="balanced")
    order = epoch_order(config, cache, samples, torch.Generator().manual_seed(3))
    defective = [cache.entries[i].sample_index for i in order if samples[cache.entries[i].sample_index].label == 1]
    assert len(order) == 10 and sorted(defective) == list(range(50, 55))


def test_fast_balanced_epoch_is_stretched_to_the_good_images():
    config, cache, samples = make(n_good=40, n_bad=3, preset="fast", supervised_epoch="balanced")
    order = epoch_order(config, cache, samples, torch.Generator().manual_seed(4))
    assert len(order) == 40  # 20 defective draws + 20 good


def test_unsupervised_epoch_is_every_entry_once():
    samples = [Sample(f"g{i}.png", 0) for i in range(7)]
    config = TrainConfig.from_preset("fast", mode="unsupervised")
    cache = FakeCache(training_entries(config, samples))
    assert sorted(epoch_order(config, cache, samples, torch.Generator().manual_seed(5))) == list(range(7))


def test_fast_authors_epoch_adds_rounds_of_defects_for_a_handful_of_them():
    config, cache, samples = make(n_good=40, n_bad=2, preset="fast")
    assert config.supervised_epoch == "authors"
    order = epoch_order(config, cache, samples, torch.Generator().manual_seed(6))
    defective = Counter(
        (cache.entries[i].sample_index, cache.entries[i].augmentation)
        for i in order
        if samples[cache.entries[i].sample_index].label == 1
    )
    # 8 defective entries, 20 draws: every entry at least twice, none more than three times
    assert sum(defective.values()) == 20 and len(defective) == 8 and set(defective.values()) <= {2, 3}
    assert len(order) == 40
