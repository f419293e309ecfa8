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


def test_with_refine_steps_replaces_the_model_setting():
    m = _module()
    plain = hub_model(num_classes=2, mask_resolution=56)
    model = hub_model(num_classes=2, mask_resolution=56, box_refine_steps=2)
    model.load_state_dict(plain.state_dict())
    with torch.no_grad():
        own = plain([_image()])[0]
        assert not torch.equal(model([_image()])[0]["boxes"], own["boxes"])
        back = m.with_refine_steps(model, 0)([_image()])[0]
    assert len(own["boxes"]) > 0 and model.config.box_head.refine_steps == 0
    for key in ("boxes", "scores", "labels", "masks"):
        torch.testing.assert_close(back[key], own[key], rtol=0, atol=0)
    assert m.with_refine_steps(model, 1).roi_heads.refine_steps == 1


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
