"""What the model sees of 16-bit, float and transparent images (ml.pixels): scaled from the depth their values
use, never clipped to white or black, and the same for training, scoring and the browser's view."""

import numpy as np
import pytest
from PIL import Image

from ml.data import image_to_tensor, load_mask, to_pil
from ml.pixels import defect_pixels, sample_depth, to_8bit, to_rgb


def gradient(high: int, dtype=np.uint16) -> np.ndarray:
    return np.linspace(0, high, 64 * 48).reshape(48, 64).round().astype(dtype)


@pytest.mark.parametrize(
    ("brightest", "depth"),
    [(0, 8), (255, 8), (256, 10), (1023, 10), (4095, 12), (4096, 14), (16383, 14), (65535, 16), (250_000, 18)],
)
def test_the_depth_is_the_smallest_standard_one_that_holds_the_brightest_value(brightest, depth):
    assert sample_depth(brightest) == depth


@pytest.mark.parametrize("high", [1023, 4095, 16383, 65535], ids=["10-bit", "12-bit", "14-bit", "16-bit"])
def test_a_high_depth_image_fills_the_8_bit_range(tmp_path, high):
    path = tmp_path / "gray16.png"
    Image.fromarray(gradient(high)).save(path)  # Pillow writes mode I;16
    with Image.open(path) as opened:
        assert opened.mode == "I;16"

    seen = np.asarray(to_pil(path))

    assert seen.shape == (48, 64, 3) and seen.min() == 0 and seen.max() == 255
    assert len(np.unique(seen[..., 0])) > 200  # a gradient, not a white or black picture
    assert np.abs(seen[..., 0].astype(int) - np.asarray(to_8bit(Image.fromarray(gradient(255, np.uint8))))).max() <= 1


def test_a_16_bit_tiff_and_its_8_bit_copy_reach_the_model_alike(tmp_path):
    values = gradient(4095)
    Image.fromarray(values).save(tmp_path / "a.tif")
    Image.fromarray((values / 4095 * 255).round().astype(np.uint8)).save(tmp_path / "a.png")

    deep, flat = image_to_tensor(tmp_path / "a.tif", 32), image_to_tensor(tmp_path / "a.png", 32)

    assert (deep - flat).abs().max() <= 2 / 255


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.linspace(0, 1, 100, dtype=np.float32), (0, 255)),
        (np.linspace(0, 4095, 100, dtype=np.float32), (0, 255)),
        (np.linspace(-2, 2, 100, dtype=np.float32), (0, 255)),
    ],
    ids=["unit-range", "integer-valued", "negative"],
)
def test_float_images_are_scaled_not_clipped(values, expected):
    seen = np.asarray(to_rgb(Image.fromarray(values.reshape(10, 10), mode="F")))

    assert (seen.min(), seen.max()) == expected


def test_nan_pixels_read_as_black_instead_of_poisoning_the_image():
    values = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
    values[0, 0] = np.nan

    seen = np.asarray(to_8bit(Image.fromarray(values, mode="F")))

    assert seen[0, 0] == 0 and seen.max() == 255


def test_32_bit_integers_beyond_16_bits_are_scaled_to_their_depth():
    values = gradient(250_000, np.int32)

    seen = np.asarray(to_8bit(Image.fromarray(values, mode="I")))

    assert seen.max() == round(250_000 * 255 / (2**18 - 1))  # an 18-bit image
    assert 115 <= seen[24, 32] <= 128  # the middle of the ramp is mid-grey, not white


def test_transparent_pixels_are_white_for_the_model_as_in_the_thumbnail():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., :3] = 40
    rgba[:2, :, 3] = 255  # top half opaque dark grey, bottom half transparent

    seen = np.asarray(to_rgb(Image.fromarray(rgba, "RGBA")))

    assert (seen[:2] == 40).all() and (seen[2:] == 255).all()


def test_8_bit_images_pass_through_unchanged():
    gray = Image.fromarray(gradient(255, np.uint8))

    assert to_8bit(gray) is gray and np.array_equal(np.asarray(to_rgb(gray))[..., 1], np.asarray(gray))


def test_masks_in_any_encoding_load_to_the_same_defect_area(tmp_path):
    square = np.zeros((40, 40), dtype=np.uint8)
    square[10:30, 10:30] = 1
    Image.fromarray(square).save(tmp_path / "zero-one.png")
    Image.fromarray(square * 255).save(tmp_path / "zero-255.png")
    Image.fromarray(square.astype(np.uint16) * 65535).save(tmp_path / "sixteen.png")

    areas = {name: int(load_mask(tmp_path / f"{name}.png", 40).sum()) for name in ("zero-one", "zero-255", "sixteen")}

    assert set(areas.values()) == {400}, areas


