import json
import math

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from torch import nn

from maskrcnn_custom import evaluate
from maskrcnn_custom.engine import (
    boundary_iou,
    boundary_metrics,
    cl_dice,
    coco_metrics,
    skeleton_metrics,
)
from maskrcnn_custom.engine.thin_metrics import boundary_dilation
from maskrcnn_custom.measure import boundary_region

THRESHOLDS = np.linspace(0.5, 0.95, 10)


def _reference_boundary(mask, dilation):
    """boundary-iou-api's mask_to_boundary: pad with zeros, erode 3x3 `dilation` times, subtract."""
    h, w = mask.shape
    m = np.pad(mask.astype(bool), 1)
    for _ in range(dilation):  # cv2.erode: pixels outside the padded image count as foreground
        p = np.pad(m, 1, constant_values=True)
        m = np.logical_and.reduce([p[1 + dy : 1 + dy + h + 2, 1 + dx : 1 + dx + w + 2]
                                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)])  # fmt: skip
    return mask.astype(bool) & ~m[1:-1, 1:-1]


def _rle(m):
    rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode()
    return rle


def _ann(image_id, m, **extra):
    ys, xs = np.nonzero(m)
    box = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
    return {"image_id": image_id, "category_id": 1, "bbox": box, "area": float(m.sum()), "iscrowd": 0,
            "segmentation": _rle(m), **extra}  # fmt: skip


@pytest.mark.parametrize("dilation", [1, 2, 3, 5])
def test_boundary_region_equals_reference_erosion(dilation):
    rng = np.random.default_rng(dilation)
    masks = rng.random((6, 40, 50)) < 0.7
    masks[:, 10:30, 5:45] = True  # a solid block touching noise, and noise touching the border
    ours = boundary_region(torch.from_numpy(masks), dilation=dilation).numpy()
    for k in range(len(masks)):
        np.testing.assert_array_equal(ours[k], _reference_boundary(masks[k], dilation))


def test_boundary_dilation_follows_the_image_diagonal():
    assert boundary_dilation(256, 256) == round(0.02 * math.hypot(256, 256)) == 7
    assert boundary_dilation(120, 120) == 3 and boundary_dilation(10, 10) == 1
    with pytest.raises(ValueError, match="dilation_ratio"):
        boundary_dilation(10, 10, dilation_ratio=0)


def test_boundary_iou_and_boundary_ap_by_hand():
    # 120 x 120 image: d = round(0.02 * 169.7) = 3. GT: 30 x 30 square; prediction: shifted by one column.
    g = np.zeros((120, 120), bool)
    g[10:40, 10:40] = True
    p = np.roll(g, 1, axis=1)
    # rings of width 3: 900 - 24 * 24 = 324 px each. Shared: 6 rows x 29 cols + 2 x (2 cols x 24 rows) = 270
    expected_b = 270 / (2 * 324 - 270)
    expected_mask = 29 / 31
    assert boundary_iou(g, p) == pytest.approx(expected_b)
    bg, bp = _reference_boundary(g, 3), _reference_boundary(p, 3)
    assert (bg & bp).sum() / (bg | bp).sum() == pytest.approx(expected_b)
    images = [{"id": 1, "height": 120, "width": 120}]
    gt = [_ann(1, g)]
    dt = [_ann(1, p, score=0.9)]
    b = boundary_metrics(images, gt, dt)
    # one pair: AP at threshold t is 1 when min(mask IoU, boundary IoU) >= t, else 0
    assert b["AP"] == pytest.approx(np.mean(THRESHOLDS <= min(expected_b, expected_mask)))  # 0.5
    assert b["AP50"] == pytest.approx(1.0) and b["AP75"] == pytest.approx(0.0)
    segm = coco_metrics(images, gt, dt, iou_types=("segm",), elongation_edges=None)
    assert segm["segm"]["AP"] == pytest.approx(np.mean(THRESHOLDS <= expected_mask))  # 0.9
    assert segm["boundary"] == b
    # a thin rod (4 px wide, fully inside its boundary band): boundary IoU equals the mask IoU
    r = np.zeros((120, 120), bool)
    r[50:54, 10:90] = True
    r2 = np.roll(r, 1, axis=0)
    assert boundary_iou(r, r2) == pytest.approx(3 / 5)
    assert "boundary" not in coco_metrics(images, gt, dt, iou_types=("segm",), thin_metrics=False)


