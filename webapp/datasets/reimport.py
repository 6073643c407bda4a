"""What an archive knows, applied to an image already in the project (or just created by the import).

The archive fills in what the project does not know and never overrides a person's choice:
- label: an unlabeled image takes the archive's label (its split then as below, else the split policy);
  a labelled one keeps its label;
- split: a split nobody set (`split_locked` false) takes the archive's split, a locked one stays;
- defect type: an image without one takes the archive's (not a good image); one that has a type keeps it;
- mask: a defective image without a mask takes the archive's mask; one with a mask keeps it.
`updated` says the image took at least one value, `kept` that the archive said something else about at
least one value and the project's was kept (an image can be both).
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from webapp.core.exceptions import NotFound, ServiceError

from . import services
from .manifest import Known
from .models import Image, Label, Project


@dataclass
class Outcome:
    updated: bool = False
    kept: bool = False
    new_labels: int = 0  # good/defective labels this call gave (feeds automatic retraining)
    masks: int = 0
    mask_problem: ServiceError | None = None  # the archive's mask could not be stored (empty, wrong size, ...)


@transaction.atomic
def apply_known(
    *, project: Project, image: Image, known: Known, read_mask: Callable[[], bytes] | None = None
) -> Outcome:
    """Apply `known` (and the mask `read_mask` returns, if one is needed) to `image`, under its row lock."""
    row = Image.objects.select_for_update().filter(pk=image.pk, project=project).first()
    if row is None:
        raise NotFound("The image was deleted during the import.")
    row.project = project
    outcome = Outcome()
    label_applied = False
    if known.label != Label.UNLABELED:
        if row.label == Label.UNLABELED:
            split = known.split if known.split_locked and not row.split_locked else None
            outcome.new_labels = services.label_images_uncounted(
                project=project, images=[row], label=known.label, split=split
            )
            outcome.updated = label_applied = True
        elif row.label != known.label:
            outcome.kept = True
    if known.split_locked and not label_applied:
        if not row.split_locked:
            outcome.updated |= row.split != known.split
            Image.objects.filter(pk=row.pk).update(split=known.split, split_locked=True, updated_at=timezone.now())
            row.split, row.split_locked = known.split, True
        elif row.split != known.split:
            outcome.kept = True
    elif known.split_locked and row.split != known.split:
        outcome.kept = True  # the label was applied but the split a person set stayed
    if known.defect_type is not None and row.label != Label.GOOD:
        if row.defect_type is None:
            Image.objects.filter(pk=row.pk).update(defect_type=known.defect_type, updated_at=timezone.now())
            row.defect_type = known.defect_type
            outcome.updated = True
        elif row.defect_type != known.defect_type:
            outcome.kept = True
    if read_mask is not None and row.label == Label.DEFECTIVE and not row.has_mask:
        try:
            services.store_mask(image=row, data=read_mask())
            outcome.masks, outcome.updated = 1, True
        except ServiceError as exc:
            outcome.mask_problem = exc
    image.label, image.split, image.split_locked = row.label, row.split, row.split_locked
    image.defect_type, image.has_mask = row.defect_type, row.has_mask
    return outcome
