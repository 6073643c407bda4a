"""The CUDA path is chosen by the device: fp16 autocast + GradScaler in `fit` and fp16 autocast in the
Predictor on CUDA, the CPU recipe (onnxruntime by default) elsewhere. The CUDA test runs only with a GPU."""

import contextlib

import pytest
import torch

from ml import Predictor, Sample, TrainConfig, fit


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from .conftest import write_mvtec

    root = write_mvtec(tmp_path_factory.mktemp("data"), n_train=8, n_test_good=0, n_test_bad=0)
    out = tmp_path_factory.mktemp("out")
    samples = [Sample(str(p), 0, None) for p in sorted((root / "train/good").iterdir())]
    return fit(TrainConfig.from_preset("fast", image_size=64, epochs=1, batch_size=4), samples, out).checkpoint_path


def test_on_the_cpu_the_predictor_uses_no_autocast_and_onnxruntime(checkpoint):
    predictor = Predictor(checkpoint, device="cpu")

    assert predictor.device.type == "cpu"
    assert isinstance(predictor._autocast(), contextlib.nullcontext)
    assert predictor.meta["backend"] == "onnxruntime"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_fit_and_predict_run_in_fp16_and_agree_with_fp32(tmp_path, tiny_samples):
    config = TrainConfig.from_preset("fast", image_size=64, epochs=1, batch_size=4, device="cuda", autocast=True)
    result = fit(config, tiny_samples, tmp_path / "out")
    gpu = Predictor(result.checkpoint_path, device="cuda")
    cpu = Predictor(result.checkpoint_path, device="cpu", backend="torch")

    assert gpu.device.type == "cuda" and gpu.meta["backend"] == "torch"
    paths = [s.image_path for s in tiny_samples[:4]]
    for a, b in zip(gpu.predict(paths), cpu.predict(paths), strict=True):
        assert abs(a.score - b.score) < 2e-2
        assert abs(a.anomaly_map - b.anomaly_map).max() < 2e-2


def test_the_feature_cache_lives_on_a_gpu_when_it_fits_and_on_the_host_otherwise(monkeypatch):
    from ml import data

    gib = 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10 * gib, 140 * gib))
    cuda = torch.device("cuda", 0)

    assert data.cache_device(torch.device("cpu"), 1) == torch.device("cpu")
    assert data.cache_device(cuda, 4 * gib) == cuda  # within half the free memory
    assert data.cache_device(cuda, 6 * gib) == torch.device("cpu")  # the training needs the rest


def test_a_cache_on_the_host_serves_batches_on_the_training_device(tiny_samples):
    from ml.data import CacheEntry, FeatureCache

    entries = [CacheEntry(i, "none") for i in range(len(tiny_samples))]
    cache = FeatureCache.build(
        lambda images: [images[:, :2, ::8, ::8]], tiny_samples, entries, 64, 8, torch.device("cpu"), batch_size=3
    )

    assert cache.device == torch.device("cpu") and cache.features[0].dtype == torch.float16
    features, masks, labels, valid = cache.batch([2, 0], torch.device("cpu"))
    assert features[0].shape == (2, 2, 8, 8) and features[0].dtype == torch.float32
    assert masks.shape == (2, 1, 8, 8) and labels.tolist() == [0.0, 0.0] and valid.all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_the_feature_cache_is_built_in_gpu_memory(tiny_samples):
    from ml.data import CacheEntry, FeatureCache

    entries = [CacheEntry(i, "none") for i in range(len(tiny_samples))]
    device = torch.device("cuda")
    cache = FeatureCache.build(lambda images: [images[:, :, ::8, ::8]], tiny_samples, entries, 64, 8, device)

    assert cache.device.type == "cuda" and cache.masks.device.type == "cuda"
    features, *_ = cache.batch([0, 1], device)
    assert features[0].device.type == "cuda"
