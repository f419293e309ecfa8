"""benchmarks/time_to_accuracy.py --tiny: both runs, the JSON schema, a monotone time axis and the plot."""

import json

import pytest
from PIL import Image

from _benchmark_run import ROOT, run_benchmark

pytest.importorskip("pycocotools")

POINT_KEYS = {
    "train_s",
    "iterations",
    "wall_s",
    "eval_s",
    "segm_AP",
    "segm_AP50",
    "bbox_AP",
    "bbox_AP50",
    "detections_per_image",
    "mean_loss_since_last_point",
}


def test_tiny_run_writes_json_and_plot_with_both_runs(tmp_path):
    report = run_benchmark(
        "time_to_accuracy.py", "--tiny", "--threads", "1", "--out", str(tmp_path), timeout=300
    )
    assert report["benchmark"] == "time_to_accuracy" and report["tiny"] is True
    written = json.loads((tmp_path / "time_to_accuracy_tiny.json").read_text())
    assert written == report
    assert report["machine"]["threads"] == 1 and report["machine"]["logical_cores"] >= 1
    for when in ("start", "end"):
        loads = report["machine"]["load_average_1_5_15"][when]
        assert loads is None or (len(loads) == 3 and min(loads) >= 0)
    assert report["val_data"]["preset"] == "heldout" and report["val_images"] == 2
    assert report["image_size"] == 64
    assert report["train_data"]["config"] != report["val_data"]["config"]
    assert set(report["runs"]) == {"library", "baseline"}
    assert report["runs"]["baseline"]["recipe"]["optimizer"].startswith("SGD lr 0.003 momentum 0.9")
    assert report["runs"]["library"]["recipe"]["optimizer"] == "adamw"
    budget = report["budget_s"]
    for side, run in report["runs"].items():
        points = run["points"]
        assert 1 <= len(points) <= 2, side
        assert all(set(p) == POINT_KEYS for p in points)
        times = [p["train_s"] for p in points]
        iters = [p["iterations"] for p in points]
        assert times == sorted(times) and len(set(times)) == len(times), side
        assert iters == sorted(iters) and iters[0] >= 1
        assert times[-1] >= budget and run["train_s"] == times[-1]
        assert run["iterations"] == iters[-1]
        # Evaluation is outside the training clock: the wall time covers both.
        assert points[-1]["wall_s"] >= run["train_s"] + sum(p["eval_s"] for p in points) * 0.99
        for p in points:
            for key in ("segm_AP", "segm_AP50", "bbox_AP", "bbox_AP50"):
                assert 0.0 <= p[key] <= 1.0, (side, key, p[key])
            assert 0 <= p["detections_per_image"] <= 10  # the tiny mode's detection cap
        before, after = run["load_average_1_5_15"]["before"], run["load_average_1_5_15"]["after"]
        assert (before is None) == (after is None)
    png = tmp_path / "time_to_accuracy_tiny.png"
    with Image.open(png) as im:
        im.load()
        assert im.size == (900, 560)
        colours = {c for _, c in im.convert("RGB").getcolors(maxcolors=1 << 16)}
    assert (31, 119, 180) in colours and (214, 39, 40) in colours  # one line colour per run


def test_refuses_to_overwrite_results_without_overwrite(tmp_path):
    import subprocess
    import sys

    (tmp_path / "time_to_accuracy_tiny.json").write_text("{}")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "time_to_accuracy.py"), "--tiny", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "--overwrite" in proc.stderr and "time_to_accuracy_tiny.json" in proc.stderr
    assert (tmp_path / "time_to_accuracy_tiny.json").read_text() == "{}"
