"""Loss values on hand-made tensors, and the weak-label rule (no mask -> no pixel loss)."""

import math

import pytest
import torch

from ml.loss import SupersimplenetLoss, focal_loss, truncated_l1


def test_truncated_l1_on_known_values():
    logits = torch.tensor([-1.0, 0.0, 1.0, 2.0])
    targets = torch.tensor([0.0, 0.0, 1.0, 1.0])
    # normal: clamp(-1 + .5, 0) = 0, clamp(0 + .5, 0) = .5 -> mean .25; anomalous: clamp(-1 + .5) = 0, 0 -> 0
    assert truncated_l1(logits, targets).item() == pytest.approx(0.25)
    # only normal pixels: the anomalous term is left out, not NaN
    assert truncated_l1(torch.tensor([0.5]), torch.tensor([0.0])).item() == pytest.approx(1.0)


def test_focal_loss_matches_the_formula():
    logits = torch.tensor([0.0, 2.0])
    targets = torch.tensor([1.0, 0.0])
    p = torch.sigmoid(logits)
    expected = [(1 - 0.5) ** 4 * math.log(2), p[1].item() ** 4 * -math.log(1 - p[1].item())]
    assert focal_loss(logits, targets, gamma=4).item() == pytest.approx(sum(expected) / 2, rel=1e-5)


def test_focal_loss_is_small_for_confident_correct_predictions():
    assert focal_loss(torch.tensor([8.0, -8.0]), torch.tensor([1.0, 0.0])).item() < 1e-9
    assert focal_loss(torch.tensor([-8.0]), torch.tensor([1.0])).item() > 5


def test_total_loss_is_the_sum_of_its_three_terms():
    torch.manual_seed(0)
    maps = torch.randn(2, 1, 4, 4)
    scores = torch.randn(2)
    masks = (torch.rand(2, 1, 4, 4) > 0.7).float()
    labels = torch.tensor([0.0, 1.0])
    total = SupersimplenetLoss()(maps, scores, masks, labels)
    expected = truncated_l1(maps, masks) + focal_loss(maps, masks) + focal_loss(scores, labels)
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)


def test_weakly_labelled_sample_trains_only_the_image_score():
    maps = torch.zeros(2, 1, 4, 4, requires_grad=True)
    scores = torch.zeros(2, requires_grad=True)
    masks = torch.zeros(2, 1, 4, 4)
    labels = torch.tensor([0.0, 1.0])
    pixel_valid = torch.tensor([True, False])  # second image: defective, mask unknown
    SupersimplenetLoss()(maps, scores, masks, labels, pixel_valid).backward()
    assert maps.grad[1].abs().sum() == 0
    assert maps.grad[0].abs().sum() > 0
    assert scores.grad[1] != 0


def test_loss_ignores_the_map_of_a_weak_sample_whatever_it_says():
    scores = torch.tensor([0.0, 0.0])
    masks = torch.zeros(2, 1, 4, 4)
    labels = torch.tensor([0.0, 1.0])
    valid = torch.tensor([True, False])
    loss = SupersimplenetLoss()
    quiet = torch.full((2, 1, 4, 4), -2.0)
    loud = quiet.clone()
    loud[1] = 5.0
    assert loss(quiet, scores, masks, labels, valid).item() == pytest.approx(
        loss(loud, scores, masks, labels, valid).item()
    )
