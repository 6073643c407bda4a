"""Unsupervised training on feature-map crops (``train_crop``) and the training cache's feature backend
(onnxruntime on the CPU when the work pays for the export)."""

import numpy as np
import pytest
import torch

from ml import Predictor, TrainConfig, fit
from ml.backbones import build_extractor
from ml.data import read_mvtec
from ml.extract import AUTO_MIN_PIXELS, feature_runner
from ml.predict import build_model
from ml.train import random_crop

from .conftest import write_mvtec


def test_the_fast_preset_crops_and_the_paper_preset_does_not():
    assert TrainConfig.from_preset("fast", mode="unsupervised").train_crop == 256
    assert TrainConfig.from_preset("paper", mode="unsupervised").train_crop is None
    with pytest.raises(ValueError, match="multiple of 8"):
        TrainConfig.from_preset("fast", train_crop=100)
    assert TrainConfig.from_dict(TrainConfig.from_preset("fast", image_size=512).to_dict()).train_crop == 256


def test_a_defective_images_crop_holds_its_defect_and_a_weak_label_trains_on_whole_maps():
    config = TrainConfig.from_preset("fast", mode="supervised", image_size=256, train_crop=64, pretrained=False)
    model = build_model(config)
    generator = torch.Generator().manual_seed(3)
    masks = torch.zeros(3, 1, 32, 32)
    masks[1, 0, 30, 2] = 1  # a one-cell defect near a corner
    labels = torch.tensor([0.0, 1.0, 0.0])
    valid = torch.tensor([True, True, True])
    for _ in range(30):
        height, width, corners = random_crop(config, 32, model, generator, masks, labels, valid)
        assert (height, width) == (8, 8)
        top, left = corners[1]
        assert masks[1, 0, top : top + 8, left : left + 8].sum() == 1
    assert len({random_crop(config, 32, model, generator, masks, labels, valid)[2][0] for _ in range(20)}) > 3
    # a defective image without a mask: its defect could be anywhere, so the batch keeps whole maps
    assert random_crop(config, 32, model, generator, masks, labels, torch.tensor([True, False, True])) is None


def test_random_crop_is_a_window_inside_the_map_or_none_when_the_map_is_not_larger():
    config = TrainConfig.from_preset("fast", image_size=(128, 256), train_crop=64, pretrained=False)
    model = build_model(config)
    generator = torch.Generator().manual_seed(0)
    boxes = [random_crop(config, model.feature_size(config.size), model, generator) for _ in range(40)]
    assert len({box[2][0] for box in boxes}) > 5  # random positions
    for height, width, [(top, left)] in boxes:
        assert (height, width) == (8, 8)  # 64 pixels at stride 8
        assert 0 <= top <= 16 - 8 and 0 <= left <= 32 - 8
    # a crop as large as the working resolution trains on whole maps; a taller crop is cut to the map
    assert random_crop(TrainConfig.from_preset("fast", image_size=64), 8, model, generator) is None
    narrow = TrainConfig.from_preset("fast", image_size=(64, 256), train_crop=128, pretrained=False)
    assert random_crop(narrow, (8, 32), model, generator)[:2] == (8, 16)


def test_forward_features_crops_features_and_masks_alike():
    config = TrainConfig.from_preset("fast", image_size=128, pretrained=False)
    model = build_model(config).train()
    with torch.no_grad():
        features = model.extractor(torch.rand(2, 3, 128, 128))
    masks = torch.zeros(2, 1, 16, 16)
    masks[0, 0, 3, 5] = 1  # inside the window below
    masks[1, 0, 0, 0] = 1  # outside it
    out = model.forward_features(
        features, masks, torch.zeros(2), generator=torch.Generator().manual_seed(0), crop=(6, 8, [(2, 4), (2, 4)])
    )
    assert out.map_logits.shape == (4, 1, 6, 8)  # the batch is doubled by the anomaly generator
    assert out.masks[0, 0, 1, 1] == 1 and out.masks[2, 0, 1, 1] == 1  # both copies keep the real mask cell
    assert out.masks.shape == (4, 1, 6, 8)


def test_a_model_trained_on_crops_scores_whole_images(tmp_path):
    root = write_mvtec(tmp_path / "parts", n_train=12, n_test_good=4, n_test_bad=4, size=128)
    config = TrainConfig.from_preset("fast", image_size=128, train_crop=64, epochs=2)
    result = fit(config, read_mvtec(root, "train", False), tmp_path / "out")
    assert result.config.train_crop == 64
    assert all(np.isfinite(h["loss"]) for h in result.history)
    predictions = Predictor(result.checkpoint_path).predict([str(p) for p in sorted((root / "test" / "pit").iterdir())])
    assert all(p.anomaly_map.shape == (128, 128) for p in predictions)


