"""benchmarks/time_to_accuracy_foreground.py: the foreground branch's pieces, its two modes, and a tiny run."""

import pytest
import torch
from torchvision.models.detection.roi_heads import project_masks_on_boxes

from helpers.benchmark_run import load_benchmark_module, tiny_library_run
from helpers.models import HUB_OPTIONS, assert_masks_follow_bias, spread_scores, tiny_model
from helpers.rods import rods_image, two_rods_target

pytest.importorskip("pycocotools")


def _module():
    return load_benchmark_module("time_to_accuracy_foreground")


def test_head_shape_loss_and_alignment():
    m = _module()
    assert m.ForegroundHead(32, stride=4)(torch.rand(3, 32, 8, 12)).shape == (3, 1, 32, 48)
    target = two_rods_target(60)
    union = target["masks"].amax(0).float()
    right = torch.full((1, 1, 64, 64), -8.0)  # padded batch: the padding is background
    right[0, 0, :60, :60] = union * 16 - 8
    half = right.clone()
    half[0, 0, 20:60, 40:43] = -8.0
    losses = [float(m.foreground_loss(x, [target])) for x in (right, half, -right)]
    assert losses[0] < 0.01 < losses[1] < losses[2]
    empty = {"masks": torch.zeros(0, 60, 60, dtype=torch.uint8)}
    assert float(m.foreground_loss(torch.full((1, 1, 64, 64), -8.0), [empty])) < 0.01
    boxes = target["boxes"] + torch.tensor([-1.5, -2.0, 1.25, 2.5])
    aligned = m.align_foreground(union[None, None], [boxes], 28)
    expected = project_masks_on_boxes(
        union[None].expand(2, -1, -1), boxes, torch.zeros(2, dtype=torch.int64), 28
    )
    torch.testing.assert_close(aligned[:, 0], expected)


@pytest.mark.parametrize("mode", ["fused", "aux"])
def test_losses_and_gradients_of_each_mode(mode):
    m = _module()
    image, target = rods_image(seed=1)[:, :64, :64], two_rods_target()
    reference = tiny_model(seed=0, mask_resolution=56, mask_head_norm="gn", **HUB_OPTIONS)  # no branch
    torch.manual_seed(1)
    plain = reference([image], [target])
    model = m.with_foreground(
        tiny_model(seed=0, mask_resolution=56, mask_head_norm="gn", **HUB_OPTIONS), mode
    )
    torch.manual_seed(1)
    losses = model([image], [target])
    assert set(losses) == set(plain) | {"loss_foreground"}
    for key in ("loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"):
        torch.testing.assert_close(plain[key], losses[key])
    same = float(losses["loss_mask"]) == pytest.approx(float(plain["loss_mask"]))
    assert same == (mode == "aux")  # "fused" adds the foreground logits before the mask loss
    heads = model.roi_heads
    losses["loss_mask"].backward(retain_graph=True)
    assert heads.foreground.conv.weight.grad is None  # detached: the mask loss trains the mask head only
    model.zero_grad(set_to_none=True)
    losses["loss_foreground"].backward()
    assert (
        heads.foreground.conv.weight.grad.abs().sum() > 0
        and heads.mask_predictor.mask_fcn_logits.weight.grad is None
    )


def test_inference_masks_follow_the_foreground_logits():
    m = _module()
    model = spread_scores(m.with_foreground(tiny_model(seed=0, **HUB_OPTIONS), "aux"), std=0.5)
    image = rods_image(seed=0)[:, :64, :64]
    assert_masks_follow_bias(model, model.roi_heads.foreground.logits.bias, image)
    with pytest.raises(ValueError, match="--foreground must be one of"):
        m.with_foreground(tiny_model(seed=0, **HUB_OPTIONS), "sum")


def test_tiny_run_records_the_mode():
    run = tiny_library_run("time_to_accuracy_foreground.py", "--foreground", "aux")
    assert run["recipe"]["foreground"] == "aux"
