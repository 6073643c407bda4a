"""SuperSimpleNet modules (Rolih, Fučka, Skočaj, ICPR 2024), written from the paper's description.

Shapes below are for the paper's setting (wide_resnet50_2 layer2 + layer3, 256 x 256 input): C = 1536,
feature map 64 x 64. Every channel count is taken from the feature extractor.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ml.anomaly_generator import AnomalyGenerator
from ml.backbones import FeatureExtractor


class InferenceOutput(NamedTuple):
    """``pred_score``: ``B`` image logits; ``anomaly_map``: ``B x 1 x H x W`` blurred logit map at input size;
    ``seg_score``: ``B`` max of the blurred logit map (the paper's "seg" score variant)."""

    pred_score: torch.Tensor
    anomaly_map: torch.Tensor
    seg_score: torch.Tensor


class TrainOutput(NamedTuple):
    map_logits: torch.Tensor
    score_logits: torch.Tensor
    masks: torch.Tensor
    labels: torch.Tensor


class FeatureAggregator(nn.Module):
    """Upscale every map to ``upscale`` x the shallowest map's size (paper: 2, i.e. stride 4), concatenate,
    3x3 average pooling.

    Optionally standardises each channel with statistics of the training set (``feature_norm``): buffers
    that stay identity until :meth:`set_statistics` is called.
    """

    def __init__(self, channels: int, upscale: int = 2) -> None:
        super().__init__()
        self.upscale = upscale
        self.pool = nn.AvgPool2d(kernel_size=3, stride=1, padding=1)
        self.register_buffer("mean", torch.zeros(1, channels, 1, 1))
        self.register_buffer("inv_std", torch.ones(1, channels, 1, 1))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """list of ``B x C_i x h_i x w_i`` -> ``B x sum(C_i) x u*h_0 x u*w_0`` (u = ``upscale``)."""
        h, w = features[0].shape[-2:]
        size = (self.upscale * h, self.upscale * w)
        # align_corners=True as in the authors' implementation.
        up = [F.interpolate(f.float(), size=size, mode="bilinear", align_corners=True) for f in features]
        x = self.pool(torch.cat(up, dim=1))
        return (x - self.mean) * self.inv_std

    def set_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean.view_as(self.mean))
        self.inv_std.copy_(1.0 / std.clamp_min(1e-6).view_as(self.inv_std))


