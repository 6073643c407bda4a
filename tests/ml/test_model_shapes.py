"""The network has the paper's shapes and parameter counts; channel counts come from the backbone."""

import pytest
import torch

from ml.backbones import BackboneWeightsError, build_extractor
from ml.config import TrainConfig
from ml.predict import build_model
from ml.torch_model import InferenceOutput, TrainOutput


@pytest.fixture(scope="module")
def paper_model():
    torch.manual_seed(0)
    config = TrainConfig.from_preset("paper", backbone="wide_resnet50_2", pretrained=False)
    return build_model(config).eval()


def test_wide_resnet_feature_map_is_1536x64x64_at_256(paper_model):
    with torch.no_grad():
        features = paper_model.extractor(torch.rand(1, 3, 256, 256))
        aggregated = paper_model.aggregator(features)
    assert paper_model.extractor.channels == [512, 1024]
    assert [tuple(f.shape[1:]) for f in features] == [(512, 32, 32), (1024, 16, 16)]
    assert tuple(aggregated.shape) == (1, 1536, 64, 64)


def test_trainable_part_has_about_8_86_million_parameters(paper_model):
    assert paper_model.trainable_parameters() == pytest.approx(8.86e6, rel=0.002)
    assert not any(p.requires_grad for p in paper_model.extractor.parameters())


def test_inference_returns_score_and_map_at_input_size(paper_model):
    with torch.no_grad():
        out = paper_model(torch.rand(2, 3, 256, 256))
    assert isinstance(out, InferenceOutput)
    assert out.pred_score.shape == (2,)
    assert out.anomaly_map.shape == (2, 1, 256, 256)
    assert out.seg_score.shape == (2,)
    assert torch.isfinite(out.anomaly_map).all() and torch.isfinite(out.pred_score).all()


def test_training_forward_duplicates_the_batch_at_feature_resolution():
    model = build_model(TrainConfig.from_preset("fast", image_size=64, upscale=2)).train()
    features = model.extractor(torch.rand(3, 3, 64, 64))
    size = model.feature_size(64)
    out = model.forward_features(features, torch.zeros(3, 1, size, size), torch.zeros(3))
    assert isinstance(out, TrainOutput)
    assert size == 16
    assert out.map_logits.shape == (6, 1, 16, 16)
    assert out.score_logits.shape == (6,)
    assert out.masks.shape == (6, 1, 16, 16) and out.labels.shape == (6,)


def test_efficientnet_channels_are_read_from_the_network():
    extractor = build_extractor("efficientnet_lite0", pretrained=False)
    assert extractor.channels == [40, 112]
    assert extractor.strides == [8, 16]
    wider = build_extractor("efficientnet_lite0", layers=("stage2", "stage3", "stage4"), pretrained=False)
    assert wider.channels == [24, 40, 80]
    model = build_model(TrainConfig.from_preset("fast", layers=("stage2", "stage3", "stage4"), pretrained=False))
    assert model.channels == 144


def test_extractor_stays_frozen_in_train_mode():
    model = build_model(TrainConfig.from_preset("fast", pretrained=False)).train()
    assert model.adaptor.training
    assert not model.extractor.training
    assert not any(m.training for m in model.extractor.modules())


def test_unknown_backbone_and_layer_are_refused():
    with pytest.raises(ValueError, match="unknown backbone"):
        build_extractor("vgg16")
    with pytest.raises(ValueError, match="has no layer"):
        build_extractor("efficientnet_lite0", layers=("layer9",), pretrained=False)


def test_missing_wide_resnet_weights_give_one_error_listing_every_way(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ML_WEIGHTS_WIDE_RESNET50_2", raising=False)

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(BackboneWeightsError) as excinfo:
        build_extractor("wide_resnet50_2")
    message = str(excinfo.value)
    assert "weights=PATH" in message and "ML_WEIGHTS_WIDE_RESNET50_2" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message
    assert "download" in message and "efficientnet_lite0" in message


def test_wide_resnet_weights_load_from_the_torch_hub_cache(tmp_path, monkeypatch):
    from torchvision.models import wide_resnet50_2

    torch.manual_seed(1)
    reference = wide_resnet50_2(weights=None).state_dict()
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(reference, cache / "wide_resnet50_2-95faca4d.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    extractor = build_extractor("wide_resnet50_2")
    assert extractor.weights_source == str(cache / "wide_resnet50_2-95faca4d.pth")
    assert torch.equal(extractor.body["layer2"][0].conv1.weight, reference["layer2.0.conv1.weight"])
