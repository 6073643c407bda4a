"""Tiled mode: the grid covers every pixel, stitching, the image score rule, tile labels, training and prediction."""

import numpy as np
import pytest
import torch
from PIL import Image

from ml import Predictor, Sample, TrainConfig, fit
from ml.data import sample_tensors
from ml.tiling import TileGrid, auto_tiles, grid_from, image_scores, parse_tiling, tile_samples


@pytest.mark.parametrize(
    ("rows", "cols", "tile", "overlap"), [(2, 2, (64, 64), 0.25), (1, 3, (32, 48), 0.5), (3, 2, (40, 24), 0.0)]
)
def test_tiles_cover_every_pixel_of_the_grid_and_stay_inside_it(rows, cols, tile, overlap):
    grid = TileGrid(rows, cols, tile, overlap)
    height, width = grid.full
    cover = torch.zeros(height, width)
    for top, left in grid.boxes():
        assert top + tile[0] <= height and left + tile[1] <= width
        cover[top : top + tile[0], left : left + tile[1]] += 1
    assert cover.min() >= 1
    assert len(grid.boxes()) == rows * cols
    if overlap == 0.0:
        assert (height, width) == (rows * tile[0], cols * tile[1]) and cover.max() == 1


def test_cut_then_stitch_gives_the_image_back_and_overlaps_cross_fade_without_a_seam():
    grid = TileGrid(2, 3, (16, 24), 0.25)
    images = torch.rand(2, 1, *grid.full)
    tiles = grid.cut(images)
    assert tiles.shape == (2 * 6, 1, 16, 24)
    torch.testing.assert_close(grid.stitch(tiles[:, 0]), images[:, 0])
    # constant tiles k: a pixel one tile covers keeps its value; across an overlap the value moves from one
    # tile's to the next one's in small steps (a seam would be one jump from 0 to 1)
    maps = torch.arange(6, dtype=torch.float32).view(6, 1, 1).expand(6, 16, 24).clone()
    stitched = grid.stitch(maps)[0]
    assert stitched[0, 0] == 0 and stitched[-1, -1] == 5
    step_h, step_w = grid.step
    overlap = 24 - step_w  # tiles 0 and 1 share columns step_w .. 23
    across = stitched[0, step_w - 1 : 24 + 1]
    assert across[0] == 0 and across[-1] == pytest.approx(1.0)
    assert bool((across.diff() >= 0).all()) and float(across.diff().max()) <= 1 / overlap + 1e-6
    assert float(stitched[0, step_w + overlap // 2]) == pytest.approx(0.5, abs=1 / overlap)
    # with no overlap there is nothing to blend: each pixel is its tile's
    flat = TileGrid(1, 2, (8, 8), 0.0)
    torch.testing.assert_close(
        flat.stitch(torch.stack([torch.zeros(8, 8), torch.ones(8, 8)])),
        torch.cat([torch.zeros(1, 8, 8), torch.ones(1, 8, 8)], dim=2),
    )


def test_the_image_score_is_the_stitched_maps_max_for_seg_and_the_worst_tile_otherwise():
    grid = TileGrid(2, 2, (8, 8), 0.25)
    tile_maps = torch.rand(8, 8, 8)
    stitched = grid.stitch(tile_maps)
    tile_scores = torch.tensor([0.1, 0.7, 0.2, 0.3, 0.9, 0.0, 0.4, 0.5])
    seg = image_scores(grid, tile_scores, stitched, "seg")
    assert torch.equal(seg, stitched.flatten(1).amax(dim=1))
    assert image_scores(grid, tile_scores, stitched, "cls").tolist() == pytest.approx([0.7, 0.9])
    assert image_scores(grid, tile_scores, stitched, "mean").tolist() == pytest.approx([0.7, 0.9])


def test_tiling_setting_parses_and_names_bad_values():
    assert parse_tiling("off") == (1, 1) and parse_tiling("2x3") == (2, 3) and parse_tiling("auto") == "auto"
    for bad in ("2x", "0x2", "9x9", "many", 3):
        with pytest.raises(ValueError, match="is not valid"):
            parse_tiling(bad)
    with pytest.raises(ValueError, match="tile_overlap"):
        TrainConfig(tile_overlap=1.0)
    with pytest.raises(ValueError, match="resolved"):
        grid_from("auto", (64, 64), 0.25)


def test_auto_tiles_only_images_at_least_twice_the_working_resolution():
    assert auto_tiles([(1024, 1024)] * 3, (256, 256)) == (2, 2)
    assert auto_tiles([(300, 300)] * 3, (256, 256)) == (1, 1)
    assert auto_tiles([(1250, 500)], (160, 400)) == (2, 2)
    assert auto_tiles([(1250, 300)], (160, 400)) == (1, 2)
    assert auto_tiles([], (256, 256)) == (1, 1)


def _image(tmp_path, name, size=96, defect=None):
    rng = np.random.default_rng(sum(name.encode()))
    pixels = (rng.random((size, size, 3)) * 40 + 100).astype(np.uint8)
    mask_path = None
    if defect is not None:
        top, left = defect
        pixels[top : top + 6, left : left + 6] = 0
        mask = np.zeros((size, size), np.uint8)
        mask[top : top + 6, left : left + 6] = 255
        Image.fromarray(mask).save(tmp_path / f"{name}_mask.png")
        mask_path = str(tmp_path / f"{name}_mask.png")
    Image.fromarray(pixels).save(tmp_path / f"{name}.png")
    return Sample(str(tmp_path / f"{name}.png"), int(defect is not None), mask_path)


def test_training_tiles_take_their_labels_from_their_part_of_the_mask(tmp_path):
    grid = TileGrid(2, 2, (32, 32), 0.25)  # full 56 x 56
    good = _image(tmp_path, "good")
    bad = _image(tmp_path, "bad", defect=(5, 5))  # top-left corner only
    weak = Sample(good.image_path, 1, None)
    tiles = tile_samples([good, bad, weak], grid)
    assert [t.label for t in tiles] == [0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1]
    # The weak image's tiles are one bag (its index), defective as a whole, no tile's mask known.
    assert [t.bag for t in tiles] == [-1] * 8 + [2] * 4 and all(t.mask_path is None for t in tiles[8:])
    image, mask = sample_tensors(tiles[4], grid.tile)
    assert image.shape == (3, 32, 32) and mask.shape == (1, 32, 32) and mask.sum() > 0
    assert sample_tensors(tiles[7], grid.tile)[1].sum() == 0


def test_tiled_fit_and_predict_stitch_maps_at_the_image_geometry(tmp_path):
    train = [_image(tmp_path, f"g{i}") for i in range(6)] + [
        _image(tmp_path, f"b{i}", defect=(10, 60)) for i in range(3)
    ]
    test = [_image(tmp_path, "tg"), _image(tmp_path, "tb", defect=(50, 20))]
    config = TrainConfig.from_preset("fast", mode="supervised", image_size=32, tiling="2x2", epochs=1)
    result = fit(config, train, tmp_path / "out", eval_samples=test)
    assert result.train_counts == {"good": 6, "defective": 3, "masks": 3}  # images, not tiles
    checkpoint = torch.load(result.checkpoint_path, weights_only=True)
    assert checkpoint["tiling"] == "2x2" and checkpoint["image_size"] == 32
    predictor = Predictor(result.checkpoint_path, device="cpu")
    assert predictor.grid.full == (56, 56) and predictor.input_size == (56, 56)
    _, _, maps, masks = predictor.score_samples(test)
    assert maps[0].shape == (56, 56) and masks[1].shape == (56, 56)
    results = predictor.predict([test[1].image_path, np.full((40, 130, 3), 100, np.uint8)])
    assert results[0].anomaly_map.shape == (96, 96) and results[1].anomaly_map.shape == (40, 130)
    # the product's score (seg when unsupervised; here the supervised fast preset's "mean") is the worst tile's
    batch = torch.stack([sample_tensors(test[1], (56, 56))[0]])
    tile_scores, _ = predictor.forward_batch(predictor.grid.cut(batch))
    scores, stitched = predictor.forward_images(batch)
    assert scores[0] == pytest.approx(float(tile_scores.max()), abs=1e-6)
    assert stitched.shape == (1, 56, 56)


def test_tiled_seg_score_equals_the_max_of_the_returned_map(tmp_path):
    train = [_image(tmp_path, f"g{i}") for i in range(4)]
    config = TrainConfig.from_preset("fast", image_size=32, tiling="1x2", epochs=1)
    assert config.score == "seg"
    result = fit(config, train, tmp_path / "out")
    predictor = Predictor(result.checkpoint_path, device="cpu")
    batch = torch.stack([sample_tensors(s, predictor.input_size)[0] for s in train])
    scores, maps = predictor.forward_images(batch)
    assert maps.shape == (4, 32, 56)
    torch.testing.assert_close(scores, maps.flatten(1).amax(dim=1), atol=1e-6, rtol=0)


def test_fit_resolves_auto_tiling_from_the_training_images(tmp_path):
    train = [_image(tmp_path, f"g{i}", size=96) for i in range(3)]
    result = fit(TrainConfig.from_preset("fast", image_size=32, tiling="auto", epochs=1), train, tmp_path / "out")
    assert result.config.tiling == "2x2"  # 96 // 32 = 3 tiles a side, capped at 2


def test_a_tile_of_an_image_rewritten_at_the_same_path_comes_from_the_new_file(tmp_path):
    import os

    grid = TileGrid(2, 2, (32, 32), 0.25)
    path = tmp_path / "part.png"
    Image.fromarray(np.full((56, 56, 3), 40, np.uint8)).save(path)
    tile = tile_samples([Sample(str(path), 0, None)], grid)[3]
    before = sample_tensors(tile, grid.tile)[0]

    Image.fromarray(np.full((56, 56, 3), 200, np.uint8)).save(path)  # same path, same size, new pixels
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = sample_tensors(tile, grid.tile)[0]

    assert after.mean() > before.mean() + 0.5


def test_a_tiled_model_exports_whole_and_the_onnx_gives_what_the_predictor_gives(tmp_path):
    """A line controller feeds the exported model the whole image: the graph cuts, scores and stitches."""
    import onnxruntime as ort

    from ml.export import export_onnx

    train = [_image(tmp_path, f"g{i}") for i in range(4)] + [_image(tmp_path, "b", defect=(10, 60))]
    for tiling, mode in (("2x2", "supervised"), ("1x2", "unsupervised")):  # scores "mean" and "seg"
        config = TrainConfig.from_preset("fast", mode=mode, image_size=32, tiling=tiling, epochs=1)
        result = fit(config, train, tmp_path / f"out-{tiling}")
        predictor = Predictor(result.checkpoint_path, device="cpu", backend="torch")
        report = export_onnx(result.checkpoint_path, tmp_path / f"{tiling}.onnx", threshold=0.4)
        height, width = predictor.input_size

        assert (report["image_height"], report["image_width"]) == (height, width) == predictor.grid.full
        assert report["max_abs_diff"] < 1e-4
        session = ort.InferenceSession(str(tmp_path / f"{tiling}.onnx"), providers=["CPUExecutionProvider"])
        props = session.get_modelmeta().custom_metadata_map
        assert (props["image_height"], props["image_width"]) == (str(height), str(width))
        assert props["tiling"] == tiling and props["tile_height"] == "32" and props["threshold"] == "0.4"
        for count in (1, 3):  # any batch size
            batch = torch.stack([sample_tensors(s, (height, width))[0] for s in train[:count]])
            scores, maps = session.run(None, {"images": batch.numpy()})
            expected_scores, expected_maps = predictor.forward_images(batch)
            assert maps.shape == (count, height, width)
            np.testing.assert_allclose(scores, expected_scores.numpy(), atol=1e-4)
            np.testing.assert_allclose(maps, expected_maps.numpy(), atol=1e-4)
