"""``mask_resolution`` / ``MaskHeadConfig.resolution``: 28 px masks as torchvision's, 56 and 112 px ones."""

from __future__ import annotations

import json

import pytest
import torch
from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor

from helpers.models import HUB_OPTIONS, TRAIN_OPTIONS, hub_model, tiny_model
from helpers.onnx_check import assert_onnx_matches_eager
from helpers.rods import rods_image
from maskrcnn_custom import (
    MaskHeadConfig,
    MaskRCNNConfig,
    RoIPoolConfig,
    from_pretrained,
    make_config,
    predict,
    save_pretrained,
    validate_config,
)
from maskrcnn_custom.models import HighResMaskPredictor
from maskrcnn_custom.models.loading import apply_overrides


def _mask_logits_side(model, images, targets):
    seen = []
    handle = model.roi_heads.mask_predictor.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    try:
        out = model(images, targets)
    finally:
        handle.remove()
    return seen, out


def _rod_target(size: int = 64):
    masks = torch.zeros(2, size, size, dtype=torch.uint8)
    masks[0, 30:33, 4:60] = 1  # a horizontal rod, 3 px wide
    for i in range(8, 56):  # a diagonal one
        masks[1, i, i - 2 : i + 1] = 1
    boxes = torch.tensor([[4.0, 30.0, 60.0, 33.0], [6.0, 8.0, 57.0, 56.0]])
    return {"boxes": boxes, "labels": torch.tensor([1, 1]), "masks": masks}


def test_default_is_28_and_the_torchvision_predictor():
    assert MaskHeadConfig().resolution == 28 and make_config().mask_head.resolution == 28
    model = tiny_model(seed=0, **HUB_OPTIONS)
    assert type(model.roi_heads.mask_predictor) is MaskRCNNPredictor


@pytest.mark.parametrize(("resolution", "stages"), [(56, 1), (112, 2)])
def test_training_uses_logits_and_targets_at_the_resolution(resolution, stages):
    model = tiny_model(seed=0, **{**TRAIN_OPTIONS, "mask_resolution": resolution})
    predictor = model.roi_heads.mask_predictor
    assert isinstance(predictor, HighResMaskPredictor)
    assert [n for n, _ in predictor.named_children() if n.startswith("upsample")] == [
        f"upsample{i}" for i in range(1, stages + 1)
    ]
    seen, losses = _mask_logits_side(model.train(), [torch.rand(3, 64, 64)], [_rod_target()])
    assert len(seen) == 1 and tuple(seen[0][-3:]) == (2, resolution, resolution)
    assert all(torch.isfinite(v) for v in losses.values())
    losses["loss_mask"].backward()
    grad = predictor.upsample1.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0


def test_predictions_are_pasted_at_the_image_size():
    model = hub_model(num_classes=2, mask_resolution=56)
    image = torch.rand(3, 64, 80)
    model.eval()
    with torch.no_grad():
        seen, out = _mask_logits_side(model, [image], None)
    assert seen and tuple(seen[0][-2:]) == (56, 56)
    assert out[0]["masks"].shape[-2:] == (64, 80) and len(out[0]["masks"]) > 0
    [pred] = predict(model, image, score_threshold=0.05)
    assert len(pred) > 0 and pred.masks.shape[-2:] == (64, 80) and pred.masks.dtype == torch.bool


@pytest.mark.parametrize(
    ("config", "match"),
    [
        (MaskRCNNConfig(mask_head=MaskHeadConfig(resolution=42)), r"must be one of 28, 56, 112 .* got 42"),
        (MaskRCNNConfig(mask_head=MaskHeadConfig(resolution=224)), r"must be one of 28, 56, 112 .* got 224"),
        (MaskRCNNConfig(mask_head=MaskHeadConfig(resolution=True)), r"got True"),
        (MaskRCNNConfig(mask_head=MaskHeadConfig(resolution=56.0)), r"got 56.0"),
        (
            MaskRCNNConfig(
                mask_roi_pool=RoIPoolConfig(("0",), 7, 2), mask_head=MaskHeadConfig(resolution=112)
            ),
            r"must be one of 14, 28, 56 with mask_roi_pool output 7",
        ),
        (
            MaskRCNNConfig(
                mask_roi_pool=RoIPoolConfig(("0",), (14, 7), 2), mask_head=MaskHeadConfig(resolution=56)
            ),
            r"needs a square mask_roi_pool",
        ),
    ],
)
def test_invalid_resolutions_name_the_parameter_and_the_fix(config, match):
    with pytest.raises(ValueError, match=match) as info:
        validate_config(config)
    assert str(info.value).startswith("mask_resolution (mask_head.resolution)")


def test_builder_keyword_is_checked_before_anything_is_built():
    with pytest.raises(ValueError, match=r"mask_resolution .* got 64; pass 28 .* or 56 for thin objects"):
        make_config(mask_resolution=64)
    assert make_config(mask_resolution=56).mask_head.resolution == 56


def test_config_json_round_trip_and_configs_written_before_the_field():
    cfg = make_config(mask_resolution=56, mask_hidden_dim=32)
    assert MaskRCNNConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    old = MaskRCNNConfig().to_dict()
    del old["mask_head"]["resolution"]
    assert MaskRCNNConfig.from_dict(old).mask_head.resolution == 28
    old["mask_roi_pool"]["output_size"] = 7  # such a model predicted 14 px masks: it still does
    assert MaskRCNNConfig.from_dict(old).mask_head.resolution == 14


def test_save_and_load_keep_the_resolution_and_the_predictions(tmp_path):
    model = hub_model(num_classes=2, mask_resolution=56)
    folder = save_pretrained(model, tmp_path / "m")
    assert json.loads((folder / "config.json").read_text())["mask_head"]["resolution"] == 56
    loaded = from_pretrained(folder)
    assert loaded.config.mask_head.resolution == 56
    image = rods_image(seed=0)[:, :64, :64]
    [a], [b] = predict(model, image, score_threshold=0.05), predict(loaded, image, score_threshold=0.05)
    assert len(a) == len(b) > 0 and torch.equal(a.masks, b.masks)


def test_weights_fix_the_resolution():
    cfg = make_config(mask_resolution=56)
    assert apply_overrides(cfg, {"mask_resolution": 56}, "here") == cfg
    with pytest.raises(ValueError, match=r"mask_resolution=28 \(the weights have 56\)"):
        apply_overrides(cfg, {"mask_resolution": 28}, "here")


def test_onnx_export_at_56(tmp_path):
    assert_onnx_matches_eager(hub_model(num_classes=2, mask_resolution=56), tmp_path)
