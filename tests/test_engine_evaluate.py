import contextlib
import io
import json
import math

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch import nn
from torch.utils.data import DataLoader

from helpers.rods import TinyRods
from maskrcnn_custom import evaluate
from maskrcnn_custom.data import collate_fn
from maskrcnn_custom.engine import STAT_NAMES, elongation_metrics, mask_elongation


class FixedPredictor(nn.Module):
    """Eval-mode 'model' returning hand-made predictions, looked up by the image's content."""

    def __init__(self, predictions):
        super().__init__()
        self.predictions = predictions  # list of (image tensor, output dict)
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, images, targets=None):
        outs = []
        for img in images:
            for ref, out in self.predictions:
                if ref.shape == img.shape and torch.equal(ref, img):
                    outs.append(out)
                    break
            else:
                raise AssertionError("unknown image")
        return outs


def _shift(mask, dy, dx):
    return torch.roll(mask, shifts=(dy, dx), dims=(0, 1))


def _hand_made(ds):
    """Per image: shifted/eroded copies of the ground truth, a false positive, a duplicate and a miss."""
    g = torch.Generator().manual_seed(7)
    preds = []
    for i in range(len(ds)):
        img, t = ds[i]
        masks, scores = [], []
        for k, m in enumerate(t["masks"]):
            if i == 1 and k == 0:
                continue  # a missed object
            m = m.clone()
            m = _shift(
                m, int(torch.randint(-1, 2, (1,), generator=g)), int(torch.randint(-1, 2, (1,), generator=g))
            )
            if k % 2:
                m[: m.shape[0] // 2 + 3] = 0 if m.sum() > 60 else m[: m.shape[0] // 2 + 3]  # partly cut
            masks.append(m)
            scores.append(float(torch.rand(1, generator=g)) * 0.5 + 0.5)
            if i == 0 and k == 0:  # a lower-scored duplicate
                masks.append(_shift(m, 1, 1))
                scores.append(0.3)
        fp = torch.zeros_like(t["masks"][0])
        fp[2:6, 10 + i : 40 + i] = 1
        masks.append(fp)
        scores.append(0.55 + 0.1 * i)
        mask_t = torch.stack(masks)
        boxes = []
        for m in mask_t:
            ys, xs = torch.nonzero(m, as_tuple=True)
            boxes.append([xs.min() - 0.5, ys.min() + 0.25, xs.max() + 1.5, ys.max() + 1.0])
        probs = torch.where(mask_t.bool(), 0.9, 0.1).unsqueeze(1).float()
        out = {
            "boxes": torch.tensor(boxes, dtype=torch.float32),
            "labels": torch.ones(len(masks), dtype=torch.int64),
            "scores": torch.tensor(scores, dtype=torch.float32),
            "masks": probs,
        }
        preds.append((img, out))
    return preds


def _pycocotools_direct(ds, preds, tmp_path):
    """The reference: COCO JSON files written by hand, read back by pycocotools, COCOeval run directly."""
    images, anns, results = [], [], []
    for i in range(len(ds)):
        img, t = ds[i]
        images.append({"id": i, "height": img.shape[1], "width": img.shape[2]})
        for k in range(len(t["labels"])):
            m = t["masks"][k].numpy().astype(np.uint8)
            rle = mask_utils.encode(np.asfortranarray(m))
            rle["counts"] = rle["counts"].decode()
            x0, y0, x1, y1 = t["boxes"][k].tolist()
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": 1,
                    "iscrowd": 0,
                    "area": float(m.sum()),
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "segmentation": rle,
                }
            )
        out = preds[i][1]
        for k in range(len(out["scores"])):
            m = (out["masks"][k, 0] > 0.5).numpy().astype(np.uint8)
            rle = mask_utils.encode(np.asfortranarray(m))
            rle["counts"] = rle["counts"].decode()
            x0, y0, x1, y1 = out["boxes"][k].tolist()
            results.append(
                {
                    "image_id": i,
                    "category_id": 1,
                    "score": float(out["scores"][k]),
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "segmentation": rle,
                }
            )
    gt_file, dt_file = tmp_path / "gt.json", tmp_path / "dt.json"
    gt_file.write_text(
        json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "rod"}]})
    )
    dt_file.write_text(json.dumps(results))
    stats = {}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        for iou_type in ("bbox", "segm"):
            ev = COCOeval(gt, gt.loadRes(str(dt_file)), iou_type)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            stats[iou_type] = dict(zip(STAT_NAMES, ev.stats.tolist(), strict=False))
    return stats


@pytest.mark.parametrize("backend", ["auto", "pycocotools", "faster_coco_eval"])
def test_evaluate_equals_pycocotools_on_hand_made_predictions(tmp_path, backend):
    if backend == "faster_coco_eval":
        pytest.importorskip("faster_coco_eval")
    ds = TinyRods(n=5, size=64, seed=3, max_objects=3)
    preds = _hand_made(ds)
    loader = DataLoader(ds, batch_size=2, collate_fn=collate_fn)
    metrics = evaluate(FixedPredictor(preds), loader, "cpu", progress=False, backend=backend)
    ref = _pycocotools_direct(ds, preds, tmp_path)
    for iou_type in ("bbox", "segm"):
        assert set(metrics[iou_type]) == set(STAT_NAMES)
        for name in STAT_NAMES:
            assert metrics[iou_type][name] == ref[iou_type][name], (iou_type, name)
    # the predictions are imperfect but informative: not a trivial 0 or 1
    assert 0.1 < metrics["segm"]["AP"] < 0.95
    assert 0.1 < metrics["bbox"]["AP50"] <= 1.0
    assert metrics["num_images"] == 5
    # the elongation breakdown covers every non-crowd object exactly once
    n_gt = sum(len(ds[i][1]["labels"]) for i in range(len(ds)))
    assert sum(b["num_gt"] for b in metrics["segm_elongation"].values()) == n_gt


