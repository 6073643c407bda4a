"""The worker picks the device and, with it, the recipe: CUDA trains with mixed precision, the CPU with its own."""

import pytest

from webapp.training import engine


@pytest.mark.parametrize(("device", "autocast"), [("cuda", True), ("cuda:1", True), ("cpu", False)])
def test_the_training_config_follows_the_device(device, autocast):
    config = engine.train_config(
        preset="fast", mode="unsupervised", backbone="efficientnet_lite0", image_size=64, epochs=1, device=device
    )

    assert config.autocast is autocast and config.device == device


def test_auto_picks_cuda_only_when_torch_sees_one(settings, monkeypatch):
    import torch

    settings.ML_DEVICE = "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert engine.resolve_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert engine.resolve_device() == "cpu"
    settings.ML_DEVICE = "cuda:1"
    assert engine.resolve_device() == "cuda:1"
