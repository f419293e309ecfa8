"""benchmarks/mask_paste.py: the ground-truth round trip and a model's masks under both pastes."""

import pytest

from helpers.benchmark_run import run_benchmark
from helpers.models import hub_model
from maskrcnn_custom import save_pretrained

pytest.importorskip("pycocotools")


def test_ground_truth_round_trip_and_a_model(tmp_path):
    folder = save_pretrained(hub_model(num_classes=2, mask_resolution=56), tmp_path / "m")
    out = tmp_path / "r.json"
    report = run_benchmark(
        "mask_paste.py",
        "--image-size",
        "64",
        "--val-images",
        "4",
        "--sides",
        "28,56",
        "--threads",
        "1",
        "--model",
        str(folder),
        "--out",
        str(out),
    )
    gt = report["ground_truth_segm"]
    assert set(gt) == {"28", "56"}
    for side in gt.values():
        # the ground truth itself: the exact paste gives it back, torchvision's loses part of it
        assert side["exact"]["AP"] >= 0.8 and side["exact"]["AP"] > side["torchvision"]["AP"] + 0.1
    model = report["model"]
    assert set(model) >= {
        "model_torchvision_paste",
        "model_exact_paste",
        "model_boxes_ground_truth_masks_exact_paste",
    }
    assert all(0.0 <= v["AP"] <= 1.0 for k, v in model.items() if k.startswith("model_"))
    sizes = report["objects_by_box_size"]
    assert list(sizes["heldout"]) == ["0-50", "50-100", "100-150", "150+"] == list(sizes["default"])
    recall = model["box_recall_by_size_score_above_0.5"]
    assert sum(r["objects"] for r in recall.values()) == sum(sizes["heldout"].values()) > 0
    assert all(r["objects"] == sizes["heldout"][b] for b, r in recall.items())
    assert all(0.0 <= r["iou_0.75"] <= r["iou_0.5"] <= 1.0 for r in recall.values())
    assert out.exists() and "load_average_1_5_15" in report
    with pytest.raises(AssertionError, match="exists; pass --overwrite"):
        run_benchmark("mask_paste.py", "--image-size", "64", "--val-images", "1", "--out", str(out))
