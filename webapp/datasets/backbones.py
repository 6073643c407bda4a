"""Backbones a project may choose (validated on PATCH of the project settings): the ml engine's registry."""


def available_backbones() -> list[str]:
    """The ml registry's choices (torch-free, so pages may list them). Opt-in backbones (``resnet152``,
    non-commercial weights) appear only once installed (``make resnet152``)."""
    from ml.registry import available_backbones as installed

    return installed()


def backbone_choices() -> list[dict]:
    """What the training page's backbone menu offers: each available backbone with whether its weights are on
    this machine, how to install them and their licence (torch-free). The API accepts a backbone whose weights
    are missing here (the train workers may run elsewhere, with the file); the page says so before a training
    fails on it."""
    from ml.registry import BACKBONE_INFO, weights_here

    return [
        {
            "name": name,
            "here": weights_here(name),
            "install": BACKBONE_INFO[name]["install"],
            "licence": BACKBONE_INFO[name]["licence"],
        }
        for name in available_backbones()
    ]


def backbone_problem(name: str) -> str | None:
    """None when ``name`` can be chosen, else a message saying why not (unknown, or how to install it + licence)."""
    from ml.backbones import backbone_status

    ok, message = backbone_status(name)
    return None if ok else message


def backbone_licence(name: str) -> str | None:
    """The licence of a backbone's weights (ml.registry: no torch import)."""
    from ml.registry import licence_of

    return licence_of(name)
