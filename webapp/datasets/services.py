"""Writes for projects, members, images, labels and masks. Keyword-only arguments, atomic.

Files are written before rows: a row only ever points at a readable file, and when the row's
transaction fails, the files this call wrote are removed again (unless another row uses them).
"""

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from webapp.core.exceptions import Conflict, InsufficientStorage, InvalidInput, NotFound, ServiceError, is_disk_full

from . import files, imaging
from .models import Image, Label, Mask, Membership, Project, Role, Split
from .revisions import check_revision
from .signals import labels_changed
from .split_policy import policy_splits

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- projects and members


@transaction.atomic
def project_create(*, owner: AbstractBaseUser, name: str, description: str = "", **settings) -> Project:
    project = Project.objects.create(owner=owner, name=name, description=description, **settings)
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    return project


# Settings that change what the automatic retraining policy decides: changing one asks it again.
POLICY_SETTINGS = ("auto_retrain", "retrain_after_labels", "min_good_for_first_model")


@transaction.atomic
def project_update(*, project: Project, **fields) -> Project:
    policy_changed = any(getattr(project, name) != fields[name] for name in POLICY_SETTINGS if name in fields)
    for name, value in fields.items():
        setattr(project, name, value)
    if fields:
        project.save(update_fields=[*fields, "updated_at"])
    if policy_changed:
        project_id = project.pk
        transaction.on_commit(lambda: labels_changed.send(sender=Project, project_id=project_id))
    return project


@transaction.atomic
def project_delete(*, project: Project) -> None:
    """Delete the project with everything in it. Its files (images, masks, model checkpoints, heatmaps,
    bulk-inference uploads) are left to the file collector, which removes them once unreferenced."""
    _delete_images(Image.objects.filter(project=project))
    project.delete()


@transaction.atomic
def member_set(*, project: Project, user: AbstractBaseUser, role: str | None = None) -> tuple[Membership, bool]:
    """Add `user` with `role` (None: labeller), or change the role of an existing member (None: kept).
    Returns (membership, created)."""
    if user.pk == project.owner_id and role not in (None, Role.OWNER):
        raise Conflict("The project's creator stays an owner.")
    membership, created = Membership.objects.get_or_create(
        project=project, user=user, defaults={"role": role or Role.LABELLER}
    )
    if not created and role is not None and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership, created


@transaction.atomic
def member_remove(*, project: Project, user_id: int) -> None:
    if user_id == project.owner_id:
        raise Conflict("The project's creator cannot be removed; delete the project instead.")
    deleted, _ = Membership.objects.filter(project=project, user_id=user_id).delete()
    if not deleted:
        raise NotFound("Not a member of this project.")


# ---------------------------------------------------------------- images


@dataclass
class UploadResult:
    filename: str
    image: Image | None = None
    duplicate: bool = False
    error: ServiceError | None = None


def image_create(
    *,
    project: Project,
    filename: str,
    data: bytes,
    label: str = Label.UNLABELED,
    split: str = Split.TRAIN,
    split_locked: bool = False,
) -> tuple[Image, bool]:
    """Validate and store one image. Returns (image, created); created is False for a duplicate.

    Raises PayloadTooLarge (413), UnsupportedMediaType (415) or InvalidInput (400).
    """
    sha256 = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(project=project, sha256=sha256).first()
    if existing is not None:
        return existing, False
    checked = imaging.open_checked(data)
    # The name stays the SHA-256 of the bytes sent (duplicates are found by it, whatever the orientation);
    # an image with an EXIF orientation is stored upright (docs/api.md, "EXIF orientation").
    stored, extension = imaging.stored_bytes(checked, data)
    file_name = files.image_name(sha256, extension)
    thumb_name = files.thumbnail_name(sha256)
    thumbnail = imaging.thumbnail_jpeg(checked.image)
    checked.image.close()
    wrote_file = wrote_thumb = False
    try:
        wrote_file = files.write_once(file_name, stored)
        wrote_thumb = files.write_once(thumb_name, thumbnail)
        with transaction.atomic():
            image = Image.objects.create(
                project=project,
                file=file_name,
                thumbnail=thumb_name,
                filename=filename[:255],
                sha256=sha256,
                width=checked.width,
                height=checked.height,
                label=label,
                split=split,
                split_locked=split_locked,
                labeled_at=timezone.now() if label != Label.UNLABELED else None,
            )
    except IntegrityError:
        # The same bytes arrived concurrently for this project: theirs won, ours is the duplicate.
        existing = Image.objects.filter(project=project, sha256=sha256).first()
        if existing is None:
            # Only what this call wrote: an older file of these bytes may be named by a training snapshot.
            files.delete_unreferenced(
                image_files=[file_name] if wrote_file else [], thumbnails=[thumb_name] if wrote_thumb else []
            )
            raise
        return existing, False
    except BaseException:
        # Only what this call wrote; a file that was already there belongs to someone else's row.
        files.delete_unreferenced(
            image_files=[file_name] if wrote_file else [], thumbnails=[thumb_name] if wrote_thumb else []
        )
        raise
    return image, True


