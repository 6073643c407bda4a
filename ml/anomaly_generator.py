"""Synthetic anomalies in feature space: Gaussian noise inside thresholded Perlin-noise masks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def perlin_2d(shape: tuple[int, int], res: tuple[int, int], generator: torch.Generator | None = None) -> torch.Tensor:
    """Gradient (Perlin) noise of ``shape`` with ``res`` lattice periods per axis; values in about [-1, 1].

    ``shape`` must be a multiple of ``res`` on each axis.
    """
    h, w = shape
    ry, rx = res
    angles = 2 * math.pi * torch.rand(ry + 1, rx + 1, generator=generator)
    gradients = torch.stack((torch.cos(angles), torch.sin(angles)), dim=-1)
    ys = torch.arange(h, dtype=torch.float32) * ry / h
    xs = torch.arange(w, dtype=torch.float32) * rx / w
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    cell_y, cell_x = gy.floor().long(), gx.floor().long()
    fy, fx = gy - cell_y, gx - cell_x

    def corner(dy: int, dx: int) -> torch.Tensor:
        g = gradients[cell_y + dy, cell_x + dx]
        return g[..., 0] * (fy - dy) + g[..., 1] * (fx - dx)

    def fade(t: torch.Tensor) -> torch.Tensor:
        return 6 * t**5 - 15 * t**4 + 10 * t**3

    uy, ux = fade(fy), fade(fx)
    top = torch.lerp(corner(0, 0), corner(0, 1), ux)
    bottom = torch.lerp(corner(1, 0), corner(1, 1), ux)
    return math.sqrt(2) * torch.lerp(top, bottom, uy)


def perlin_mask(
    size: tuple[int, int], threshold: float, generator: torch.Generator | None = None, max_scale_exp: int = 6
) -> torch.Tensor:
    """Binary ``H x W`` mask: Perlin noise at the next power of two above each side of ``size`` (a square
    feature map gets a square noise field, a strip a strip, so blobs are not squeezed), random scales
    2^0..2^5 per axis, resized to ``size`` and thresholded."""
    shape = tuple(2 ** math.ceil(math.log2(max(1, side))) for side in size)
    sy, sx = (int(v) for v in torch.randint(0, max_scale_exp, (2,), generator=generator))
    noise = perlin_2d(shape, (2**sy, 2**sx), generator)
    noise = F.interpolate(noise[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    return (noise > threshold).float()


class AnomalyGenerator(nn.Module):
    """Adds N(0, noise_std) to features where a Perlin mask is 1 (training only).

    The batch is duplicated first (``B -> 2B``) so every image is seen clean and perturbed; each copy's
    Perlin mask is emptied with probability 0.5 so the head also sees untouched copies labelled normal.
    """

    def __init__(self, noise_std: float = 0.015, perlin_thr: float = 0.2, supervised: bool = False) -> None:
        super().__init__()
        self.noise_std = noise_std
        self.perlin_thr = perlin_thr
        self.supervised = supervised

    def forward(
        self,
        features: torch.Tensor,
        masks: torch.Tensor,
        labels: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Args:
            features: ``B x C x H x W`` adapted features.
            masks: ``B x 1 x H x W`` binary ground-truth masks at feature size.
            labels: ``B`` image labels (0 good, 1 defective).

        Returns:
            features ``2B x C x H x W``, masks ``2B x 1 x H x W``, labels ``2B``.
        """
        features = torch.cat((features, features))
        masks = torch.cat((masks, masks))
        labels = torch.cat((labels, labels))
        b, c, h, w = features.shape
        noise_masks = torch.stack([perlin_mask((h, w), self.perlin_thr, generator) for _ in range(b)])[:, None]
        keep = (torch.rand(b, generator=generator) < 0.5).float().view(b, 1, 1, 1)
        noise_masks = (noise_masks * keep).to(features.device)
        if self.supervised:
            # Never paint synthetic noise over a real defect: its pixels keep their true appearance.
            noise_masks = noise_masks * (1 - masks)
        if features.is_cuda:
            # Drawing the noise on the host would cost seconds and a GB-sized copy per step at paper scale;
            # the CUDA generator is seeded by seed_everything.
            noise = torch.randn_like(features)
        else:
            noise = torch.randn(features.shape, generator=generator, dtype=features.dtype)
        features = features + noise * self.noise_std * noise_masks.to(features.dtype)
        masks = torch.maximum(masks, noise_masks)
        labels = torch.maximum(labels, (noise_masks.flatten(1).amax(dim=1) > 0).to(labels.dtype))
        return features, masks, labels
