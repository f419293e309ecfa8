import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.models import detecting_model
from helpers.rods import rods_image
from maskrcnn_custom import Prediction, predict
from maskrcnn_custom.inference import (
    draw_overlay,
    save_coco_results,
    save_instance_masks,
    save_label_image,
    save_overlay,
    to_coco_results,
)


def _toy_prediction():
    masks = torch.zeros(3, 10, 12, dtype=torch.bool)
    masks[0, 1:4, 1:6] = True  # 15 px
    masks[1, 2:8, 4:5] = True  # 6 px, overlaps mask 0 at (2..3, 4)
    masks[2, 8:10, 9:12] = True  # 6 px
    boxes = torch.tensor([[1.0, 1.0, 6.0, 4.0], [4.0, 2.0, 5.0, 8.0], [9.0, 8.0, 12.0, 10.0]])
    return Prediction(
        boxes, torch.tensor([1, 2, 1]), torch.tensor([0.9, 0.8, 0.6]), masks, (10, 12), ("bg", "rod", "ring")
    )


def test_coco_results_round_trip_through_pycocotools(tmp_path):
    from pycocotools import mask as mask_utils

    pred = _toy_prediction()
    res = to_coco_results(
        [pred, pred.filter(score_threshold=0.85)], image_ids=[7, 9], category_ids={1: 11, 2: 12}
    )
    assert [r["image_id"] for r in res] == [7, 7, 7, 9]
    assert [r["category_id"] for r in res] == [11, 12, 11, 11]
    assert res[0]["bbox"] == [1.0, 1.0, 5.0, 3.0]
    assert res[1]["score"] == pytest.approx(0.8)
    for r, m in zip(res[:3], pred.masks, strict=True):
        rle = {"size": r["segmentation"]["size"], "counts": r["segmentation"]["counts"].encode()}
        assert np.array_equal(mask_utils.decode(rle).astype(bool), m.numpy())
        assert mask_utils.area(rle) == int(m.sum())
    path = save_coco_results([pred], tmp_path / "sub" / "results.json")
    assert json.loads(path.read_text()) == to_coco_results([pred])
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp files left


def test_coco_results_check_their_arguments():
    pred = _toy_prediction()
    with pytest.raises(ValueError, match="image_ids"):
        to_coco_results([pred], image_ids=[1, 2])
    with pytest.raises(ValueError, match="label 2"):
        to_coco_results([pred], category_ids={1: 1})


def test_missing_pycocotools_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    with pytest.raises(ImportError, match=r"maskrcnn-custom\[coco\]"):
        to_coco_results([_toy_prediction()])


def test_label_image_png_is_uint16_and_best_score_wins(tmp_path):
    pred = _toy_prediction()
    labels = pred.label_image()
    assert labels.dtype == np.uint16 and labels.shape == (10, 12)
    assert (labels == 1).sum() == 15 and (labels == 2).sum() == 4 and (labels == 3).sum() == 6
    assert labels[2, 4] == 1  # the overlap goes to the higher-scoring detection
    path = save_label_image(pred, tmp_path / "labels.png")
    with Image.open(path) as im:
        assert im.mode.startswith("I")
        assert np.array_equal(np.asarray(im).astype(np.uint16), labels)


def test_instance_masks_one_png_per_detection(tmp_path):
    pred = _toy_prediction()
    paths = save_instance_masks(pred, tmp_path, stem="img")
    assert [p.name for p in paths] == ["img_000.png", "img_001.png", "img_002.png"]
    for p, m in zip(paths, pred.masks, strict=True):
        assert np.array_equal(np.asarray(Image.open(p)) == 255, m.numpy())


def test_overlay_colours_mask_pixels_only(tmp_path):
    pred = _toy_prediction()
    img = torch.zeros(3, 10, 12)
    out = draw_overlay(img, pred, boxes=False)
    assert out.dtype == torch.uint8 and out.shape == (3, 10, 12)
    painted = out.int().sum(0) > 0
    assert torch.equal(painted, pred.masks.any(0))
    assert out[:, 2, 4].tolist() == out[:, 1, 1].tolist()  # the overlap shows the best detection's colour
    with_boxes = draw_overlay(img, pred, boxes=True, labels=True)
    # opaque 1 px outlines on the objects' last pixels; the captions do not fit a 12 px image and are left out
    assert not torch.equal(with_boxes, out) and torch.equal(with_boxes.int().sum(0) > 0, painted)
    path = save_overlay(img, pred, tmp_path / "o.png")
    assert np.array_equal(np.asarray(Image.open(path)), draw_overlay(img, pred).permute(1, 2, 0).numpy())
    with pytest.raises(ValueError, match="prediction is for"):
        draw_overlay(torch.zeros(3, 5, 5), pred)


def test_outputs_of_a_real_prediction(tmp_path):
    model = detecting_model()
    img = rods_image()
    [pred] = predict(model, img)
    assert len(pred) > 0
    labels = pred.label_image()
    assert set(np.unique(labels)) <= set(range(len(pred) + 1)) and labels.max() > 0
    res = to_coco_results([pred])
    assert len(res) == len(pred) and {r["category_id"] for r in res} == {1}
    assert draw_overlay(img, pred).shape == (3, 96, 96)
