"""benchmarks/box_refine.py: extra box-head passes at inference, checked against the model and by hand."""

import pytest
import torch
from torchvision.models.detection.roi_heads import project_masks_on_boxes

from helpers.benchmark_run import load_benchmark_module, run_benchmark
from helpers.models import hub_model
from helpers.rods import rods_image, two_rods_target
from maskrcnn_custom import save_pretrained

pytest.importorskip("pycocotools")


def _module():
    return load_benchmark_module("box_refine")


def _image():
    return rods_image(seed=0)[:, :64, :64]


def test_no_extra_pass_is_the_model_itself():
    m = _module()
    model = hub_model(num_classes=2, mask_resolution=56)
    with torch.no_grad():
        own = model([_image()])[0]
        wrapped = m.RefinedInference(model, 0)([_image()])[0]
    assert len(own["boxes"]) > 0
    for key in ("boxes", "scores", "labels", "masks"):
        torch.testing.assert_close(wrapped[key], own[key], rtol=0, atol=0)


def test_a_zero_regression_keeps_boxes_and_masks():
    m = _module()
    model = hub_model(num_classes=2, mask_resolution=56)
    with torch.no_grad():
        model.roi_heads.box_predictor.bbox_pred.weight.zero_()
        model.roi_heads.box_predictor.bbox_pred.bias.zero_()
        first = m.RefinedInference(model, 0)([_image()])[0]
        twice = m.RefinedInference(model, 2)([_image()])[0]
    assert len(first["boxes"]) > 0
    torch.testing.assert_close(twice["boxes"], first["boxes"], rtol=0, atol=1e-4)
    torch.testing.assert_close(twice["masks"], first["masks"], rtol=0, atol=1e-4)
    torch.testing.assert_close(twice["scores"], first["scores"], rtol=0, atol=0)


def test_each_pass_applies_the_regression_of_the_box_label():
    m = _module()
    model = hub_model(num_classes=3, mask_resolution=56)
    heads = model.roi_heads
    with torch.no_grad():
        heads.box_predictor.bbox_pred.weight.zero_()
        bias = torch.zeros(3, 4)
        bias[1, 0] = 1.0  # class 1: dx = 1 / 10 of the width (box coder weights 10, 10, 5, 5)
        bias[2, 1] = 2.0  # class 2: dy = 2 / 10 of the height
        heads.box_predictor.bbox_pred.bias.copy_(bias.flatten())
        image = _image()
        batch, _ = model.transform([image])
        features = model.backbone(batch.tensors)
        boxes = [torch.tensor([[10.0, 10, 30, 20], [20, 20, 30, 40]])]
        moved = m.refine_once(model, features, boxes, [torch.tensor([1, 2])], batch.image_sizes)[0]
    expected = torch.tensor([[12.0, 10, 32, 20], [20, 24, 30, 44]])
    torch.testing.assert_close(moved, expected, rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        m.RefinedInference(model, -1)


class _TrueMaskLogits(torch.nn.Module):
    """A mask predictor that returns the target masks cut in their boxes (as the targets are), as logits."""

    def __init__(self, cut: torch.Tensor) -> None:
        super().__init__()
        self.cut = cut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.full((len(x), 2, *self.cut.shape[-2:]), -30.0)
        logits[:, 1] = (self.cut - 0.5) * 60
        return logits


def test_masks_in_true_boxes_of_a_perfect_and_of_a_box_filling_mask_head():
    m = _module()
    target = two_rods_target(widths=(4, 4))
    dataset = [(_image(), target)]
    model = hub_model(num_classes=2, mask_resolution=56, mask_paste="exact")
    some = m.masks_in_true_boxes(model, dataset)
    assert some["objects"] == 2 and 0.0 <= some["mean_iou"] <= 1.0
    cut = project_masks_on_boxes(target["masks"], target["boxes"], torch.arange(2), 56)
    model.roi_heads.mask_predictor = _TrueMaskLogits(cut)
    perfect = m.masks_in_true_boxes(model, dataset)
    assert perfect["mean_iou"] > 0.95 and perfect["iou_0.9"] == 1.0
    model.roi_heads.mask_predictor = _TrueMaskLogits(torch.ones_like(cut))  # the whole box, also its edges
    filling = m.masks_in_true_boxes(model, dataset)
    assert filling["mean_iou"] < perfect["mean_iou"]


def test_cli_reports_each_step_count(tmp_path):
    folder = save_pretrained(hub_model(num_classes=2, mask_resolution=56), tmp_path / "m")
    out = tmp_path / "r.json"
    args = ["--model", str(folder), "--image-size", "64", "--val-images", "2", "--threads", "1"]
    report = run_benchmark("box_refine.py", *args, "--steps", "0,1", "--out", str(out))
    rows = report["extra_box_head_passes"]
    assert list(rows) == ["0", "1"]
    assert all(0.0 <= r[k] <= 1.0 for r in rows.values() for k in ("segm_AP", "bbox_AP", "bbox_AP75"))
    ceiling = report["masks_in_true_boxes"]
    assert (
        ceiling["objects"] > 0
        and 0.0 <= ceiling["iou_0.9"] <= ceiling["iou_0.75"] <= ceiling["iou_0.5"] <= 1.0
    )
    assert out.exists() and set(report["load_average_1_5_15"]) == {"before", "after"}
    with pytest.raises(AssertionError, match="exists; pass --overwrite"):
        run_benchmark("box_refine.py", *args, "--out", str(out))
    with pytest.raises(AssertionError, match="--steps must be"):
        run_benchmark("box_refine.py", *args, "--steps", "0,-1")
