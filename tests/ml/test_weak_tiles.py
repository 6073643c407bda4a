"""Defective images without a mask in tiled mode: each image's tiles are a bag trained through its worst tile."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import ml.loss
from ml.config import TrainConfig
from ml.data import FeatureCache, Sample
from ml.loss import SupersimplenetLoss, focal_loss, image_terms
from ml.sampling import EpochSampler
from ml.tiling import TileGrid, tile_samples
from ml.train import fit, training_entries


def test_a_bag_trains_through_its_largest_tile_and_its_other_tiles_are_left_alone():
    scores = torch.tensor([-2.0, 1.0, -3.0, -1.0, 0.5], requires_grad=True)  # 4 tiles of one weak image, 1 good
    labels = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0])
    masks = torch.zeros(5, 1, 4, 4)
    bags = torch.tensor([0, 0, 0, 0, -1])
    loss = SupersimplenetLoss()(
        torch.zeros(5, 1, 4, 4), scores, masks, labels, torch.tensor([False] * 4 + [True]), bags
    )
    loss.backward()
    assert scores.grad[1] < 0  # the worst tile is pushed up
    assert scores.grad[[0, 2, 3]].abs().sum() == 0  # the tiles that may well be good are not taught "defective"
    assert scores.grad[4] > 0  # the good tile is pushed down
    # The image counts once: the score term is over (good tile, bag), not over five tiles.
    pixel = SupersimplenetLoss()(torch.zeros(1, 1, 4, 4), torch.zeros(0), masks[4:], labels[4:0])
    expected = focal_loss(torch.tensor([0.5, 1.0]), torch.tensor([0.0, 1.0]))
    assert loss.item() == pytest.approx((pixel + expected).item(), rel=1e-6)


def test_a_bag_tile_that_synthetic_noise_made_defective_also_counts_on_its_own():
    scores = torch.tensor([0.2, -1.0, 3.0])
    masks = torch.zeros(3, 1, 4, 4)
    masks[1, 0, 1, 1] = 1  # noise painted into the second tile of the bag
    logits, targets = image_terms(scores, torch.ones(3), masks, torch.tensor([7, 7, -1]))
    assert logits.tolist() == pytest.approx([-1.0, 3.0, 0.2]) and targets.tolist() == [1.0, 1.0, 1.0]


def test_two_bags_in_a_batch_are_two_images():
    scores = torch.tensor([0.1, 0.4, -0.5, 0.9])
    logits, targets = image_terms(scores, torch.ones(4), torch.zeros(4, 1, 2, 2), torch.tensor([3, 3, 5, 5]))
    assert sorted(logits.tolist()) == pytest.approx([0.4, 0.9]) and targets.tolist() == [1.0, 1.0]


def test_without_bags_the_loss_is_the_untiled_one():
    torch.manual_seed(0)
    maps, scores = torch.randn(3, 1, 4, 4), torch.randn(3)
    masks, labels = (torch.rand(3, 1, 4, 4) > 0.5).float(), torch.tensor([0.0, 1.0, 1.0])
    plain = SupersimplenetLoss()(maps, scores, masks, labels)
    assert SupersimplenetLoss()(maps, scores, masks, labels, bags=torch.full((3,), -1)).item() == plain.item()


class BagCache:
    """The parts of a FeatureCache the sampler reads."""

    def __init__(self, entries, bags):
        self.entries, self.bags = entries, torch.tensor(bags)

    def __len__(self):
        return len(self.entries)


def _tiles(weak_images: int, good_images: int, grid: TileGrid):
    """Tiles of good and weak images (neither has a mask file to read)."""
    images = [Sample(f"g{i}.png", 0) for i in range(good_images)] + [
        Sample(f"w{i}.png", 1, None) for i in range(weak_images)
    ]
    return tile_samples(images, grid)


def _bag_ids(config, samples):
    """The entries and the bag ids FeatureCache.build gives them (checked against it below)."""
    entries = training_entries(config, samples)
    ids: dict = {}
    bags = []
    for entry in entries:
        bag = samples[entry.sample_index].bag
        bags.append(-1 if bag < 0 else ids.setdefault((bag, entry.augmentation), len(ids)))
    return entries, bags


@pytest.mark.parametrize("epoch", ["authors", "balanced"])
def test_an_epoch_keeps_each_bag_whole_and_in_one_batch(epoch):
    grid = TileGrid(2, 2, (32, 32))
    samples = _tiles(weak_images=3, good_images=10, grid=grid)
    config = TrainConfig.from_preset("fast", mode="supervised", supervised_epoch=epoch, batch_size=6)
    entries, bags = _bag_ids(config, samples)
    sampler = EpochSampler(config, BagCache(entries, bags), samples)
    assert len(sampler.defective) == 3  # three defective images, not twelve tiles
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        units = sampler.epoch_units(generator)
        order = [i for unit in units for i in unit]
        batches = sampler.batches(units)
        assert [i for batch in batches for i in batch] == order
        assert {bags[i] for i in order if bags[i] >= 0}  # the defects are in the epoch
        for batch in batches:
            for bag in {bags[i] for i in batch if bags[i] >= 0}:
                tiles = [i for i, b in enumerate(bags) if b == bag]
                in_batch = [i for i in batch if bags[i] == bag]
                # every tile of the bag in this batch (twice if the fast epoch drew it twice into one batch)
                assert sorted(set(in_batch)) == tiles and len(in_batch) % len(tiles) == 0
        assert all(len(b) <= config.batch_size for b in batches[:-1])
        assert len(batches[-1]) <= config.batch_size + 1  # a lone last entry joins the batch before it


def test_batches_close_early_rather_than_cut_a_bag_and_a_bag_larger_than_a_batch_is_one_batch():
    grid = TileGrid(2, 2, (32, 32))
    samples = _tiles(weak_images=1, good_images=2, grid=grid)  # good tiles 0-7, the bag 8-11
    config = TrainConfig.from_preset("fast", mode="supervised", augment_defects=False, batch_size=3)
    entries, bags = _bag_ids(config, samples)
    assert bags == [-1] * 8 + [0] * 4
    sampler = EpochSampler(config, BagCache(entries, bags), samples)
    bag = [8, 9, 10, 11]
    assert sampler.batches([[0], [1], bag, [2], [3], [4]]) == [[0, 1], bag, [2, 3, 4]]
    # a lone last entry joins the batch before it (BatchNorm), even a bag's
    assert sampler.batches([[0], bag, [2]]) == [[0], bag + [2]]
    assert sampler.batches([[i] for i in range(7)]) == [[0, 1, 2], [3, 4, 5, 6]]


def _part(rng, size, pit=None):
    pixels = (rng.random((size, size, 3)) * 30 + 110).astype(np.uint8)
    if pit is not None:
        top, left = pit
        pixels[top : top + 10, left : left + 10] = 10
    return pixels


def test_a_tiled_fit_trains_weak_images_as_bags(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    samples = []
    for i in range(6):
        Image.fromarray(_part(rng, 96)).save(tmp_path / f"g{i}.png")
        samples.append(Sample(str(tmp_path / f"g{i}.png"), 0))
    for i in range(2):
        Image.fromarray(_part(rng, 96, pit=(70, 10 + 30 * i))).save(tmp_path / f"w{i}.png")
        samples.append(Sample(str(tmp_path / f"w{i}.png"), 1, None))
    seen: list[torch.Tensor] = []
    original = ml.loss.image_terms

    def spy(score_logits, labels, masks, bags):
        seen.append(None if bags is None else bags.clone())
        return original(score_logits, labels, masks, bags)

    monkeypatch.setattr(ml.loss, "image_terms", spy)
    config = TrainConfig.from_preset("fast", mode="supervised", image_size=32, tiling="2x2", epochs=2, batch_size=8)
    result = fit(config, samples, tmp_path / "out")
    assert result.train_counts == {"good": 6, "defective": 2, "masks": 0}
    assert np.isfinite([h["loss"] for h in result.history]).all()
    with_bags = [b for b in seen if b is not None]
    assert with_bags, "the weak images never reached the loss"
    for bags in with_bags:
        half = len(bags) // 2
        clean, perturbed = bags[:half], bags[half:]
        for bag in clean[clean >= 0].unique():
            assert int((clean == bag).sum()) % 4 == 0  # all four tiles of the image (a repeated bag: twice that)
        # the perturbed copies form bags of their own, never mixed with the clean ones
        assert not set(clean[clean >= 0].tolist()) & set(perturbed[perturbed >= 0].tolist())


def test_the_cache_gives_one_bag_per_weak_image_and_orientation(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(_part(rng, 64)).save(tmp_path / "g.png")
    Image.fromarray(_part(rng, 64, pit=(5, 5))).save(tmp_path / "w.png")
    grid = TileGrid(2, 2, (32, 32), 0.0)
    samples = tile_samples([Sample(str(tmp_path / "g.png"), 0), Sample(str(tmp_path / "w.png"), 1, None)], grid)
    config = TrainConfig.from_preset("fast", mode="supervised")
    entries = training_entries(config, samples)

    def extractor(images):
        return [images[:, :, ::8, ::8]]

    cache = FeatureCache.build(extractor, samples, entries, (32, 32), (4, 4), torch.device("cpu"))
    bags = cache.bags.tolist()
    assert bags[:4] == [-1] * 4  # the good image's tiles
    groups = {}
    for i, entry in enumerate(entries[4:], start=4):
        groups.setdefault(bags[i], set()).add(entry.augmentation)
    assert len(groups) == 4 and all(len(augs) == 1 for augs in groups.values())  # none / vflip / hflip / rot180
    assert all(bags.count(b) == 4 for b in groups)
    assert not cache.pixel_valid[4:].any() and cache.labels[4:].eq(1).all()
    assert cache.bags_of([0, 1], torch.device("cpu")) is None
    assert cache.bags_of([0, 4], torch.device("cpu")).tolist() == [-1, bags[4]]