def test_cl_dice_and_skeleton_metrics_by_hand():
    # one-pixel-wide lines are their own skeletons
    g1 = np.zeros((12, 30), bool)
    g1[4, 2:28] = True  # 26 px
    g2 = np.zeros((12, 30), bool)
    g2[9, 0:30] = True  # 30 px, never predicted
    p = np.zeros((12, 30), bool)
    p[4, 2:21] = True  # 19 px on g1
    p[6, 0:4] = True  # 4 stray px
    tprec, tsens = 19 / 23, 19 / 26
    assert cl_dice(g1, p) == pytest.approx(2 * tprec * tsens / (tprec + tsens))
    assert cl_dice(g1, g1) == 1.0 and cl_dice(g1, g2) == 0.0
    gt = [_ann(1, g1), _ann(1, g2)]
    dup = np.zeros_like(p)
    dup[4, 3:27] = True
    dt = [_ann(1, p, score=0.9), _ann(1, dup, score=0.5)]  # the duplicate finds g1 already taken
    s = skeleton_metrics(gt, dt)
    assert s["num_matched"] == 1 and s["num_gt"] == 2
    assert s["Tprec"] == pytest.approx(tprec) and s["Tsens"] == pytest.approx(tsens)
    assert s["clDice"] == pytest.approx(2 * tprec * tsens / (tprec + tsens))
    assert s["recall"] == pytest.approx((tsens + 0.0) / 2)
    # IoU of p with g1 is 19 / 30 >= 0.5; at match_iou 0.7 nothing matches
    none = skeleton_metrics(gt, dt, match_iou=0.7)
    assert none["num_matched"] == 1  # the duplicate (IoU 24 / 26) matches instead
    assert none["Tsens"] == pytest.approx(24 / 26) and none["Tprec"] == pytest.approx(1.0)
    assert skeleton_metrics(gt, [])["clDice"] == -1.0 and skeleton_metrics(gt, [])["recall"] == 0.0


class _Oracle(nn.Module):
    """Returns the ground truth of each image (looked up by content) as predictions."""

    def __init__(self, pairs):
        super().__init__()
        self.pairs = pairs
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, images, targets=None):
        return [next(out for ref, out in self.pairs if torch.equal(ref, img)) for img in images]


def test_evaluate_reports_thin_metrics_and_the_switch():
    g = torch.Generator().manual_seed(0)
    pairs, loader = [], []
    for i in range(3):
        img = torch.rand(3, 64, 64, generator=g)
        m = torch.zeros(2, 64, 64, dtype=torch.uint8)
        m[0, 10 + i : 14 + i, 4:60] = 1
        m[1, 20:60, 30 + i : 35 + i] = 1
        boxes = torch.tensor([[4.0, 10.0 + i, 60.0, 14.0 + i], [30.0 + i, 20.0, 35.0 + i, 60.0]])
        target = {"image_id": i, "boxes": boxes, "labels": torch.tensor([1, 1]), "masks": m}
        pred_masks = m.clone()
        pred_masks[1, :, 30 + i] = 0  # second object one pixel thinner
        out = {"boxes": boxes, "labels": torch.tensor([1, 1]), "scores": torch.tensor([0.9, 0.8]),
               "masks": pred_masks[:, None].float()}  # fmt: skip
        pairs.append((img, out))
        loader.append(([img], [target]))
    metrics = evaluate(_Oracle(pairs), loader, "cpu", progress=False)
    assert set(metrics["boundary"]) == set(metrics["segm"])
    # first rods: perfect (IoU 1). Second rods: one pixel thinner, mask IoU 4/5, boundary IoU lower (the
    # 5-px rod's band skips its middle column, the 4-px rod is all band). With all perfect detections
    # scored higher, AP at threshold t is 1 when the thin pair matches, else 51/101 (recall stops at 1/2).
    out0 = pairs[0][1]
    b_iou = boundary_iou(loader[0][1][0]["masks"][1], out0["masks"][1, 0])
    assert b_iou < 0.8
    for key, iou in (("segm", 0.8), ("boundary", min(0.8, b_iou))):
        expected = np.mean(np.where(THRESHOLDS <= iou + 1e-9, 1.0, 51 / 101))
        assert metrics[key]["AP"] == pytest.approx(expected)
    assert metrics["boundary"]["AP50"] == pytest.approx(1.0)
    assert metrics["boundary"]["AP"] < metrics["segm"]["AP"]
    sk = metrics["skeleton"]
    assert sk["num_matched"] == 6 and sk["num_gt"] == 6
    assert sk["Tprec"] == pytest.approx(1.0)  # predicted skeletons lie inside the ground truth
    assert 0.9 < sk["clDice"] <= 1.0 and 0.9 < sk["recall"] <= 1.0
    off = evaluate(_Oracle(pairs), loader, "cpu", progress=False, thin_metrics=False)
    assert "boundary" not in off and "skeleton" not in off and off["segm"] == metrics["segm"]


def test_cli_evaluate_prints_thin_metrics(tmp_path, capsys):
    from helpers.models import save_detecting_model
    from maskrcnn_custom.cli import main

    weights = save_detecting_model(tmp_path / "w")
    common = ["evaluate", "--weights", str(weights), "--synthetic", "2", "--image-size", "96", "--workers", "0",
              "--no-progress", "--device", "cpu"]  # fmt: skip
    assert main([*common, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics["boundary"]) == set(metrics["segm"]) and "clDice" in metrics["skeleton"]
    assert main(common) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(x for x in lines if x.startswith("boundary"))
    assert [float(v) for v in row.split()[1:]] == pytest.approx(list(metrics["boundary"].values()), abs=1e-4)
    sk = next(x for x in lines if x.startswith("skeleton:"))
    assert f"clDice {metrics['skeleton']['clDice']:.4f}" in sk
    assert main([*common, "--json", "--no-thin-metrics"]) == 0
    off = json.loads(capsys.readouterr().out)
    assert "boundary" not in off and "skeleton" not in off
