"""benchmarks/time_to_accuracy_image_refine.py: RoI crops, a refinement that starts at zero, and a tiny run."""

import pytest
import torch
from torch import nn
from torchvision.models.detection.roi_heads import project_masks_on_boxes

from helpers.benchmark_run import load_benchmark_module, tiny_library_run
from helpers.models import HUB_OPTIONS, assert_masks_follow_bias, spread_scores, tiny_model
from helpers.rods import rods_image, two_rods_target

pytest.importorskip("pycocotools")


def _module():
    return load_benchmark_module("time_to_accuracy_image_refine")


def test_crops_are_cut_like_the_mask_targets_and_standardised():
    m = _module()
    target = two_rods_target(64)
    union = target["masks"].amax(0).float()
    boxes = target["boxes"] + torch.tensor([-1.5, -2.0, 1.25, 2.5])  # inside the image: no zero padding
    image = (union * 0.6 + 0.2)[None].expand(3, -1, -1)[None]  # 3 channels, objects 0.8 on 0.2
    crops = m.crop_rois(image, [boxes], 28)
    assert crops.shape == (2, 3, 28, 28)
    expected = project_masks_on_boxes(
        union[None].expand(2, -1, -1), boxes, torch.zeros(2, dtype=torch.int64), 28
    )
    expected = (expected - expected.mean((1, 2), keepdim=True)) / (
        expected.std((1, 2), keepdim=True) + 1e-3 / 0.6
    )
    torch.testing.assert_close(crops[:, 0], expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(crops.mean((2, 3)), torch.zeros(2, 3), atol=1e-5, rtol=0)
    flat = m.crop_rois(torch.full((1, 3, 64, 64), 0.3), [boxes], 28)
    assert flat.abs().max() < 1e-4  # a flat crop stays 0, no division by zero


def test_refinement_starts_at_zero_and_learns():
    m = _module()
    image, target = rods_image(seed=1)[:, :64, :64], two_rods_target()
    reference = tiny_model(seed=0, mask_resolution=56, mask_head_norm="gn", **HUB_OPTIONS)
    torch.manual_seed(1)
    plain = reference([image], [target])
    model = m.with_image_refine(tiny_model(seed=0, mask_resolution=56, mask_head_norm="gn", **HUB_OPTIONS))
    torch.manual_seed(1)
    losses = model([image], [target])
    assert set(losses) == set(plain)
    for key in plain:  # the zero-initialised output conv: the same model as without the refinement
        torch.testing.assert_close(plain[key], losses[key])
    losses["loss_mask"].backward()
    predictor = model.roi_heads.mask_predictor
    assert predictor.out.weight.grad.abs().sum() > 0
    assert predictor.base.mask_fcn_logits.weight.grad.abs().sum() > 0


def test_inference_masks_follow_the_refinement():
    m = _module()
    model = spread_scores(m.with_image_refine(tiny_model(seed=0, **HUB_OPTIONS)), std=0.5)  # 28 px predictor
    image = rods_image(seed=0)[:, :64, :64]
    assert_masks_follow_bias(model, model.roi_heads.mask_predictor.out.bias, image)


def test_refuses_a_predictor_without_mask_logits():
    model = tiny_model(seed=0, **HUB_OPTIONS)
    model.roi_heads.mask_predictor = nn.Conv2d(8, 2, 1)
    with pytest.raises(ValueError, match="ending in mask_fcn_logits"):
        _module().with_image_refine(model)


def test_tiny_run_records_the_refinement():
    run = tiny_library_run("time_to_accuracy_image_refine.py")
    assert run["recipe"]["mask_refine"] == "image"
