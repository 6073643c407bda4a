"""Where a newly labelled image goes: the train or the test split (docs/pipeline.md, "Split policy")."""

import hashlib

from django.conf import settings

from .models import Image, Project, Split
from .selectors import split_counts


def policy_splits(project: Project, label: str, images: list[Image]) -> list[str]:
    """Splits for images newly labelled `label` (docs/pipeline.md, "Split policy").

    An image goes to test while the test split holds fewer than SPLIT_MIN_TEST_PER_LABEL images of the
    label (so the label can be measured at all); after that to test with probability
    `project.test_fraction`, decided by the image's content hash: deterministic, independent of the
    order of labelling and of past imbalance (an import's 20 test images do not pull new labels to test).
    """
    _, test = split_counts(project, label)
    minimum = settings.SPLIT_MIN_TEST_PER_LABEL
    splits = []
    for image in images:
        if test < minimum or hash_fraction(project.pk, image.sha256) < project.test_fraction:
            test += 1
            splits.append(Split.TEST)
        else:
            splits.append(Split.TRAIN)
    return splits


def hash_fraction(project_id: int, sha256: str) -> float:
    """A number in [0, 1) fixed by the project and the image bytes."""
    digest = hashlib.sha256(f"{project_id}:{sha256}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