def images_upload(*, project: Project, uploads: Iterable) -> list[UploadResult]:
    """Store each uploaded file on its own; one bad file does not stop the others."""
    results = []
    for upload in uploads:
        result = UploadResult(filename=upload.name or "upload")
        try:
            imaging.check_size(upload.size, what=f"{result.filename}")
            upload.seek(0)
            result.image, created = image_create(project=project, filename=result.filename, data=upload.read())
            result.duplicate = not created
        except ServiceError as exc:
            result.error = exc
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            # This file was not stored (nothing of it is left: files.write_once); those before it were, and the
            # answer says so file by file.
            logger.error("Upload of %s to project %s: disk full", result.filename, project.pk)
            result.error = InsufficientStorage()
        results.append(result)
    return results


def count_new_labels(project_id: int, count: int, *, notify: bool = True) -> None:
    """Feed automatic retraining: bump the project's counter now, tell listeners after commit (`notify`; an
    import bumps it as it goes and tells once at its end, `labels_arrived`)."""
    if count <= 0:
        return
    Project.objects.filter(pk=project_id).update(labels_since_training=F("labels_since_training") + count)
    if notify:
        labels_arrived(project_id)


def labels_arrived(project_id: int) -> None:
    """Tell automatic retraining, after the commit, that the project's label counter grew."""
    transaction.on_commit(lambda: labels_changed.send(sender=Project, project_id=project_id))


def _label_images(*, project: Project, images: list[Image], label: str, split: str | None) -> int:
    """Set `label` (and `split`, when given) on images; returns how many got a new good/defective label.

    Images leaving the defective label lose their mask (a mask only describes defects) and their defect type.
    Rows are written
    with one UPDATE per distinct change, so labelling 10,000 images costs a handful of queries."""
    now = timezone.now()
    newly_labelled = [
        image for image in images if image.label == Label.UNLABELED and label != Label.UNLABELED and split is None
    ]
    movable = [image for image in newly_labelled if not image.split_locked]
    auto_split: dict[str, list[Image]] = {}
    for image, chosen in zip(movable, policy_splits(project, label, movable), strict=True):
        if image.split != chosen:
            auto_split.setdefault(chosen, []).append(image)
    relabelled = [image for image in images if image.label != label]
    leaving_defective = [image for image in relabelled if image.label == Label.DEFECTIVE]
    new_labels = len(relabelled) if label != Label.UNLABELED else 0

    labeled_at = now if label != Label.UNLABELED else None
    _update_in_chunks(relabelled, label=label, labeled_at=labeled_at, updated_at=now)
    for image in relabelled:
        image.label, image.labeled_at = label, labeled_at
    for chosen, group in auto_split.items():
        _update_in_chunks(group, split=chosen, updated_at=now)
        for image in group:
            image.split = chosen
    if split is not None:
        moved = [image for image in images if image.split != split or not image.split_locked]
        _update_in_chunks(moved, split=split, split_locked=True, updated_at=now)
        for image in moved:
            image.split, image.split_locked = split, True
    if label != Label.DEFECTIVE:
        # An image that stops being defective loses its defect type; one whose label stays keeps what was set.
        typed = [image for image in leaving_defective if image.defect_type]
        _update_in_chunks(typed, defect_type=None)
        for image in typed:
            image.defect_type = None
        masked = [image for image in images if image.has_mask]
        if masked:
            _delete_masks(masked)
            for image in masked:
                image.has_mask = False
    return new_labels


def label_images_uncounted(*, project: Project, images: list[Image], label: str, split: str | None) -> int:
    """Label locked rows inside the caller's transaction without counting them towards retraining.

    For callers that count many labels at once (an import calls `count_new_labels` once at its end).
    Returns how many images got a new good/defective label."""
    return _label_images(project=project, images=images, label=label, split=split)


def _update_in_chunks(images: list[Image], chunk: int = 500, **fields) -> None:
    ids = [image.pk for image in images]
    for start in range(0, len(ids), chunk):
        Image.objects.filter(pk__in=ids[start : start + chunk]).update(**fields)


@transaction.atomic
def image_update(
    *,
    image: Image,
    label: str | None = None,
    split: str | None = None,
    defect_type: str | None = ...,
    expected_revision: str | None = None,
) -> Image:
    """PATCH label, split and/or defect type. A first label without a split goes where the split policy says.

    `defect_type` "" or None clears it; leaving it out (...) keeps it. `expected_revision` (the request's
    `If-Match`): 412 when the image changed since the client read it."""
    image = Image.objects.select_for_update().get(pk=image.pk)
    check_revision(image, expected_revision)
    if label is not None:
        count_new_labels(
            image.project_id, _label_images(project=image.project, images=[image], label=label, split=split)
        )
    elif split is not None and (image.split != split or not image.split_locked):
        image.split, image.split_locked = split, True
        image.save(update_fields=["split", "split_locked", "updated_at"])
    if defect_type is not ...:  # after the label: a type sent with a new label is what the request asked for
        value = (defect_type or "").strip()[:64] or None
        if value != image.defect_type:
            image.defect_type = value
            image.save(update_fields=["defect_type", "updated_at"])
    return image