class FeatureAdaptor(nn.Module):
    """1x1 conv C -> C with bias: ``B x C x H x W`` -> same shape."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class SegmentationHead(nn.Module):
    """1x1 conv C -> 1024, BatchNorm, LeakyReLU(0.2), 1x1 conv 1024 -> 1: ``B x C x H x W`` -> ``B x 1 x H x W``."""

    def __init__(self, channels: int, hidden: int = 1024) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.LeakyReLU(0.2),
            nn.Conv2d(hidden, 1, kernel_size=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ClassificationHead(nn.Module):
    """concat(features, map) -> 5x5 conv -> 128, BN, ReLU -> global max + avg (256) + map max + avg (2) -> logit.

    With ``stop_grad`` the map and its pooled values are detached, so the image loss does not shape the map.
    """

    def __init__(self, channels: int, hidden: int = 128, stop_grad: bool = True) -> None:
        super().__init__()
        self.stop_grad = stop_grad
        self.block = nn.Sequential(
            nn.Conv2d(channels + 1, hidden, kernel_size=5, padding=2, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
        )
        self.fc = nn.Linear(2 * hidden + 2, 1)

    def forward(self, features: torch.Tensor, map_logits: torch.Tensor) -> torch.Tensor:
        """features ``B x C x H x W``, map ``B x 1 x H x W`` -> ``B`` image logits."""
        if self.stop_grad:
            map_logits = map_logits.detach()
        x = self.block(torch.cat((features, map_logits), dim=1))
        pooled = torch.cat(
            (
                x.amax(dim=(2, 3)),
                x.mean(dim=(2, 3)),
                map_logits.amax(dim=(2, 3)),
                map_logits.mean(dim=(2, 3)),
            ),
            dim=1,
        )
        return self.fc(pooled.float()).squeeze(1)


class AnomalyMapGenerator(nn.Module):
    """Bilinear upsampling to the input size, then Gaussian blur (sigma 4, kernel 25 x 25)."""

    def __init__(self, sigma: float = 4.0, kernel_size: int = 25) -> None:
        super().__init__()
        coords = torch.arange(kernel_size, dtype=torch.float32) - kernel_size // 2
        g = torch.exp(-(coords**2) / (2 * sigma**2))
        g = g / g.sum()
        self.register_buffer("kernel_y", g.view(1, 1, kernel_size, 1), persistent=False)
        self.register_buffer("kernel_x", g.view(1, 1, 1, kernel_size), persistent=False)
        self.pad = kernel_size // 2

    def forward(self, map_logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = F.interpolate(map_logits.float(), size=size, mode="bilinear", align_corners=False)
        # Separable blur with reflect padding: same result as a 25x25 kernel, a fraction of the work.
        x = F.conv2d(F.pad(x, (0, 0, self.pad, self.pad), mode="reflect"), self.kernel_y)
        return F.conv2d(F.pad(x, (self.pad, self.pad, 0, 0), mode="reflect"), self.kernel_x)


def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class Supersimplenet(nn.Module):
    """Frozen extractor + trainable adaptor and heads.

    ``forward(images)`` runs the whole network; training code that caches backbone features calls
    :meth:`forward_features` with the extractor's outputs instead.
    """

    def __init__(
        self,
        extractor: FeatureExtractor,
        stop_grad: bool = True,
        noise_std: float = 0.015,
        perlin_thr: float = 0.2,
        supervised: bool = False,
        upscale: int = 2,
    ) -> None:
        super().__init__()
        self.extractor = extractor
        channels = sum(extractor.channels)
        self.aggregator = FeatureAggregator(channels, upscale)
        self.adaptor = FeatureAdaptor(channels)
        self.segmentation = SegmentationHead(channels)
        self.classification = ClassificationHead(channels, stop_grad=stop_grad)
        self.anomaly_generator = AnomalyGenerator(noise_std, perlin_thr, supervised)
        self.map_generator = AnomalyMapGenerator()
        _init_weights(self.adaptor)
        _init_weights(self.segmentation)
        _init_weights(self.classification)

    @property
    def channels(self) -> int:
        return sum(self.extractor.channels)

    def feature_size(self, image_size: int | tuple[int, int]) -> int | tuple[int, int]:
        """Size of the aggregated feature map (and of the training masks): a side for an int (square) input,
        ``(h, w)`` for an ``(H, W)`` input."""
        if isinstance(image_size, int):
            return self.aggregator.upscale * image_size // self.extractor.strides[0]
        return tuple(self.aggregator.upscale * side // self.extractor.strides[0] for side in image_size)

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def forward(self, images: torch.Tensor) -> InferenceOutput:
        """images ``B x 3 x H x W`` in [0, 1] -> :class:`InferenceOutput` (inference only)."""
        with torch.no_grad():
            features = self.extractor(images)
        return self.forward_features(features, output_size=tuple(images.shape[-2:]))

    def forward_features(
        self,
        features: list[torch.Tensor],
        masks: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_size: tuple[int, int] | None = None,
        generator: torch.Generator | None = None,
        crop: tuple[int, int, list[tuple[int, int]]] | None = None,
    ) -> InferenceOutput | TrainOutput:
        """In training mode (``self.training``) perturbs the adapted features and returns a
        :class:`TrainOutput` at feature resolution with the duplicated masks and labels; otherwise returns
        an :class:`InferenceOutput` whose map is at ``output_size``. ``crop`` = ``(height, width, corners)``
        (training only, cells of the aggregated map, one ``(top, left)`` per sample) keeps that window of every
        sample's features and mask."""
        aggregated = self.aggregator(features)
        if crop is not None:
            assert self.training and masks is not None, "crops are for training"
            height, width, corners = crop
            windows = [
                (i, slice(top, top + height), slice(left, left + width)) for i, (top, left) in enumerate(corners)
            ]
            aggregated = torch.stack([aggregated[i, :, rows, cols] for i, rows, cols in windows])
            masks = torch.stack([masks[i, :, rows, cols] for i, rows, cols in windows])
        adapted = self.adaptor(aggregated)
        if self.training:
            assert masks is not None and labels is not None, "training needs masks and labels"
            adapted, masks, labels = self.anomaly_generator(adapted, masks, labels, generator)
        map_logits = self.segmentation(adapted)
        score_logits = self.classification(adapted, map_logits)
        if self.training:
            return TrainOutput(map_logits, score_logits, masks, labels)
        size = output_size or tuple(
            s * self.extractor.strides[0] // self.aggregator.upscale for s in map_logits.shape[-2:]
        )
        anomaly_map = self.map_generator(map_logits, size)
        return InferenceOutput(score_logits.float(), anomaly_map, anomaly_map.amax(dim=(1, 2, 3)))
