"""benchmarks/step_cost.py: seconds per training step of head-width / RoI / size variants, as JSON."""

import json

from helpers.benchmark_run import run_benchmark


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
