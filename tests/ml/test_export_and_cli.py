"""ONNX export parity, self-contained torch export, and the command line end to end."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ml import Predictor, TrainConfig, fit
from ml.export import export_onnx, export_torch

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkpoint(tmp_path, tiny_samples):
    config = TrainConfig.from_preset("fast", image_size=64, epochs=1, batch_size=4)
    return fit(config, tiny_samples, tmp_path / "out").checkpoint_path


def test_onnx_export_has_a_dynamic_batch_and_matches_pytorch(tmp_path, checkpoint, tiny_samples):
    import onnxruntime as ort

    report = export_onnx(checkpoint, tmp_path / "model.onnx", threshold=0.4375)
    assert report["max_abs_diff"] is not None and report["max_abs_diff"] < 1e-4
    assert report["outputs"] == ["score", "anomaly_map"]
    metadata = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    props = metadata.get_modelmeta().custom_metadata_map
    assert props == {
        "threshold": "0.4375",
        "decision_rule": "score >= threshold",
        "image_height": "64",
        "image_width": "64",
    }

    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    predictor = Predictor(checkpoint, backend="torch")
    from ml.data import image_to_tensor

    batch = torch.stack([image_to_tensor(s.image_path, 64) for s in tiny_samples[:5]])
    scores, maps = session.run(None, {"images": batch.numpy()})
    ref_scores, ref_maps = predictor.forward_batch(batch)
    assert scores.shape == (5,) and maps.shape == (5, 64, 64)
    np.testing.assert_allclose(scores, ref_scores.numpy(), atol=1e-4)
    np.testing.assert_allclose(maps, ref_maps.numpy(), atol=1e-4)


def test_torch_export_carries_the_backbone_and_loads_without_its_weight_source(tmp_path, checkpoint, monkeypatch):
    out = export_torch(checkpoint, tmp_path / "export.pt")
    data = torch.load(out, weights_only=True)
    assert "backbone_state_dict" in data
    expected = Predictor(checkpoint).predict([np.full((64, 64, 3), 128, np.uint8)])[0].score
    # with the weight package "gone", the exported file still loads and predicts the same
    monkeypatch.setenv("ML_WEIGHTS_EFFICIENTNET_LITE0", str(tmp_path / "missing.pth"))
    with pytest.raises(Exception, match="missing"):
        Predictor(checkpoint)
    assert Predictor(out).predict([np.full((64, 64, 3), 128, np.uint8)])[0].score == pytest.approx(expected, abs=1e-6)


def test_torch_export_can_carry_another_threshold(tmp_path, checkpoint):
    threshold = float(np.float32(0.5592876))
    out = export_torch(checkpoint, tmp_path / "export.pt", threshold=threshold)
    assert Predictor(out).threshold == threshold
    assert (
        torch.load(export_torch(checkpoint, tmp_path / "same.pt"), weights_only=True)["threshold"]
        == (torch.load(checkpoint, weights_only=True)["threshold"])
    )


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ml", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)},
    )


@pytest.mark.slow
def test_cli_train_evaluate_predict_export_round_trip(tmp_path, mvtec_dir):
    model = tmp_path / "model.pt"
    train = run_cli(
        "train",
        "--data",
        str(mvtec_dir),
        "--mode",
        "unsupervised",
        "--preset",
        "fast",
        "--out",
        str(model),
        "--image-size",
        "64",
        "--epochs",
        "2",
    )
    assert train.returncode == 0, train.stderr
    summary = json.loads(train.stdout)
    assert summary["train_counts"] == {"good": 12, "defective": 0, "masks": 0}
    assert model.is_file() and "train" in train.stderr  # progress bar on stderr

    evaluate = run_cli("evaluate", "--checkpoint", str(model), "--data", str(mvtec_dir), "--json")
    assert evaluate.returncode == 0, evaluate.stderr
    metrics = json.loads(evaluate.stdout)
    assert {"image_auroc", "image_ap", "pixel_auroc", "aupro", "f1", "threshold"} <= set(metrics)
    assert 0 <= metrics["image_auroc"] <= 1 and 0 <= metrics["pixel_auroc"] <= 1

    images = sorted(str(p) for p in (mvtec_dir / "test" / "pit").iterdir())[:2]
    predict = run_cli("predict", "--checkpoint", str(model), *images, "--out", str(tmp_path / "pred"))
    assert predict.returncode == 0, predict.stderr
    listing = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert len(listing["predictions"]) == 2
    assert (tmp_path / "pred" / f"{Path(images[0]).stem}_overlay.png").is_file()

    export = run_cli("export", "--checkpoint", str(model), "--format", "onnx", "--out", str(tmp_path / "m.onnx"))
    assert export.returncode == 0, export.stderr
    assert json.loads(export.stdout)["max_abs_diff"] < 1e-4


def test_cli_reports_a_missing_data_folder(tmp_path):
    result = run_cli("train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "m.pt"))
    assert result.returncode != 0
    assert "does not exist" in result.stderr


def test_cli_train_reads_a_csv_manifest(tmp_path, mvtec_dir):
    rows = ["image,mask,label,defect_type,split_unsupervised,split_supervised"]
    for p in sorted((mvtec_dir / "train" / "good").iterdir())[:6]:
        rows.append(f"{p.relative_to(mvtec_dir)},,good,good,train,train")
    (mvtec_dir / "manifest.csv").write_text("\n".join(rows) + "\n")
    from ml.data import read_dataset

    samples = read_dataset(mvtec_dir / "manifest.csv", "train", mode="unsupervised")
    assert len(samples) == 6 and all(Path(s.image_path).is_file() for s in samples)
    result = run_cli(
        "train",
        "--data",
        str(mvtec_dir / "manifest.csv"),
        "--out",
        str(tmp_path / "m.pt"),
        "--image-size",
        "64",
        "--epochs",
        "1",
        "--no-eval",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["train_counts"]["good"] == 6


def test_importing_ml_pulls_in_neither_django_nor_celery_nor_torch():
    code = (
        "import sys, ml; "
        "from ml import TrainConfig; "
        "bad = [m for m in ('django', 'celery', 'torch') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
    full = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from ml import fit, Predictor; print('django' in sys.modules, 'celery' in sys.modules)",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert full.stdout.strip() == "False False", full.stderr


def test_onnxruntime_backend_predicts_like_torch(checkpoint, tiny_samples):
    paths = [s.image_path for s in tiny_samples[:3]]
    reference = Predictor(checkpoint, backend="torch").predict(paths)
    fast = Predictor(checkpoint, backend="onnxruntime")
    assert fast.meta["backend"] == "onnxruntime"
    assert Predictor(checkpoint).meta["backend"] == "onnxruntime"  # "auto" on the CPU
    for a, b in zip(reference, fast.predict(paths, batch_size=2), strict=True):
        assert b.score == pytest.approx(a.score, abs=1e-4)
        np.testing.assert_allclose(b.anomaly_map, a.anomaly_map, atol=1e-4)
    with pytest.raises(ValueError, match="backend"):
        Predictor(checkpoint, backend="tensorrt")
