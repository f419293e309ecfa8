"""benchmarks/train_synthetic.py --mode tiny trains both anchor sets end to end and prints the documented JSON."""

import math

from helpers.benchmark_run import run_benchmark


def test_train_synthetic_tiny_mode_prints_the_report():
    report = run_benchmark("train_synthetic.py", "--mode", "tiny", "--device", "cpu")
    assert report["mode"] == "tiny" and report["verdict"] is False
    cfg = report["config"]
    assert (cfg["model"], cfg["image_size"], cfg["epochs"], cfg["iters_per_epoch"]) == (
        "maskrcnn_resnet18_fpn",
        128,
        2,
        3,
    )
    assert report["anchor_sets"]["seed"]["anchor_sizes"] == [[32], [64], [64], [76], [100]]
    assert report["anchor_sets"]["torchvision_default"]["anchor_sizes"] == [[32], [64], [128], [256], [512]]
    cov = report["anchor_coverage_val"]
    assert cov["num_boxes"] > 0
    for name in ("seed", "torchvision_default"):
        c = cov[name]
        assert c["num_boxes"] == cov["num_boxes"]
        assert 0 <= c["iou_0_7"] <= c["iou_0_5"] <= 1
        assert math.isclose(sum(c["level_share"]), 1.0)
    for key in ("seed_anchors", "torchvision_anchors"):
        run = report[key]
        for metric in ("segm_AP", "segm_AP50", "bbox_AP", "bbox_AP50", "bbox_AR100"):
            assert 0.0 <= run[metric] <= 1.0, (key, metric)
        assert math.isfinite(run["train_loss_first_epoch"]) and math.isfinite(run["train_loss_last_epoch"])
        assert run["best_epoch"] == 1  # evaluated once, after the last epoch
        assert 0 < run["train_s"] <= run["wall_s"] <= report["wall_s_total"]
        assert set(run["segm_AP_by_elongation"]) == {"<2", "2-4", "4-8", ">=8"}
    for key in ("segm_AP_ratio_seed_over_torchvision", "bbox_AP_ratio_seed_over_torchvision"):
        seed_ap = report["seed_anchors"][key.split("_")[0] + "_AP"]
        tv_ap = report["torchvision_anchors"][key.split("_")[0] + "_AP"]
        expected = seed_ap / tv_ap if tv_ap > 0 else None
        assert report[key] == expected
