"""benchmarks/step_cost.py: seconds per training step of head-width / RoI / size variants, as JSON."""

import json

import pytest

from helpers.benchmark_run import load_benchmark_module, run_benchmark


def test_step_cost_reports_each_variant():
    variants = [
        {"size": 64, "rois": 16, "mhid": 16, "mlayers": [32]},
        {"size": 64, "rois": 16, "mhid": 16, "cl": True},
    ]
    report = run_benchmark(
        "step_cost.py", "--variants", json.dumps(variants), "--steps", "1", "--threads", "1"
    )
    assert report["benchmark"] == "step_cost" and report["machine"]["threads"] == 1
    assert [r["size"] for r in report["variants"]] == [64, 64]
    assert all(r["s_per_step_median"] > 0 for r in report["variants"])
    assert set(report["load_average_1_5_15"]) == {"before", "after"}
    assert all(r["first_step_s"] > 0 for r in report["variants"])


def test_step_cost_backbone_norm_pool_and_library_speedups():
    """The GroupNorm-backbone, 28 px mask pool and library speed-up keys build what they name and time it."""
    variants = [
        {
            "size": 64,
            "rois": 8,
            "mhid": 16,
            "mlayers": [16],
            "bnorm": "gn",
            "mpool": 28,
            "mres": 56,
            "speedups": True,
        }
    ]
    report = run_benchmark(
        "step_cost.py", "--variants", json.dumps(variants), "--steps", "1", "--threads", "1"
    )
    (row,) = report["variants"]
    assert row["bnorm"] == "gn" and row["mpool"] == 28 and row["speedups"] is True
    assert row["s_per_step_median"] > 0


def test_step_cost_builds_gn_backbone_and_28px_pool():
    step_cost = load_benchmark_module("step_cost")
    model = step_cost.build({"size": 64, "mhid": 16, "mlayers": [16], "bnorm": "gn", "mpool": 28, "mres": 56})
    norms = {type(m).__name__ for m in model.backbone.body.modules()}
    assert "GroupNorm" in norms and "BatchNorm2d" not in norms
    assert model.roi_heads.mask_roi_pool.output_size == (28, 28)


def test_step_cost_refuses_unknown_compile_target_before_timing_any_variant():
    step_cost = load_benchmark_module("step_cost")
    with pytest.raises(ValueError, match="compile must be 'none' or 'backbone'"):
        step_cost.time_variant({"size": 64, "compile": "everything"}, 1)
    variants = [{"size": 64, "rois": 8, "mhid": 16, "mlayers": [16]}, {"size": 64, "compile": "everything"}]
    with pytest.raises(AssertionError, match="compile must be 'none' or 'backbone'") as failed:
        run_benchmark("step_cost.py", "--variants", json.dumps(variants), "--steps", "1", "--threads", "1")
    assert "time_variant" not in str(failed.value)  # refused by main's check, before the first variant ran
