"""Perlin masks and feature-space noise behave as the paper describes."""

import torch

from ml.anomaly_generator import AnomalyGenerator, perlin_2d, perlin_mask


def test_perlin_noise_is_smooth_and_bounded():
    g = torch.Generator().manual_seed(0)
    noise = perlin_2d((64, 64), (4, 4), g)
    assert noise.shape == (64, 64)
    assert noise.abs().max() <= 1.5
    assert noise.std() > 0.1
    # neighbouring pixels are strongly correlated (it is a smooth field, not white noise)
    assert torch.corrcoef(torch.stack((noise[:, :-1].flatten(), noise[:, 1:].flatten())))[0, 1] > 0.9


def test_perlin_mask_is_binary_and_threshold_controls_its_area():
    g = torch.Generator().manual_seed(1)
    low = torch.stack([perlin_mask((32, 32), 0.2, g) for _ in range(40)])
    high = torch.stack([perlin_mask((32, 32), 0.6, g) for _ in range(40)])
    assert set(low.unique().tolist()) <= {0.0, 1.0}
    assert low.mean() > high.mean() > 0
    assert perlin_mask((20, 12), 0.5, g).shape == (20, 12)


def test_generator_duplicates_batch_and_empties_about_half_of_the_masks():
    gen = AnomalyGenerator(noise_std=0.015, perlin_thr=0.2)
    g = torch.Generator().manual_seed(2)
    features = torch.zeros(100, 4, 16, 16)
    out, masks, labels = gen(features, torch.zeros(100, 1, 16, 16), torch.zeros(100), g)
    assert out.shape == (200, 4, 16, 16) and masks.shape == (200, 1, 16, 16) and labels.shape == (200,)
    empty = (masks.flatten(1).sum(1) == 0).float().mean().item()
    assert 0.35 < empty < 0.65
    # label = any(mask); noise only where the mask is 1, with the configured std
    assert torch.equal(labels, (masks.flatten(1).amax(1) > 0).float())
    assert out[masks.expand_as(out) == 0].abs().max() == 0
    assert abs(out[masks.expand_as(out) == 1].std().item() - 0.015) < 0.002


def test_supervised_noise_never_overlaps_a_real_defect_and_keeps_its_label():
    gen = AnomalyGenerator(perlin_thr=0.0, supervised=True)
    g = torch.Generator().manual_seed(3)
    gt = torch.zeros(8, 1, 16, 16)
    gt[:, :, 4:8, 4:8] = 1
    features = torch.zeros(8, 4, 16, 16)
    out, masks, labels = gen(features, gt, torch.ones(8), g)
    defect = torch.cat((gt, gt)).bool().expand_as(out)
    assert out[defect].abs().max() == 0
    assert masks[:, :, 4:8, 4:8].min() == 1  # union keeps the real defect
    assert labels.min() == 1


def test_unsupervised_masks_are_the_union_with_ground_truth():
    gen = AnomalyGenerator(perlin_thr=0.2)
    gt = torch.zeros(2, 1, 8, 8)
    gt[0, 0, 0, 0] = 1
    _, masks, labels = gen(torch.zeros(2, 3, 8, 8), gt, torch.tensor([1.0, 0.0]), torch.Generator().manual_seed(0))
    assert masks[0, 0, 0, 0] == 1 and masks[2, 0, 0, 0] == 1
    assert labels[0] == 1 and labels[2] == 1
