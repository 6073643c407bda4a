"""The seam between the web application and `ml/`: device choice, loaded predictors, files in storage.

`ml` (and with it torch) is imported lazily, inside the functions, so that importing Django apps,
running migrations or serving pages never pays for it; a worker loads it on its first job.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from PIL import Image as PILImage

logger = logging.getLogger(__name__)


def resolve_device() -> str:
    """`settings.ML_DEVICE` unless it is "auto": then CUDA when torch sees one, else CPU."""
    wanted = settings.ML_DEVICE
    if wanted != "auto":
        return wanted
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def fit(*args: Any, **kwargs: Any):
    """`ml.fit`, behind a name the tests can patch."""
    import ml

    return ml.fit(*args, **kwargs)


def training_cancelled_error() -> type[BaseException]:
    import ml

    return ml.TrainingCancelled


def make_sample(image_path: str, label: int, mask_path: str | None):
    import ml

    return ml.Sample(image_path, label, mask_path)


def train_config(
    *,
    preset: str,
    mode: str,
    backbone: str,
    image_size: int | str,
    epochs: int | None,
    device: str,
    tiling: str = "off",
    image_dims: list[tuple[int, int]] | None = None,
):
    """The preset's config for this project; on CUDA always with mixed precision (AMP), whatever the preset.

    `image_size` / `tiling` "auto" are resolved here from `image_dims` ((width, height) of the training images,
    ml.geometry.auto_size / ml.tiling.auto_tiles), so the config fit gets, and the version records, is concrete.
    """
    import ml
    from ml.tiling import resolve_config

    amp = {"autocast": True} if device.startswith("cuda") else {}
    config = ml.TrainConfig.from_preset(
        preset, mode=mode, backbone=backbone, image_size=image_size, epochs=epochs, device=device, tiling=tiling, **amp
    )
    return resolve_config(config, (), dims=image_dims or [])


def planned_epochs(config, train_samples) -> int:
    """The epochs `fit` will run for `config` on these samples (the fast preset budgets them by the set's size)."""
    from ml.train import plan

    return plan(config, train_samples)[0].epochs


def compute_metrics(*args: Any, **kwargs: Any) -> dict:
    from ml.metrics import compute_metrics as _compute

    return _compute(*args, **kwargs)


def select_threshold(scores: list[float], labels: list[int]) -> float:
    from ml.metrics import select_threshold as _select

    return float(_select(scores, labels))


def load_predictor(checkpoint_path: str, device: str):
    import ml

    return ml.Predictor(checkpoint_path, device=device)


def export_model(checkpoint_path: str, out_path: str, fmt: str, threshold: float | None = None) -> None:
    """Export for use outside the product; `threshold` (the version's) travels with the model."""
    from ml.export import export_onnx, export_torch

    if fmt == "onnx":
        export_onnx(checkpoint_path, out_path, threshold=threshold)
    else:
        export_torch(checkpoint_path, out_path, threshold=threshold)


# --- files in storage ---------------------------------------------------------------------------------


def _storage_path(name: str) -> str | None:
    try:
        return default_storage.path(name)
    except NotImplementedError:  # object storage: no local path
        return None


def _download(name: str, target: Path) -> None:
    """Copy a stored file to `target` whole or not at all (a failed read leaves no empty or partial file)."""
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        with default_storage.open(name, "rb") as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def local_path(name: str, scratch_dir: Path) -> str:
    """A local filesystem path for a stored file: the file itself on local storage, else a copy in scratch_dir."""
    path = _storage_path(name)
    if path is not None:
        return path
    target = scratch_dir / f"{uuid.uuid4().hex}-{Path(name).name}"
    _download(name, target)
    return str(target)


CHECKPOINT_CACHE = "checkpoints"  # DATA_DIR/tmp/checkpoints: this machine's copies of stored checkpoints


def checkpoint_copy_name(name: str) -> str:
    """The file name of a stored checkpoint's local copy: one per checkpoint (a version's file never changes),
    found again by every process of the machine and after restarts."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{digest}-{Path(name).name}"


def local_checkpoint(name: str) -> str:
    """A local path of a stored checkpoint: the file itself on local storage, else this machine's copy
    (downloaded once; `scratch.clean_stale_scratch` removes copies of versions that no longer exist)."""
    path = _storage_path(name)
    if path is not None:
        return path
    cache = Path(settings.DATA_DIR) / "tmp" / CHECKPOINT_CACHE
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / checkpoint_copy_name(name)
    if not target.exists():
        _download(name, target)
    return str(target)


def store_file_atomically(src_path: str | Path, name: str) -> str:
    """Copy a local file into storage under `name` so that readers never see a half-written file.

    On local storage the copy goes to a temporary name in the target folder and is renamed into
    place (os.replace is atomic on one filesystem); object stores publish an upload only once complete.
    """
    if isinstance(default_storage, FileSystemStorage):
        target = Path(default_storage.path(name))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            shutil.copyfile(src_path, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return name
    with open(src_path, "rb") as fh:
        return default_storage.save(name, File(fh))


def delete_stored(name: str) -> None:
    if name:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("Could not delete %s from storage", name, exc_info=True)


def scratch_dir(prefix: str) -> Path:
    """A private temporary folder under DATA_DIR/tmp (same filesystem as local media, so renames are cheap)."""
    base = Path(settings.DATA_DIR) / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def heatmap_png(anomaly_map: np.ndarray) -> bytes:
    """Anomaly map in [0, 1] -> single-channel 8-bit PNG (0..255 = 0..1), same height and width."""
    pixels = np.clip(np.rint(np.asarray(anomaly_map, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(pixels, mode="L").save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


# --- loaded models, per worker process ------------------------------------------------------------------

_predictors: OrderedDict[int, Any] = OrderedDict()
_predictors_lock = threading.Lock()


def predictor_for(model_version) -> Any:
    """The loaded Predictor of a model version; loaded once per process and kept (LRU, PREDICTOR_CACHE_SIZE)."""
    with _predictors_lock:
        cached = _predictors.get(model_version.id)
        if cached is not None:
            _predictors.move_to_end(model_version.id)
            return cached
        path = local_checkpoint(model_version.checkpoint.name)
        predictor = load_predictor(path, resolve_device())
        _predictors[model_version.id] = predictor
        while len(_predictors) > max(1, settings.PREDICTOR_CACHE_SIZE):
            _predictors.popitem(last=False)
        logger.info("Loaded model version %s (%s)", model_version.id, path)
        return predictor


def forget_predictors() -> None:
    with _predictors_lock:
        _predictors.clear()
