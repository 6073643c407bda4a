"""Optimistic concurrency for edits of one image: two people labelling or painting the same image.

Every change of an image's label, split, defect type or mask moves its `updated_at`; the API shows it as the
image's `revision`. A client that sends it back as `If-Match` gets 412 instead of silently overwriting an edit
someone else saved after it read the image (webapp/datasets/api/views_images.py); bulk actions stay
unconditional."""

from __future__ import annotations

from webapp.core.exceptions import PreconditionFailed

from .models import Image


def revision(image: Image) -> str:
    """The image's edit revision: its `updated_at` to the microsecond, which every change of label, split,
    defect type or mask moves (the API's `revision` field and `If-Match` precondition)."""
    return image.updated_at.isoformat(timespec="microseconds")


def check_revision(locked: Image, expected: str | None) -> None:
    """412 when the client edited an older revision than the locked row's (someone else saved meanwhile)."""
    if expected is None or expected == revision(locked):
        return
    mask = "a mask" if locked.has_mask else "no mask"
    raise PreconditionFailed(
        f"Someone else changed this image since you opened it (it is now {locked.label}, {locked.split} split, "
        f"{mask}); nothing was saved. Reload it to see the change, then edit again."
    )
