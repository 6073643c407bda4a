"""Working resolution as height x width: parsing, the auto rule, non-square training/inference, old checkpoints,
ONNX export at 640 x 232, the CLI's --image-size."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from ml import Predictor, Sample, TrainConfig, fit
from ml.anomaly_generator import perlin_mask
from ml.cli import build_parser
from ml.data import FeatureCache, image_to_tensor, load_mask
from ml.geometry import auto_size, check_size, format_size, parse_size
from ml.predict import FORMAT_VERSION, build_model, trainable_state
from ml.train import training_entries

from .conftest import add_defect, textured_image


def strip_samples(root, n_good=8, n_bad=0, height=48, width=128, seed=0):
    """Wide strip images (height x width) with a few pit defects, written as PNGs."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(n_good + n_bad):
        image = textured_image(rng, width)[:height]
        mask = None
        if i >= n_good:
            square, square_mask = add_defect(rng, textured_image(rng, width))
            image, mask = square[:height], square_mask[:height]
            mask[: height // 2, : width // 2] = 255  # a defect that is surely inside the strip
            image[mask > 0] //= 4
        Image.fromarray(image).save(root / f"{i}.png")
        mask_path = None
        if mask is not None:
            Image.fromarray(mask).save(root / f"{i}_mask.png")
            mask_path = str(root / f"{i}_mask.png")
        samples.append(Sample(str(root / f"{i}.png"), int(i >= n_good), mask_path))
    return samples


@pytest.mark.parametrize(
    ("value", "expected"),
    [(256, (256, 256)), ("256", (256, 256)), ("640x232", (640, 232)), ("640X232", (640, 232)), ((64, 32), (64, 32))],
)
def test_parse_size_reads_ints_strings_and_pairs_as_height_by_width(value, expected):
    assert parse_size(value) == expected
    assert parse_size("auto") == "auto"


@pytest.mark.parametrize("value", ["640x", "x232", "big", "", 2.5, True, (1, 2, 3)])
def test_parse_size_names_a_bad_value(value):
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(value)


def test_check_size_requires_the_feature_stride_and_says_which_side_breaks_it():
    assert check_size((640, 232)) == (640, 232)
    with pytest.raises(ValueError, match=r"640x230: the width 230 must be a multiple of 8"):
        check_size((640, 230))
    with pytest.raises(ValueError, match=r"the height 16 must be"):
        check_size((16, 64))
    with pytest.raises(ValueError, match="multiple of 16"):
        check_size((640, 232), multiple=16)
    assert format_size((256, 256)) == "256" and format_size((640, 232)) == "640x232"


def test_auto_keeps_a_square_square_and_a_strip_a_strip_within_the_pixel_budget():
    # large images are reduced to about 512 x 512 pixels (small defects need the larger budget: docs/ml.md)
    assert auto_size([(1024, 1024)] * 3) == (512, 512)
    assert auto_size([(1000, 1030), (1030, 1000), (1024, 1024)]) == (512, 512)
    # 500 rows x 1250 columns (width/height 2.5): 320 x 816, about 512 * 512 pixels, multiples of 16
    assert auto_size([(1250, 500)] * 5) == (320, 816)
    # KSDD2-like tall strips (232 wide, 640 high, 148,480 pixels: between the bounds, so about their own area)
    h, w = auto_size([(232, 640)] * 4)
    assert h > w and h % 16 == 0 and w % 16 == 0 and abs(h * w - 232 * 640) < 0.1 * 232 * 640
    # the median decides, not outliers
    assert auto_size([(1250, 500)] * 3 + [(100, 2000)]) == (320, 816)
    assert auto_size([(1250, 500)] * 3, pixels=256 * 256) == (160, 400)
    # small images are enlarged to about 256 x 256, images in between keep about their area
    assert auto_size([(64, 64)] * 3) == (256, 256)
    assert auto_size([(300, 270)] * 3) == (272, 304)
    assert auto_size([]) == (256, 256)


def test_train_config_keeps_int_sizes_and_adds_height_and_width():
    square = TrainConfig.from_preset("fast", image_size=256)
    assert square.image_size == 256 and square.size == (256, 256) and square.to_dict()["image_size"] == 256
    strip = TrainConfig.from_preset("fast", image_size="640x232")
    assert strip.image_size == (640, 232) and (strip.image_height, strip.image_width) == (640, 232)
    assert strip.to_dict()["image_size"] == [640, 232]
    assert TrainConfig.from_dict(strip.to_dict()) == strip
    assert TrainConfig.from_preset("fast", image_size=(64, 64)).image_size == 64
    with pytest.raises(ValueError, match="multiple of 8"):
        TrainConfig(image_size="640x230")
    with pytest.raises(ValueError, match="is not a size"):
        TrainConfig(image_size="wide")
    with pytest.raises(ValueError, match="resolved"):
        TrainConfig(image_size="auto").size  # noqa: B018 - the property raises


def test_non_square_loading_resizes_to_height_by_width(tmp_path):
    Image.fromarray(np.zeros((50, 90, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.full((50, 90), 255, np.uint8)).save(tmp_path / "m.png")
    assert image_to_tensor(tmp_path / "a.png", (64, 32)).shape == (3, 64, 32)
    assert image_to_tensor(tmp_path / "a.png", 48).shape == (3, 48, 48)
    assert load_mask(tmp_path / "m.png", (40, 72)).shape == (1, 40, 72)
    assert load_mask(None, (40, 72)).sum() == 0


def test_perlin_masks_at_strip_feature_sizes_are_binary_and_not_empty():
    g = torch.Generator().manual_seed(3)
    masks = torch.stack([perlin_mask((80, 29), 0.2, g) for _ in range(30)])
    assert masks.shape == (30, 80, 29)
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    assert 0.02 < masks.mean() < 0.9


def test_training_forward_at_a_strip_size_has_strip_shapes_and_no_nans(tmp_path):
    samples = strip_samples(tmp_path / "s", n_good=3, n_bad=2, height=48, width=128)
    config = TrainConfig.from_preset("fast", mode="supervised", image_size=(48, 128), epochs=1, upscale=2)
    model = build_model(config).train()
    feature = model.feature_size(config.size)
    assert feature == (12, 32)
    cache = FeatureCache.build(
        model.extractor, samples, training_entries(config, samples), config.size, feature, torch.device("cpu")
    )
    assert cache.masks.shape[1:] == (1, 12, 32) and cache.masks[-1].sum() > 0
    features, masks, labels, _ = cache.batch(range(len(cache)), torch.device("cpu"))
    out = model.forward_features(features, masks, labels, generator=torch.Generator().manual_seed(0))
    assert out.map_logits.shape == (2 * len(cache), 1, 12, 32)
    assert torch.isfinite(out.map_logits).all() and torch.isfinite(out.score_logits).all()
    model.eval()
    inference = model(torch.rand(2, 3, 48, 128))
    assert inference.anomaly_map.shape == (2, 1, 48, 128) and torch.isfinite(inference.anomaly_map).all()


@pytest.fixture
def strip_fit(tmp_path):
    samples = strip_samples(tmp_path / "s", n_good=8, n_bad=4, height=48, width=128)
    config = TrainConfig.from_preset("fast", mode="supervised", image_size="32x96", epochs=1)
    return fit(config, samples[:6] + samples[8:10], tmp_path / "out", eval_samples=samples[6:8] + samples[10:]), samples


def test_fit_and_predict_at_a_strip_size_map_back_to_each_images_geometry(strip_fit):
    result, samples = strip_fit
    checkpoint = torch.load(result.checkpoint_path, weights_only=True)
    assert checkpoint["image_size"] == [32, 96]
    assert (checkpoint["image_height"], checkpoint["image_width"]) == (32, 96)
    assert result.metrics["pixel_auroc"] is not None and np.isfinite(result.metrics["pixel_auroc"])
    predictor = Predictor(result.checkpoint_path, device="cpu")
    assert (predictor.meta["image_height"], predictor.meta["image_width"]) == (32, 96)
    odd = np.full((70, 190, 3), 120, np.uint8)
    results = predictor.predict([samples[0].image_path, odd])
    assert results[0].anomaly_map.shape == (48, 128) and results[1].anomaly_map.shape == (70, 190)
    assert all(0 <= r.score <= 1 and np.isfinite(r.anomaly_map).all() for r in results)
    scores, _, maps, masks = predictor.score_samples(samples[10:])
    assert maps[0].shape == (32, 96) and masks[0].shape == (32, 96) and masks[0].any()


def test_onnx_export_at_640x232_matches_torch(tmp_path, strip_fit):
    import onnxruntime as ort

    from ml.export import export_onnx

    result, _ = strip_fit
    ckpt = torch.load(result.checkpoint_path, weights_only=True)
    config = dataclasses.replace(TrainConfig.from_dict(ckpt["config"]), image_size="640x232")
    ckpt["config"] = config.to_dict()  # same trained weights: every layer is size-independent
    torch.save(ckpt, tmp_path / "tall.pt")
    report = export_onnx(tmp_path / "tall.pt", tmp_path / "tall.onnx")
    assert (report["image_height"], report["image_width"]) == (640, 232)
    assert report["max_abs_diff"] is not None and report["max_abs_diff"] < 1e-4
    session = ort.InferenceSession(str(tmp_path / "tall.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1:] == [3, 640, 232]
    meta = session.get_modelmeta().custom_metadata_map
    assert (meta["image_height"], meta["image_width"]) == ("640", "232")
    batch = torch.rand(3, 3, 640, 232, generator=torch.Generator().manual_seed(5))
    scores, maps = session.run(None, {"images": batch.numpy()})
    ref_scores, ref_maps = Predictor(tmp_path / "tall.pt", backend="torch").forward_batch(batch)
    assert maps.shape == (3, 640, 232)
    np.testing.assert_allclose(scores, ref_scores.numpy(), atol=1e-4)
    np.testing.assert_allclose(maps, ref_maps.numpy(), atol=1e-4)


def test_a_checkpoint_written_the_old_way_still_loads_and_predicts(tmp_path):
    """Before height x width: config without image_height/tiling keys, image_size an int, no extra fields."""
    config = TrainConfig.from_preset("fast", image_size=64, epochs=1, pretrained=False)
    model = build_model(config)
    old_config = {k: v for k, v in config.to_dict().items() if k not in ("auto_pixels", "tiling", "tile_overlap")}
    payload = {
        "config": old_config,
        "state_dict": trainable_state(model),
        "backbone": {"name": "efficientnet_lite0", "layers": ["stage3", "stage5"], "channels": [40, 112]},
        "backbone_state_dict": {k: v.cpu() for k, v in model.extractor.state_dict().items()},
        "image_size": 64,
        "threshold": 0.5,
        "metrics": {},
        "format_version": FORMAT_VERSION,
    }
    torch.save(payload, tmp_path / "old.pt")
    for backend in ("torch", "onnxruntime"):
        predictor = Predictor(tmp_path / "old.pt", device="cpu", backend=backend)
        assert predictor.meta["image_size"] == 64 and predictor.size == (64, 64)
        assert predictor.meta["tiling"] == "off"
        result = predictor.predict([np.full((40, 100, 3), 90, np.uint8)])[0]
        assert result.anomaly_map.shape == (40, 100) and 0 <= result.score <= 1


def test_fit_rejects_a_size_off_the_backbones_stride_with_a_clear_error(tmp_path):
    samples = strip_samples(tmp_path / "s", n_good=2)
    config = TrainConfig.from_preset("fast", image_size=(40, 64), epochs=1)
    config.image_size = (36, 64)  # past the config's own check: fit checks the backbone's measured stride
    with pytest.raises(ValueError, match="height 36 must be a multiple of 8"):
        fit(config, samples, tmp_path / "out")


def test_fit_resolves_auto_from_the_training_images(tmp_path):
    samples = strip_samples(tmp_path / "s", n_good=4, height=48, width=128)
    config = TrainConfig.from_preset("fast", image_size="auto", auto_pixels=32 * 96, epochs=1)
    result = fit(config, samples, tmp_path / "out")
    assert result.config.image_size == (32, 96)  # 128/48 = 2.67: sqrt(3072 / 2.67) = 34 -> 32, 90.5 -> 96
    assert torch.load(result.checkpoint_path, weights_only=True)["image_size"] == [32, 96]


@pytest.mark.parametrize(("arg", "expected"), [("640x232", (640, 232)), ("256", 256), ("auto", "auto")])
def test_cli_image_size_takes_height_by_width_a_side_or_auto(arg, expected):
    args = build_parser().parse_args(["train", "--data", "d", "--out", "m.pt", "--image-size", arg])
    assert args.image_size == expected


def test_cli_rejects_a_bad_image_size(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--data", "d", "--out", "m.pt", "--image-size", "640x"])
    assert "is not a size" in capsys.readouterr().err
