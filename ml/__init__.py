"""SuperSimpleNet for surface-defect detection: pure PyTorch, no web framework.

Public interface (see docs/ml.md)::

    from ml import TrainConfig, Sample, fit, FitResult, Progress, TrainingCancelled, Predictor, PredictionResult

Names are resolved lazily so that ``import ml`` stays cheap (no torch import, no model construction).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "TrainConfig": "ml.config",
    "Sample": "ml.data",
    "fit": "ml.train",
    "FitResult": "ml.train",
    "Progress": "ml.train",
    "TrainingCancelled": "ml.train",
    "Predictor": "ml.predict",
    "PredictionResult": "ml.predict",
    "BackboneWeightsError": "ml.backbones",
}

__all__ = [
    "BackboneWeightsError",
    "FitResult",
    "PredictionResult",
    "Predictor",
    "Progress",
    "Sample",
    "TrainConfig",
    "TrainingCancelled",
    "fit",
]

if TYPE_CHECKING:
    from ml.backbones import BackboneWeightsError
    from ml.config import TrainConfig
    from ml.data import Sample
    from ml.predict import PredictionResult, Predictor
    from ml.train import FitResult, Progress, TrainingCancelled, fit


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
