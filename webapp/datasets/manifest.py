"""An archive's optional `manifest.csv`: what it says about each image (label, split, defect type).

The shallowest entry named `manifest.csv` (any case) is the manifest; its rows name images by their path
relative to the manifest's folder, in a column `image` or `filename`. Optional columns `label`
(good|defective|unlabeled), `split` (train|test) and `defect_type`; an empty cell says nothing, other
columns are ignored (so `shared/data/magnetic_tile/manifest.csv` works as it is). A bad row is reported and
ignored, the rest still count.
"""

import csv
import io
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from . import defect_types
from .models import Label, Split

MANIFEST_NAME = "manifest.csv"
PATH_COLUMNS = ("image", "filename")


@dataclass(frozen=True)
class Known:
    """What an archive says about one image. `split_locked`: the archive gives the split."""

    label: str = Label.UNLABELED
    split: str = Split.TRAIN
    split_locked: bool = False
    defect_type: str | None = None

    @property
    def says_anything(self) -> bool:
        return self.label != Label.UNLABELED or self.split_locked or self.defect_type is not None


@dataclass(frozen=True)
class Row:
    line: int
    label: str | None = None
    split: str | None = None
    defect_type: str | None = None

    def over(self, known: Known) -> Known:
        """The manifest's values over the folder's (a cell the manifest leaves empty keeps the folder's)."""
        merged = replace(
            known,
            label=self.label or known.label,
            split=self.split or known.split,
            split_locked=known.split_locked or self.split is not None,
            defect_type=self.defect_type or known.defect_type,
        )
        return replace(merged, defect_type=None) if merged.label == Label.GOOD else merged


@dataclass
class Manifest:
    name: str
    rows: dict[str, Row]  # entry name in the archive -> row
    errors: list[dict]


def is_manifest(parts: tuple[str, ...]) -> bool:
    return parts[-1].lower() == MANIFEST_NAME


def choose(names: list[str]) -> str | None:
    """The manifest among candidate entry names: the shallowest, then the first by name."""
    return min(names, key=lambda name: (name.count("/"), name)) if names else None


def parse(name: str, data: bytes) -> Manifest:
    manifest = Manifest(name=name, rows={}, errors=[])
    folder = str(PurePosixPath(name).parent)
    folder = "" if folder == "." else folder
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        manifest.errors.append({"name": name, "reason": "manifest.csv is not UTF-8 text; it was ignored"})
        return manifest
    reader = csv.DictReader(io.StringIO(text))
    columns = {(column or "").strip().lower(): column for column in reader.fieldnames or []}
    path_column = next((c for c in PATH_COLUMNS if c in columns), None)
    if path_column is None:
        reason = "manifest.csv needs an `image` or `filename` column; it was ignored"
        manifest.errors.append({"name": name, "reason": reason})
        return manifest
    for row in reader:
        line = reader.line_num

        def cell(column: str, row=row) -> str:
            return (row.get(columns[column]) or "").strip() if column in columns else ""

        path = cell(path_column).removeprefix("./")
        if not path:
            continue
        problem = _problem(path, cell("label"), cell("split"))
        if problem is None and f"{folder}/{path}".lstrip("/") in manifest.rows:
            problem = f"{path} is listed twice"
        if problem is not None:
            manifest.errors.append({"name": f"{name} line {line}", "reason": problem})
            continue
        manifest.rows[f"{folder}/{path}".lstrip("/")] = Row(
            line=line,
            label=cell("label").lower() or None,
            split=cell("split").lower() or None,
            defect_type=defect_types.from_archive(cell("defect_type")),
        )
    return manifest


def _problem(path: str, label: str, split: str) -> str | None:
    if path.startswith("/") or "\\" in path or ".." in PurePosixPath(path).parts:
        return f"the image path {path!r} must be relative to the manifest's folder"
    if label and label.lower() not in Label.values:
        return f"label {label!r} is not one of {', '.join(Label.values)}"
    if split and split.lower() not in Split.values:
        return f"split {split!r} is not one of {', '.join(Split.values)}"
    return None
