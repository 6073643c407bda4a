"""Planning a zip import: which entries are images, masks or a manifest, and what the folders say about each
(MVTec AD layout: `<root>/train|test/<type>/<file>`, `<root>/ground_truth/<type>/<name>_mask.png`). Reads only
the archive's directory, never an entry's bytes; importer.py runs the plan."""

import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from . import defect_types, manifest
from .manifest import Known
from .models import Label, Split

LAYOUT_SPLITS = {"train": Split.TRAIN, "test": Split.TEST}


@dataclass
class PlannedImage:
    info: zipfile.ZipInfo
    known: Known  # what the folders (and later the manifest) say
    mask_key: tuple[str, str, str] | None = None  # (root, type, stem) of its mask in `Plan.masks`


@dataclass
class Plan:
    images: list[PlannedImage] = field(default_factory=list)
    masks: dict[tuple[str, str, str], zipfile.ZipInfo] = field(default_factory=dict)  # (root, type, stem) -> mask
    manifest: zipfile.ZipInfo | None = None
    skipped: list[dict] = field(default_factory=list)


def unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why an entry may not be imported, or None."""
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if "\\" in name or ".." in PurePosixPath(name).parts:
        return "path escapes the archive"
    return None


def _layout_position(parts: tuple[str, ...]) -> int | None:
    """Index of `train|test|ground_truth` in `<root...>/<that>/<type>/<file>`, else None."""
    index = len(parts) - 3
    if index >= 0 and parts[index] in ("train", "test", "ground_truth"):
        return index
    return None


def plan_archive(infos: list[zipfile.ZipInfo]) -> Plan:
    plan = Plan()
    candidates = []
    for info in infos:
        if info.is_dir():
            continue
        reason = unsafe_reason(info)
        if reason:
            plan.skipped.append({"name": info.filename, "reason": reason})
            continue
        parts = PurePosixPath(info.filename).parts
        if "__MACOSX" in parts or parts[-1].startswith("."):
            continue  # archiver metadata, not content
        candidates.append((info, parts))
    manifests = [info for info, parts in candidates if manifest.is_manifest(parts)]
    chosen = manifest.choose([info.filename for info in manifests])
    for info in manifests:
        if info.filename == chosen and plan.manifest is None:
            plan.manifest = info
        else:
            plan.skipped.append({"name": info.filename, "reason": f"another manifest is used: {chosen}"})
    candidates = [(info, parts) for info, parts in candidates if not manifest.is_manifest(parts)]
    mvtec = any(_layout_position(parts) is not None for _, parts in candidates)
    for info, parts in candidates:
        position = _layout_position(parts) if mvtec else None
        if mvtec and position is None:
            plan.skipped.append({"name": info.filename, "reason": "outside the MVTec AD layout"})
            continue
        if position is None:
            plan.images.append(PlannedImage(info, Known()))
            continue
        root, folder, kind, stem = (
            "/".join(parts[:position]),
            parts[position],
            parts[position + 1],
            PurePosixPath(parts[-1]).stem,
        )
        if folder == "ground_truth":
            stem = stem.removesuffix("_mask")
            plan.masks[(root, kind, stem)] = info
            continue
        if kind == "good":
            plan.images.append(PlannedImage(info, Known(Label.GOOD, LAYOUT_SPLITS[folder], True)))
        else:
            known = Known(Label.DEFECTIVE, LAYOUT_SPLITS[folder], True, defect_types.from_archive(kind))
            plan.images.append(PlannedImage(info, known, (root, kind, stem)))
    return plan