@transaction.atomic
def images_bulk(*, project: Project, images: QuerySet[Image], action: str, value: str | None) -> int:
    """Label, move between splits or delete many images at once. Returns how many were affected."""
    images = images.filter(project=project)
    if action == "delete":
        return _delete_images(images)
    if action == "split":
        return images.exclude(split=value, split_locked=True).update(
            split=value, split_locked=True, updated_at=timezone.now()
        )
    if action == "label":
        selected = list(images.select_for_update().order_by("id"))
        count_new_labels(project.pk, _label_images(project=project, images=selected, label=value, split=None))
        return len(selected)
    raise InvalidInput(f"Unknown action {action!r}.")


def images_bulk_count(*, project: Project, images: QuerySet[Image], action: str, value: str | None) -> int:
    """How many images `images_bulk` would affect with these arguments (a dry run: nothing changes)."""
    images = images.filter(project=project)
    if action == "split":
        return images.exclude(split=value, split_locked=True).count()
    if action in ("delete", "label"):
        return images.count()
    raise InvalidInput(f"Unknown action {action!r}.")


@transaction.atomic
def image_delete(*, image: Image) -> None:
    _delete_images(Image.objects.filter(pk=image.pk))


def _delete_images(images: QuerySet[Image]) -> int:
    """Delete rows (masks and predictions go with them); the files are left to the collector, since a
    running training's snapshot or a model version may still read them."""
    ids = list(images.values_list("pk", flat=True))
    for start in range(0, len(ids), 500):
        Image.objects.filter(pk__in=ids[start : start + 500]).delete()
    return len(ids)


# ---------------------------------------------------------------- masks


def _delete_masks(images: list[Image]) -> None:
    """Mask rows go now; their files stay for snapshots that name them (the collector takes them later)."""
    ids = [image.pk for image in images]
    for start in range(0, len(ids), 500):
        Mask.objects.filter(image_id__in=ids[start : start + 500]).delete()
    _update_in_chunks(images, has_mask=False, updated_at=timezone.now())


def store_mask(*, image: Image, data: bytes, expected_revision: str | None = None) -> Mask:
    """Validate a mask PNG against its image and store it as {0,255}; marks the image defective.

    The image row is locked and read again inside the transaction, so a concurrent "label good"
    (which drops the mask under the same lock) can never leave a good image with a mask. A replaced
    mask's file is not deleted: a running training may be reading it (the collector takes it later).
    Does not count the label (callers do); raises InvalidInput (400) / PayloadTooLarge (413)."""
    png, area = imaging.decode_mask(data, width=image.width, height=image.height)
    name = files.mask_name(hashlib.sha256(png).hexdigest())
    wrote = files.write_once(name, png)
    try:
        with transaction.atomic():
            locked = Image.objects.select_for_update().filter(pk=image.pk).first()
            if locked is None:
                raise NotFound("The image was deleted.")
            check_revision(locked, expected_revision)
            image.label, image.split, image.split_locked = locked.label, locked.split, locked.split_locked
            image.has_mask = locked.has_mask
            old = Mask.objects.select_for_update().filter(image=image).first()
            if old is None:
                mask = Mask.objects.create(image=image, file=name, area=area)
            else:
                old.file, old.area = name, area
                old.save(update_fields=["file", "area", "updated_at"])
                mask = old
            if image.label != Label.DEFECTIVE:
                _label_images(project=image.project, images=[image], label=Label.DEFECTIVE, split=None)
            Image.objects.filter(pk=image.pk).update(has_mask=True, updated_at=timezone.now())
            image.has_mask = True
    except BaseException:
        if wrote and not Mask.objects.filter(file=name).exists():
            files.delete_quietly([name])
        raise
    return mask


@transaction.atomic
def mask_set(*, image: Image, data: bytes, expected_revision: str | None = None) -> Mask:
    mask = store_mask(image=image, data=data, expected_revision=expected_revision)
    count_new_labels(image.project_id, 1)
    return mask


@transaction.atomic
def mask_delete(*, image: Image, expected_revision: str | None = None) -> None:
    """Remove the mask (the image stays defective, now a weak label). Counts as a label, as painting one does:
    it changes what the next training learns from that image."""
    check_revision(Image.objects.select_for_update().get(pk=image.pk), expected_revision)
    if not Mask.objects.filter(image=image).exists():
        raise NotFound("This image has no mask.")
    _delete_masks([image])
    image.has_mask = False
    count_new_labels(image.project_id, 1)
