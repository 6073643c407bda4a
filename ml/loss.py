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
    ) -> torch.Tensor:
        """Args:
        map_logits: ``N x 1 x H x W``; score_logits: ``N``; masks: ``N x 1 x H x W`` in {0, 1};
        labels: ``N``; pixel_valid: ``N`` bool, False where the sample's mask is unknown.
        """
        if pixel_valid is not None:
            map_logits = map_logits[pixel_valid]
            masks = masks[pixel_valid]
        pixel = truncated_l1(map_logits, masks, self.margin) + focal_loss(map_logits, masks, self.gamma)
        image = focal_loss(score_logits, labels, self.gamma)
        return pixel + image
