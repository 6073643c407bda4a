"""SuperSimpleNet loss: truncated L1 + focal loss on the anomaly map, focal loss on the image score."""

from __future__ import annotations

import torch
from torch import nn


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 4.0) -> torch.Tensor:
    """Binary focal loss (no alpha) averaged over all elements; 0 for empty input."""
    if logits.numel() == 0:
        return logits.sum() * 0
    logits = logits.float()
    targets = targets.float()
    p = torch.sigmoid(logits)
    ce = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    return ((1 - p_t) ** gamma * ce).mean()


def truncated_l1(logits: torch.Tensor, targets: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """``mean(clamp(l[normal] + m, 0)) + mean(clamp(-l[anomalous] + m, 0))``; an empty side contributes 0."""
    logits = logits.float()
    normal = logits[targets < 0.5]
    anomalous = logits[targets >= 0.5]
    loss = logits.sum() * 0
    if normal.numel():
        loss = loss + torch.clamp(normal + margin, min=0).mean()
    if anomalous.numel():
        loss = loss + torch.clamp(-anomalous + margin, min=0).mean()
    return loss


class SupersimplenetLoss(nn.Module):
    """Sum of truncated L1 (map), focal (map) and focal (score), all weighted 1.

    Pixels of samples whose mask is unknown (weak labels: defective image without a mask) are left out of
    the two map terms; their image label still trains the score.

    Tiles of a weak image in tiled mode (``bags``: the same id >= 0 for one image's tiles, see ``ml.tiling``) are
    one defective image together, not each: the score term sees each bag once, through the largest score of
    its tiles (the tiled inference rule), so the tile that holds the defect is pushed up and the others are
    left alone. A tile of a bag that synthetic noise made defective is also a known defective sample of its own.
    """

    def __init__(self, margin: float = 0.5, gamma: float = 4.0) -> None:
        super().__init__()
        self.margin = margin
        self.gamma = gamma

    def forward(
        self,
        map_logits: torch.Tensor,
        score_logits: torch.Tensor,
        masks: torch.Tensor,
        labels: torch.Tensor,
        pixel_valid: torch.Tensor | None = None,
        bags: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Args:
        map_logits: ``N x 1 x H x W``; score_logits: ``N``; masks: ``N x 1 x H x W`` in {0, 1};
        labels: ``N``; pixel_valid: ``N`` bool, False where the sample's mask is unknown;
        bags: ``N`` long, the bag of each sample or -1 (None: no bag).
        """
        score_logits, labels = image_terms(score_logits, labels, masks, bags)
        if pixel_valid is not None:
            map_logits = map_logits[pixel_valid]
            masks = masks[pixel_valid]
        pixel = truncated_l1(map_logits, masks, self.margin) + focal_loss(map_logits, masks, self.gamma)
        image = focal_loss(score_logits, labels, self.gamma)
        return pixel + image


def image_terms(
    score_logits: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor, bags: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (logit, label) pairs of the score loss: one per sample outside a bag (and per bag tile with a known
    defect, i.e. a defect pixel in ``masks``), plus one per bag, its tiles' largest logit, labelled defective."""
    if bags is None or not bool((bags >= 0).any()):
        return score_logits, labels
    in_bag = bags >= 0
    single = ~in_bag | (masks.flatten(1).amax(dim=1) > 0)
    ids, which = torch.unique(bags[in_bag], return_inverse=True)
    tile_logits = score_logits[in_bag].float()
    bag_logits = torch.full((len(ids),), float("-inf"), device=tile_logits.device)
    bag_logits = bag_logits.scatter_reduce(0, which, tile_logits, reduce="amax")
    logits = torch.cat((score_logits[single].float(), bag_logits))
    targets = torch.cat((labels[single].float(), torch.ones_like(bag_logits)))
    return logits, targets
