"""Backbones a project may choose (validated on PATCH of the project settings)."""


def available_backbones() -> list[str]:
    """The ml engine's registry; imported on use so the web process loads torch only when it needs it."""
    from ml.backbones import BACKBONES

    return list(BACKBONES)
