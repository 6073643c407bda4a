"""Backbone features for the training cache: onnxruntime on the CPU, the torch module elsewhere.

The backbone is frozen, so the features ``fit`` caches are a pure function of the images. On the project's CPUs
eager PyTorch runs EfficientNet-Lite's depthwise convolutions slowly (and slower per image in larger batches at
high resolution); the same extractor exported to ONNX and run by onnxruntime is several times faster
(``benchmarks/ml_training.py`` prints both). The cache stores float16, far coarser than the two backends'
~1e-5 difference, so both give the same training.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ml.predict import _has_onnxruntime, onnx_bytes, onnx_cpu_session

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime")
# ``auto`` exports only when the work pays for the export (1-3 s): at least this many images' worth of 256 x 256.
AUTO_MIN_PIXELS = 32 * 256 * 256
Runner = Callable[[torch.Tensor], list[torch.Tensor]]


def _session(extractor: nn.Module, size: tuple[int, int]):
    levels = len(getattr(extractor, "layers", ())) or 1
    names = [f"level{i}" for i in range(levels)]
    return onnx_cpu_session(
        onnx_bytes(_Levels(extractor).eval(), size, output_names=names, example=torch.rand(1, 3, *size))
    )


class _Levels(nn.Module):
    """The extractor with a tuple output (what ONNX export needs)."""

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.extractor(images))


def feature_runner(
    extractor: nn.Module, size: tuple[int, int], device: torch.device, images: int = 1, backend: str = "auto"
) -> tuple[Runner, str]:
    """A function ``images (B x 3 x H x W, on device) -> [level features]`` and the backend it uses.

    ``auto``: onnxruntime when the device is the CPU, onnxruntime is installed and ``images`` at ``size`` are
    worth the export (:data:`AUTO_MIN_PIXELS`), else torch.
    """
    if backend not in BACKENDS:
        raise ValueError(f"feature backend must be one of {BACKENDS}, got {backend!r}")
    worth = images * size[0] * size[1] >= AUTO_MIN_PIXELS
    use_ort = backend == "onnxruntime" or (backend == "auto" and worth and device.type == "cpu" and _has_onnxruntime())

    def by_torch(images: torch.Tensor) -> list[torch.Tensor]:
        return list(extractor(images))

    if not use_ort:
        return by_torch, "torch"
    if device.type != "cpu":
        raise ValueError("the onnxruntime feature backend runs on the CPU")
    try:
        session = _session(extractor, size)
    except Exception:  # noqa: BLE001 - a backbone the exporter cannot handle still trains, on torch
        if backend == "onnxruntime":
            raise
        logger.warning("ONNX export of the feature extractor failed; features by torch", exc_info=True)
        return by_torch, "torch"

    def run(images: torch.Tensor) -> list[torch.Tensor]:
        outputs = session.run(None, {"images": np.ascontiguousarray(images.numpy(), dtype=np.float32)})
        return [torch.from_numpy(out) for out in outputs]

    return run, "onnxruntime"
