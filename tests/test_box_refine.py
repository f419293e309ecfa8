"""``box_refine_steps`` / ``BoxHeadConfig.refine_steps``: extra box-head passes at inference, none by default."""

from __future__ import annotations

import json

import pytest
import torch
from torchvision.models.detection.roi_heads import RoIHeads

from helpers.models import HUB_OPTIONS, hub_model, tiny_model
from helpers.onnx_check import assert_onnx_matches_eager
from helpers.rods import rods_image, two_rods_target
from maskrcnn_custom import (
    MaskRCNNConfig,
    from_pretrained,
    make_config,
    maskrcnn_resnet18_fpn,
    save_pretrained,
)
from maskrcnn_custom.hub.card import render_model_card
from maskrcnn_custom.models.loading import apply_overrides
from maskrcnn_custom.models.refine import RefiningRoIHeads, refine_boxes


def _image() -> torch.Tensor:
    return rods_image(seed=0)[:, :64, :64]


def _pair(num_classes: int = 2, steps: int = 1, **options):
    """The same random weights without and with ``steps`` extra box-head passes, both in eval mode."""
    plain = hub_model(num_classes=num_classes, mask_resolution=56, **options)
    refined = hub_model(num_classes=num_classes, mask_resolution=56, box_refine_steps=steps, **options)
    refined.load_state_dict(plain.state_dict())
    return plain, refined.eval()


def _shift_regression(model: torch.nn.Module) -> None:
    """Every box of class 1 moves right by 1/10 of its width per pass (box coder weights 10, 10, 5, 5)."""
    pred = model.roi_heads.box_predictor.bbox_pred
    with torch.no_grad():
        pred.weight.zero_()
        bias = torch.zeros(model.config.num_classes, 4)
        bias[1, 0] = 1.0
        pred.bias.copy_(bias.flatten())


def test_default_is_torchvision_heads():
    assert make_config().box_head.refine_steps == 0
    model = tiny_model(seed=0, **HUB_OPTIONS)
    assert type(model.roi_heads) is RoIHeads


def test_training_and_state_dict_are_unchanged():
    image = _image()
    target = two_rods_target(widths=(4, 4))
    losses = {}
    for steps in (0, 2):
        model = tiny_model(seed=0, mask_resolution=56, box_refine_steps=steps, **HUB_OPTIONS)
        torch.manual_seed(1)
        losses[steps] = {k: float(v.detach()) for k, v in model([image], [target]).items()}
        keys = list(model.state_dict())
    assert losses[0] == losses[2]
    assert keys == list(tiny_model(seed=0, mask_resolution=56, **HUB_OPTIONS).state_dict())


def test_each_pass_moves_the_boxes_once_more_and_keeps_scores_and_labels():
    plain, refined = _pair(steps=2)
    _shift_regression(plain)
    _shift_regression(refined)
    with torch.no_grad():
        first, twice = plain([_image()])[0], refined([_image()])[0]
    assert len(first["boxes"]) > 0
    torch.testing.assert_close(twice["scores"], first["scores"], rtol=0, atol=0)
    torch.testing.assert_close(twice["labels"], first["labels"], rtol=0, atol=0)
    expected = first["boxes"].clone()
    for _ in range(2):  # x1, x2 += width / 10, clipped to the 64 px image
        width = expected[:, 2] - expected[:, 0]
        expected[:, 0] = (expected[:, 0] + width / 10).clamp(max=64)
        expected[:, 2] = (expected[:, 2] + width / 10).clamp(max=64)
    torch.testing.assert_close(twice["boxes"], expected, rtol=0, atol=1e-3)
    assert not torch.equal(twice["masks"], first["masks"])  # predicted in the moved boxes


def test_a_zero_regression_changes_nothing():
    plain, refined = _pair(steps=3)
    for model in (plain, refined):
        with torch.no_grad():
            model.roi_heads.box_predictor.bbox_pred.weight.zero_()
            model.roi_heads.box_predictor.bbox_pred.bias.zero_()
    with torch.no_grad():
        a, b = plain([_image()])[0], refined([_image()])[0]
    assert len(a["boxes"]) > 0
    for key in ("boxes", "scores", "labels", "masks"):
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-4)