def test_the_onnxruntime_feature_backend_matches_torch():
    pytest.importorskip("onnxruntime")
    extractor = build_extractor("efficientnet_lite0", pretrained=False).eval()
    images = torch.rand(3, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    run, backend = feature_runner(extractor, (64, 96), torch.device("cpu"), backend="onnxruntime")
    assert backend == "onnxruntime"
    with torch.no_grad():
        expected = extractor(images)
    got = run(images)
    assert [tuple(g.shape) for g in got] == [tuple(e.shape) for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert torch.allclose(g, e, atol=1e-4, rtol=1e-4)


def test_auto_exports_only_when_the_work_pays_for_it():
    pytest.importorskip("onnxruntime")
    extractor = build_extractor("efficientnet_lite0", pretrained=False).eval()
    cpu = torch.device("cpu")
    assert feature_runner(extractor, (64, 64), cpu, images=12)[1] == "torch"
    many = AUTO_MIN_PIXELS // (64 * 64)
    assert feature_runner(extractor, (64, 64), cpu, images=many)[1] == "onnxruntime"
    assert feature_runner(extractor, (64, 64), cpu, images=many, backend="torch")[1] == "torch"
    with pytest.raises(ValueError, match="feature backend must be one of"):
        feature_runner(extractor, (64, 64), cpu, backend="tensorrt")
    with pytest.raises(ValueError, match="runs on the CPU"):
        feature_runner(extractor, (64, 64), torch.device("cuda"), backend="onnxruntime")


def test_thin_defects_survive_the_any_rule_of_training_masks():
    from ml.data import downsample_mask

    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :, 30:32] = 1  # a 2-pixel crack, a quarter of a stride-8 cell
    mask[..., 0:16, 0:16] = 1  # a blob of 2 x 2 cells
    area = downsample_mask(mask, 8, "area")
    anyrule = downsample_mask(mask, (8, 8), "any")
    assert area[0, 0, :, 3].sum() == 0  # the paper's rule: the crack is taught as normal
    assert anyrule[0, 0, :, 3].sum() == 8  # every cell it crosses is defective
    assert area[0, 0, :2, :2].sum() == 4 and anyrule[0, 0, :2, :2].sum() == 4  # both keep the blob
    assert anyrule.sum() == 12 and area.sum() == 4
    with pytest.raises(ValueError, match="mask rule must be one of"):
        downsample_mask(mask, 8, "bilinear")
    with pytest.raises(ValueError, match="mask_cells must be one of"):
        TrainConfig.from_preset("fast", mask_cells="max")


def test_the_draw_budget_shortens_unsupervised_fits_on_large_sets_only(tmp_path, tiny_samples):
    fast = TrainConfig.from_preset("fast")
    assert fast.draw_budget == 1200
    assert [fast.budgeted(n).epochs for n in (12, 150, 300, 761)] == [8, 8, 4, 3]
    assert fast.budgeted(300).draw_budget is None  # resolved once
    # epochs asked for are epochs trained; supervised epochs are set by the defects (ml/sampling.py)
    assert TrainConfig.from_preset("fast", epochs=8).budgeted(300).epochs == 8
    assert TrainConfig.from_preset("fast", mode="supervised").budgeted(300).epochs == 8
    with pytest.raises(ValueError, match="draw_budget must be"):
        TrainConfig.from_preset("fast", draw_budget=0)
    # fit trains, reports and records the budgeted epochs: 12 images, budget 24 -> 2, at least 3
    config = TrainConfig.from_preset("fast", image_size=64, draw_budget=24)
    seen = set()
    result = fit(config, tiny_samples, tmp_path / "out", on_progress=lambda p: seen.add(p.epochs))
    assert len(result.history) == 3 and result.config.epochs == 3 and seen == {3}


def test_a_failed_export_falls_back_to_torch_under_auto_only(monkeypatch):
    pytest.importorskip("onnxruntime")
    import ml.extract

    def broken(*_args, **_kwargs):
        raise RuntimeError("exporter cannot handle this backbone")

    monkeypatch.setattr(ml.extract, "onnx_bytes", broken)
    extractor = build_extractor("efficientnet_lite0", pretrained=False).eval()
    many = AUTO_MIN_PIXELS // (64 * 64)
    run, backend = feature_runner(extractor, (64, 64), torch.device("cpu"), images=many)
    assert backend == "torch" and len(run(torch.rand(1, 3, 64, 64))) == 2
    with pytest.raises(RuntimeError, match="exporter cannot handle"):
        feature_runner(extractor, (64, 64), torch.device("cpu"), backend="onnxruntime")


def test_crop_windows_train_the_maps_edges_and_skip_maps_they_would_nearly_cover():
    config = TrainConfig.from_preset("fast", image_size=512, pretrained=False)  # 64 x 64 cells, windows of 32
    model = build_model(config)
    generator = torch.Generator().manual_seed(0)
    coverage = torch.zeros(64)
    for _ in range(2000):
        height, _width, [(top, _left)] = random_crop(config, 64, model, generator)
        coverage[top : top + height] += 1
    # uniform inside corners would cover row 0 in 1 of 33 steps (3 %) against 100 % for row 32
    assert coverage[0] / coverage[32] > 0.25 and coverage[63] / coverage[32] > 0.25
    # a 256 window on a 336 x 288 map (42 x 36 cells) saves less than 2x: whole maps
    assert random_crop(config, (42, 36), model, generator) is None
