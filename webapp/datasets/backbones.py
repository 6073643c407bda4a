"""Backbones a project may choose (validated on PATCH of the project settings): the ml engine's registry."""


def available_backbones() -> list[str]:
    """The ml registry's choices; imported on use so the web process loads torch only when it needs it.
    Opt-in backbones (``resnet152``, non-commercial weights) appear only once installed (``make resnet152``)."""
    from ml.backbones import available_backbones as installed

    return installed()


def listed_backbones() -> list[str]:
    """The same list as :func:`available_backbones` without importing torch (for pages): the registry's backbones,
    the opt-in ones only when their weights package is installed."""
    import importlib.util

    from ml.registry import BACKBONE_INFO, BACKBONES, OPT_IN

    def installed(name: str) -> bool:
        package = BACKBONE_INFO[name]["package"]
        return package is not None and importlib.util.find_spec(str(package)) is not None

    return [name for name in BACKBONES if name not in OPT_IN or installed(name)]


def backbone_problem(name: str) -> str | None:
    """None when ``name`` can be chosen, else a message saying why not (unknown, or how to install it + licence)."""
    from ml.backbones import backbone_status

    ok, message = backbone_status(name)
    return None if ok else message


def backbone_licence(name: str) -> str | None:
    """The licence of a backbone's weights (ml.registry: no torch import)."""
    from ml.registry import licence_of

    return licence_of(name)
