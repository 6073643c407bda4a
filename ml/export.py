"""Export a checkpoint: ONNX (dynamic batch, checked against PyTorch) or a self-contained torch file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.predict import ONNX_INPUTS, ONNX_OUTPUTS, ExportWrapper, load_checkpoint, model_from_checkpoint, onnx_bytes
from ml.tiling import TiledWrapper, grid_from
from ml.train import _save_atomic


def export_onnx(
    checkpoint_path: str | Path, out_path: str | Path, opset: int = 17, threshold: float | None = None
) -> dict[str, Any]:
    """Write an ONNX model with a dynamic batch axis and compare it with PyTorch on random images.

    The decision threshold (``threshold``, else the checkpoint's) travels in the model's metadata as
    ``threshold`` with ``decision_rule`` "score >= threshold", so a line controller needs nothing else.

    A tiled model (``tiling`` "RxC") is exported whole: its input is the image at the tile grid's full size,
    and the graph cuts the tiles, scores them and stitches their maps (:class:`ml.tiling.TiledWrapper`), so it
    gives what ``Predictor`` gives.

    Returns:
        dict with ``path``, ``opset``, ``image_size``, ``image_height``/``image_width`` (the model's input),
        ``inputs``/``outputs`` names and ``max_abs_diff``
        (largest difference over scores and maps, batch of 2), or ``max_abs_diff`` None when onnxruntime
        is not installed.
    """
    checkpoint = load_checkpoint(checkpoint_path)
    model, config = model_from_checkpoint(checkpoint)
    wrapper: torch.nn.Module = ExportWrapper(model, config.score).eval()
    grid = grid_from(config.tiling, config.size, config.tile_overlap)
    if grid.tiled:  # the whole image in, its score and stitched map out: the model cuts and stitches itself
        wrapper = TiledWrapper(wrapper, grid, config.score).eval()
    height, width = grid.full
    example = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(0))
    out_path = Path(out_path)
    model_bytes = _with_threshold(
        onnx_bytes(wrapper, (height, width), opset=opset, example=example),
        checkpoint.get("threshold") if threshold is None else threshold,
        config,
        (height, width),
    )
    _save_atomic(model_bytes, out_path)
    report: dict[str, Any] = {
        "path": str(out_path),
        "opset": opset,
        "image_size": config.image_size,
        "image_height": height,
        "image_width": width,
        "tiling": config.tiling,
        "inputs": ONNX_INPUTS,
        "outputs": ONNX_OUTPUTS,
        "max_abs_diff": None,
    }
    try:
        import onnxruntime as ort
    except ImportError:
        return report
    with torch.no_grad():
        ref_score, ref_map = wrapper(example)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    score, amap = session.run(None, {"images": example.numpy()})
    report["max_abs_diff"] = float(max(np.abs(score - ref_score.numpy()).max(), np.abs(amap - ref_map.numpy()).max()))
    return report


def _with_threshold(
    model_bytes: bytes, threshold: float | None, config: Any = None, input_size: tuple[int, int] | None = None
) -> bytes:
    """Metadata: ``threshold`` + ``decision_rule``; the input geometry (``image_height``, ``image_width``: the
    whole image, tiles included) and, in tiled mode, ``tiling`` / ``tile_overlap`` / ``tile_height`` /
    ``tile_width`` (for information: the model cuts the image into its tiles and stitches their maps itself)."""
    props: list[tuple[str, str]] = []
    if threshold is not None:
        props += [("threshold", repr(float(threshold))), ("decision_rule", "score >= threshold")]
    if config is not None:
        height, width = input_size or config.size
        props += [("image_height", str(height)), ("image_width", str(width))]
        if config.tiling != "off":
            props += [("tiling", config.tiling), ("tile_overlap", repr(float(config.tile_overlap)))]
            props += [("tile_height", str(config.image_height)), ("tile_width", str(config.image_width))]
    if not props:
        return model_bytes
    import onnx

    model = onnx.load_from_string(model_bytes)
    for key, value in props:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()


def export_torch(checkpoint_path: str | Path, out_path: str | Path, threshold: float | None = None) -> Path:
    """Copy of the checkpoint that also carries the backbone weights, so it loads with no weight source.

    ``threshold``: the decision threshold to carry instead of the one ``fit`` chose (a product's model
    version may have another one, chosen on its own scores or set by hand); ``score >= threshold`` is
    defective (:func:`ml.metrics.is_defective`).
    """
    checkpoint = load_checkpoint(checkpoint_path)
    if threshold is not None:
        checkpoint["threshold"] = float(threshold)
    if "backbone_state_dict" not in checkpoint:
        model, _ = model_from_checkpoint(checkpoint)
        checkpoint["backbone_state_dict"] = {k: v.cpu() for k, v in model.extractor.state_dict().items()}
    out_path = Path(out_path)
    _save_atomic(checkpoint, out_path)
    return out_path