def test_refine_boxes_uses_the_regression_of_each_box_label():
    model = hub_model(num_classes=3, mask_resolution=56)
    heads = model.roi_heads
    with torch.no_grad():
        heads.box_predictor.bbox_pred.weight.zero_()
        bias = torch.zeros(3, 4)
        bias[1, 0] = 1.0  # class 1: dx = 1 / 10 of the width
        bias[2, 1] = 2.0  # class 2: dy = 2 / 10 of the height
        heads.box_predictor.bbox_pred.bias.copy_(bias.flatten())
        batch, _ = model.transform([_image()])
        features = model.backbone(batch.tensors)
        boxes = [torch.tensor([[10.0, 10, 30, 20], [20, 20, 30, 40]]), torch.zeros(0, 4)]
        labels = [torch.tensor([1, 2]), torch.zeros(0, dtype=torch.int64)]
        moved = refine_boxes(heads, features, boxes, labels, batch.image_sizes * 2)
    torch.testing.assert_close(
        moved[0], torch.tensor([[12.0, 10, 32, 20], [20, 24, 30, 44]]), rtol=0, atol=1e-4
    )
    assert moved[1].shape == (0, 4)


def test_like_shares_the_modules_and_leaves_the_original_alone():
    model = hub_model(num_classes=2)
    heads = model.roi_heads
    refining = RefiningRoIHeads.like(heads, 2)
    assert refining.box_head is heads.box_head and refining.mask_predictor is heads.mask_predictor
    assert refining.refine_steps == 2 and not hasattr(heads, "refine_steps")
    assert list(refining.state_dict()) == list(heads.state_dict())
    refining.mask_predictor = torch.nn.Identity()
    assert not isinstance(heads.mask_predictor, torch.nn.Identity)
    with pytest.raises(ValueError, match=r"refine_steps must be an int in \[0, 3\], got 4"):
        RefiningRoIHeads.like(heads, 4)


@pytest.mark.parametrize("bad", [-1, 4, 1.5, "1", True])
def test_invalid_steps_name_the_parameter_and_the_fix(bad):
    with pytest.raises(
        ValueError, match=r"box_refine_steps \(box_head.refine_steps\) must be an int in \[0, 3\]"
    ):
        make_config(box_refine_steps=bad)


def test_config_round_trip_and_configs_written_before_the_field():
    cfg = make_config(box_refine_steps=2)
    assert MaskRCNNConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    old = MaskRCNNConfig().to_dict()
    del old["box_head"]["refine_steps"]
    assert MaskRCNNConfig.from_dict(old).box_head.refine_steps == 0


def test_weights_take_a_refine_override_and_the_card_says_it(tmp_path):
    assert apply_overrides(make_config(), {"box_refine_steps": 1}, "here").box_head.refine_steps == 1
    folder = save_pretrained(hub_model(num_classes=2, mask_resolution=56), tmp_path / "m")
    assert json.loads((folder / "config.json").read_text())["box_head"]["refine_steps"] == 0
    loaded = maskrcnn_resnet18_fpn(weights=folder, box_refine_steps=2)
    assert loaded.config.box_head.refine_steps == 2 and isinstance(loaded.roi_heads, RefiningRoIHeads)
    again = from_pretrained(save_pretrained(loaded, tmp_path / "refined"))
    assert isinstance(again.roi_heads, RefiningRoIHeads) and again.roi_heads.refine_steps == 2
    assert "| box refinement at inference | 2 extra box-head passes |" in render_model_card(
        again.config, name="m"
    )


def test_onnx_export_with_refinement(tmp_path):
    model = hub_model(num_classes=2, mask_resolution=56, mask_paste="exact", box_refine_steps=1)
    _shift_regression(model)
    assert_onnx_matches_eager(model, tmp_path)