def test_no_detections_gives_zero_not_an_error():
    ds = TinyRods(n=2, size=64)
    empty = {
        "boxes": torch.zeros(0, 4),
        "labels": torch.zeros(0, dtype=torch.int64),
        "scores": torch.zeros(0),
        "masks": torch.zeros(0, 1, 64, 64),
    }
    model = FixedPredictor([(ds[i][0], empty) for i in range(2)])
    metrics = evaluate(model, DataLoader(ds, batch_size=2, collate_fn=collate_fn), "cpu", progress=False)
    assert metrics["segm"]["AP"] == 0.0 and metrics["bbox"]["AR100"] == 0.0
    assert metrics["num_detections"] == 0


def test_target_without_image_id_is_a_clear_error():
    ds = TinyRods(n=1, size=64)
    img, t = ds[0]
    del t["image_id"]
    out = {
        "boxes": t["boxes"],
        "labels": t["labels"],
        "scores": torch.ones(len(t["labels"])),
        "masks": t["masks"].unsqueeze(1).float(),
    }
    with pytest.raises(ValueError, match="image_id"):
        evaluate(FixedPredictor([(img, out)]), [([img], [t])], "cpu", progress=False)


def test_mask_elongation_of_known_shapes():
    m = np.zeros((40, 40), np.uint8)
    m[10:13, 2:26] = 1
    assert mask_elongation(m) == pytest.approx(8.0)
    assert mask_elongation(m.T) == pytest.approx(8.0)
    one = np.zeros((5, 5), np.uint8)
    one[2, 2] = 1
    assert mask_elongation(one) == pytest.approx(1.0)
    disc = np.hypot(*np.mgrid[-15:16, -15:16]) <= 12
    assert 1.0 <= mask_elongation(disc) < 1.1
    # a rotated rod: the minimum-area rectangle follows the rod, the axis-aligned box would say ~1
    yy, xx = np.mgrid[:128, :128]
    rod = (np.abs(yy - xx) <= 2) & (xx >= 10) & (xx < 110)
    assert mask_elongation(rod) > 15
    ys, xs = np.nonzero(rod)
    assert (np.ptp(xs) + 1) / (np.ptp(ys) + 1) < 1.1
    assert math.isnan(mask_elongation(np.zeros((4, 4))))
    with pytest.raises(ValueError, match="2-D"):
        mask_elongation(np.zeros((2, 4, 4)))


def _rle(mask):
    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    r["counts"] = r["counts"].decode()
    return r


def test_elongation_bins_follow_the_coco_area_range_rules():
    size = 64
    blob = np.zeros((size, size), np.uint8)
    blob[10:30, 10:30] = 1  # elongation 1
    rod = np.zeros((size, size), np.uint8)
    rod[40:43, 5:59] = 1  # elongation 18
    rod_fp = np.zeros((size, size), np.uint8)
    rod_fp[50:53, 5:59] = 1  # an elongated false positive
    images = [{"id": 1, "height": size, "width": size}]
    anns = [
        {
            "image_id": 1,
            "category_id": 1,
            "iscrowd": 0,
            "area": 400.0,
            "bbox": [10, 10, 20, 20],
            "segmentation": _rle(blob),
        },
        {
            "image_id": 1,
            "category_id": 1,
            "iscrowd": 0,
            "area": 162.0,
            "bbox": [5, 40, 54, 3],
            "segmentation": _rle(rod),
        },
    ]
    dets = [
        {"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [5, 50, 54, 3], "segmentation": _rle(rod_fp)},
        {"image_id": 1, "category_id": 1, "score": 0.8, "bbox": [5, 40, 54, 3], "segmentation": _rle(rod)},
    ]
    bins = elongation_metrics(images, anns, dets, edges=(2, 4, 8))
    assert list(bins) == ["<2", "2-4", "4-8", ">=8"]
    assert bins[">=8"]["num_gt"] == 1 and bins["<2"]["num_gt"] == 1 and bins["2-4"]["num_gt"] == 0
    # >=8: the rod is found after an elongated false positive -> precision 1/2 at every recall
    assert bins[">=8"]["AP"] == pytest.approx(0.5) and bins[">=8"]["AR100"] == pytest.approx(1.0)
    # <2: the blob is missed; the elongated detections belong to another bin and are ignored here
    assert bins["<2"]["AP"] == 0.0 and bins["<2"]["AR100"] == 0.0
    # a bin without ground truth is undefined (-1), as COCO does for empty area ranges
    assert bins["2-4"]["AP"] == -1.0
    with pytest.raises(ValueError, match="increasing"):
        elongation_metrics(images, anns, dets, edges=(4, 2))
