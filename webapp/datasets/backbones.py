"""Backbones a project may choose (validated on PATCH of the project settings)."""

# The ml package's offline-capable backbones plus the paper's; kept here until ml exposes its registry.
KNOWN_BACKBONES = ("efficientnet_lite0", "wide_resnet50_2", "resnet152_resmem")


def available_backbones() -> list[str]:
    return list(KNOWN_BACKBONES)
