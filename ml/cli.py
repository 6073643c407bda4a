"""Command line: ``python -m ml train|evaluate|predict|export``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger("ml")

JSON_KEYS = ("image_auroc", "image_ap", "pixel_auroc", "aupro", "f1", "precision", "recall", "threshold")


def _progress_bar() -> tuple[Callable[[Any], None], Any]:
    """A tqdm bar on stderr driven by Progress.fraction, and the callback that updates it."""
    from tqdm import tqdm

    bar = tqdm(total=1000, unit="‰", dynamic_ncols=True, file=sys.stderr)

    def update(progress: Any) -> None:
        target = int(progress.fraction * 1000)
        bar.set_description(f"{progress.phase} {progress.epoch}/{progress.epochs}")
        if progress.loss is not None:
            bar.set_postfix(loss=f"{progress.loss:.4f}")
        if target > bar.n:
            bar.update(target - bar.n)

    return update, bar


def _image_size(text: str) -> int | tuple[int, int] | str:
    """``--image-size``: ``256`` (square), ``640x232`` (height x width) or ``auto``."""
    from ml.geometry import AUTO, compact, parse_size

    try:
        size = parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return size if size == AUTO else compact(size)


def _samples(data: str, split: str, mode: str, split_column: str | None) -> list:
    from ml.data import read_dataset

    samples = read_dataset(data, split, mode=mode, split_column=split_column)
    if not samples:
        raise SystemExit(f"no {split} images found in {data}")
    return samples


def cmd_train(args: argparse.Namespace) -> int:
    from ml.config import TrainConfig
    from ml.train import fit

    overrides: dict[str, Any] = {}
    if args.batch_size:
        overrides["batch_size"] = args.batch_size
    if args.weights:
        overrides["weights"] = args.weights
    if args.score:
        overrides["score"] = args.score
    if args.tiling:
        overrides["tiling"] = args.tiling
    config = TrainConfig.from_preset(
        args.preset,
        mode=args.mode,
        backbone=args.backbone,
        image_size=args.image_size,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
        **overrides,
    )
    train = _samples(args.data, "train", args.mode, args.split_column)
    evaluation = None
    if not args.no_eval:
        from ml.data import read_dataset

        evaluation = read_dataset(args.data, "test", mode=args.mode, split_column=args.split_column) or None
    out = Path(args.out)
    update, bar = _progress_bar()
    # The temporary folder sits beside the target so that the final rename never crosses filesystems.
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        result = fit(config, train, tmp, on_progress=update, eval_samples=evaluation)
        bar.close()
        Path(result.checkpoint_path).replace(out)
    summary = {
        "checkpoint": str(out),
        "seconds": round(result.seconds, 1),
        "device": result.device,
        "image_size": result.config.to_dict()["image_size"] if result.config else None,
        "tiling": result.config.tiling if result.config else None,
        "train_counts": result.train_counts,
        "history": result.history,
        **{k: result.metrics.get(k) for k in JSON_KEYS if result.metrics},
    }
    print(json.dumps(summary, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ml.metrics import compute_metrics
    from ml.predict import Predictor

    predictor = Predictor(args.checkpoint, device=args.device)
    samples = _samples(args.data, "test", "supervised", args.split_column)
    update, bar = _progress_bar()
    from ml.train import Progress

    def on_batch(done: int, total: int) -> None:
        update(Progress("evaluate", 0, 0, done, total, None, done / total))

    scores, labels, maps, masks = predictor.score_samples(samples, on_batch=on_batch)
    bar.close()
    threshold = None if args.select_threshold else predictor.threshold
    metrics = compute_metrics(scores, labels, maps, masks, threshold=threshold)
    if args.json:
        print(json.dumps({k: metrics[k] for k in JSON_KEYS}))
    else:
        for key in JSON_KEYS:
            value = metrics[key]
            print(f"{key:12s} {'n/a' if value is None else f'{value:.4f}'}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from ml.data import to_pil
    from ml.predict import Predictor

    predictor = Predictor(args.checkpoint, device=args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    threshold = predictor.threshold
    rows = []
    from tqdm import tqdm

    for start in tqdm(range(0, len(args.images), args.batch_size), unit="batch", file=sys.stderr):
        paths = args.images[start : start + args.batch_size]
        images = [to_pil(path) for path in paths]  # decoded once, for the model and for the overlay
        for path, image, result in zip(
            paths, images, predictor.predict(images, batch_size=args.batch_size), strict=True
        ):
            overlay = _overlay(np.asarray(image.convert("RGB")), result.anomaly_map)
            name = Path(path).stem
            Image.fromarray(overlay).save(out / f"{name}_overlay.png")
            Image.fromarray((result.anomaly_map * 255).round().astype(np.uint8)).save(out / f"{name}_heatmap.png")
            rows.append(
                {
                    "image": str(path),
                    "score": result.score,
                    "is_defective": None if threshold is None else result.score >= threshold,
                    "overlay": str(out / f"{name}_overlay.png"),
                }
            )
    (out / "predictions.json").write_text(json.dumps({"threshold": threshold, "predictions": rows}, indent=2))
    for row in rows:
        print(f"{row['score']:.4f}  {row['image']}")
    return 0


def _overlay(image: Any, heat: Any, alpha: float = 0.5) -> Any:
    """Blend a jet-like colour map of ``heat`` (H x W in [0, 1]) over an RGB uint8 image."""
    import numpy as np

    h = np.clip(heat, 0, 1)[..., None]
    colour = np.concatenate(
        (
            np.clip(1.5 - np.abs(4 * h - 3), 0, 1),
            np.clip(1.5 - np.abs(4 * h - 2), 0, 1),
            np.clip(1.5 - np.abs(4 * h - 1), 0, 1),
        ),
        axis=-1,
    )
    return ((1 - alpha) * image + alpha * 255 * colour).round().clip(0, 255).astype(np.uint8)


def cmd_export(args: argparse.Namespace) -> int:
    from ml.export import export_onnx, export_torch

    if args.format == "onnx":
        report = export_onnx(args.checkpoint, args.out, opset=args.opset)
        print(json.dumps(report, indent=2))
    else:
        print(export_torch(args.checkpoint, args.out))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ml", description="SuperSimpleNet: train, evaluate, predict, export"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model on an MVTec AD folder or a CSV manifest")
    train.add_argument("--data", required=True, help="MVTec AD layout folder or CSV manifest")
    train.add_argument("--mode", choices=("unsupervised", "supervised"), default="unsupervised")
    train.add_argument("--preset", choices=("fast", "paper"), default="fast")
    train.add_argument("--out", required=True, help="checkpoint file to write")
    train.add_argument("--split-column", help="CSV split column (default: split_<mode>)")
    train.add_argument("--backbone", default="efficientnet_lite0")
    train.add_argument("--weights", help="backbone weights file")
    train.add_argument(
        "--image-size",
        type=_image_size,
        default=256,
        help="working resolution: 256 (square), 640x232 (height x width) or auto (from the images' aspect ratio)",
    )
    train.add_argument("--tiling", help="tiled mode: off (default), RxC (e.g. 2x2) or auto; see docs/ml.md")
    train.add_argument("--epochs", type=int, help="override the preset's epoch count")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--score", choices=("cls", "seg", "mean"), help="image score variant")
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--device", default="auto")
    train.add_argument("--no-eval", action="store_true", help="skip metrics on test/")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="metrics of a checkpoint on test/")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--split-column", default=None)
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--select-threshold", action="store_true", help="F1-optimal threshold on this data")
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(func=cmd_evaluate)

    predict = sub.add_parser("predict", help="scores and heatmap overlays for images")
    predict.add_argument("--checkpoint", required=True)
    predict.add_argument("images", nargs="+")
    predict.add_argument("--out", required=True, help="folder for overlays and predictions.json")
    predict.add_argument("--batch-size", type=int, default=16)
    predict.add_argument("--device", default="auto")
    predict.set_defaults(func=cmd_predict)

    export = sub.add_parser("export", help="export a checkpoint")
    export.add_argument("--checkpoint", required=True)
    export.add_argument("--format", choices=("onnx", "torch"), default="onnx")
    export.add_argument("--out", required=True)
    export.add_argument("--opset", type=int, default=17)
    export.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    return args.func(args)