def test_a_blurred_mask_keeps_its_core_not_its_halo():
    square = np.zeros((40, 40), dtype=np.float32)
    square[10:30, 10:30] = 255
    kernel = np.ones(5, dtype=np.float32) / 5
    blurred = np.apply_along_axis(lambda r: np.convolve(r, kernel, "same"), 0, square)
    blurred = np.apply_along_axis(lambda r: np.convolve(r, kernel, "same"), 1, blurred)
    mask = Image.fromarray(blurred.round().astype(np.uint8))

    area = int((np.asarray(defect_pixels(mask)) == 255).sum())

    assert (blurred > 0).sum() > 550 and abs(area - 400) <= 40


def test_a_hot_pixel_does_not_change_how_a_dim_frame_reads():
    dim = np.full((100, 100), 700, dtype=np.uint16)  # a dim frame of a 12-bit camera: reads as 10-bit
    dim[40:60, 40:60] = 900
    hot = dim.copy()
    hot[0, 0] = 4095  # one hot pixel

    plain, with_hot = np.asarray(to_8bit(Image.fromarray(dim))), np.asarray(to_8bit(Image.fromarray(hot)))

    assert np.array_equal(plain[1:], with_hot[1:]) and with_hot[0, 0] == 255


def test_the_brightest_value_sets_aside_the_brightest_ten_thousandth():
    from ml.pixels import brightest_value

    values = np.arange(100_000, dtype=np.uint16) % 60000
    values[:5] = 65535  # 5 hot pixels of 100,000: fewer than 0.01 %

    assert brightest_value(values) == np.sort(values)[-11]
    assert brightest_value(values.astype(np.float32)) == np.sort(values)[-11]
    assert brightest_value(np.array([3, 9], dtype=np.uint16)) == 9  # too few pixels to set any aside


def test_a_model_reads_every_16_bit_image_on_one_scale_the_largest_its_training_images_use(tmp_path):
    from ml.config import TrainConfig
    from ml.data import Sample
    from ml.train import plan

    bright, dim = gradient(4000), gradient(800)  # one 12-bit camera: a normal frame and a dark part
    Image.fromarray(bright).save(tmp_path / "bright.png")
    Image.fromarray(dim).save(tmp_path / "dim.png")
    Image.fromarray(gradient(255, np.uint8)).save(tmp_path / "eight.png")
    samples = [Sample(str(tmp_path / f"{n}.png"), 0) for n in ("bright", "dim", "eight")]

    config, _ = plan(TrainConfig.from_preset("fast", image_size=32), samples)

    assert config.sample_depth == 12
    assert TrainConfig.from_dict(config.to_dict()).sample_depth == 12  # the checkpoint keeps it
    own, model = image_to_tensor(tmp_path / "dim.png", 32), image_to_tensor(tmp_path / "dim.png", 32, 12)
    assert model.max() <= 800 / 4095 + 0.01 < 0.5 < own.max()  # the dark part stays dark for the model
    eight_bit = [Sample(str(tmp_path / "eight.png"), 0)]
    assert plan(TrainConfig.from_preset("fast", image_size=32), eight_bit)[0].sample_depth is None


def test_a_configured_depth_is_kept_and_a_wrong_one_refused(tmp_path):
    from ml.config import TrainConfig

    assert TrainConfig(sample_depth=14).sample_depth == 14
    with pytest.raises(ValueError, match="sample_depth"):
        TrainConfig(sample_depth=40)


def test_the_predictor_reads_16_bit_images_with_the_models_depth(tmp_path):
    import torch

    from ml.config import TrainConfig
    from ml.predict import Predictor, build_model

    config = TrainConfig.from_preset("fast", image_size=32, pretrained=False, sample_depth=12)
    model = build_model(config).eval()
    predictor = Predictor.from_model(model, config, torch.device("cpu"))
    dim = gradient(800)
    as_twelve_bit = (dim.astype(np.float64) * 255 / 4095).round().astype(np.uint8)  # what a 12-bit reading gives
    own_depth = (dim.astype(np.float64) * 255 / 1023).round().astype(np.uint8)

    [deep] = predictor.predict([Image.fromarray(dim)])
    [twelve] = predictor.predict([Image.fromarray(as_twelve_bit)])
    [ten] = predictor.predict([Image.fromarray(own_depth)])

    same = np.abs(deep.anomaly_map - twelve.anomaly_map).max()
    other = np.abs(deep.anomaly_map - ten.anomaly_map).max()  # the per-image reading (10-bit) differs
    assert deep.score == pytest.approx(twelve.score, abs=1e-7) and same < 1e-7 < other
