"""benchmarks/time_to_accuracy.py --tiny: both runs, the JSON schema, a monotone time axis and the plot."""

import importlib.util
import json
import sys

import pytest
from PIL import Image

from helpers.benchmark_run import ROOT, run_benchmark
from maskrcnn_custom import from_pretrained

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
    "boundary_AP",
    "boundary_AP50",
    "clDice",
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
        assert run["diverged"] is None, side
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
            for key in ("segm_AP", "segm_AP50", "bbox_AP", "bbox_AP50", "boundary_AP", "boundary_AP50"):
                assert 0.0 <= p[key] <= 1.0, (side, key, p[key])
            assert 0.0 <= p["clDice"] <= 1.0 or p["clDice"] == -1.0  # -1: no matched pair to score
            assert 0 <= p["detections_per_image"] <= 10  # the tiny mode's detection cap
        before, after = run["load_average_1_5_15"]["before"], run["load_average_1_5_15"]["after"]
        assert (before is None) == (after is None)
    png = tmp_path / "time_to_accuracy_tiny.png"
    with Image.open(png) as im:
        im.load()
        assert im.size == (900, 560)
        colours = {c for _, c in im.convert("RGB").getcolors(maxcolors=1 << 16)}
    assert (31, 119, 180) in colours and (214, 39, 40) in colours  # one line colour per run


def test_library_only_run_at_56_px_masks_with_group_norm(tmp_path):
    report = run_benchmark(
        "time_to_accuracy.py",
        "--tiny",
        "--threads",
        "1",
        "--no-baseline",
        "--mask-resolution",
        "56",
        "--mask-head-norm",
        "gn",
        "--mask-paste",
        "exact",
        "--eval-points",
        "1",
        "--save-model",
        str(tmp_path / "model"),
        timeout=300,
    )
    assert set(report["runs"]) == {"library"}
    run = report["runs"]["library"]
    assert run["recipe"]["mask_resolution"] == 56 and run["diverged"] is None
    assert run["recipe"]["mask_head_norm"] == "gn" and run["recipe"]["mask_paste"] == "exact"
    [point] = run["points"]
    assert set(point) == POINT_KEYS and run["final"]["boundary_AP"] == point["boundary_AP"]
    assert run["best_boundary_AP"] == point["boundary_AP"]
    # the model the run evaluated, its card quoting the last point
    saved = from_pretrained(tmp_path / "model")
    assert saved.config.mask_head.paste == "exact" and saved.config.mask_head.resolution == 56
    card = (tmp_path / "model" / "README.md").read_text()
    assert f"| bbox_AP | {point['bbox_AP']:.4f} |" in card and "held-out images of the 'heldout'" in card


def _script():
    spec = importlib.util.spec_from_file_location(
        "time_to_accuracy", ROOT / "benchmarks" / "time_to_accuracy.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


def test_refuses_to_overwrite_results_and_checks_options_before_work(tmp_path, capsys):
    tta = _script()
    (tmp_path / "time_to_accuracy_tiny.json").write_text("{}")
    with pytest.raises(SystemExit) as err:
        tta.parse_args(["--tiny", "--out", str(tmp_path)])
    assert err.value.code == 2
    message = capsys.readouterr().err
    assert "--overwrite" in message and "time_to_accuracy_tiny.json" in message
    assert (tmp_path / "time_to_accuracy_tiny.json").read_text() == "{}"
    assert tta.parse_args(["--tiny", "--out", str(tmp_path), "--overwrite"]).overwrite
    assert tta.parse_args(["--no-baseline"]).sides == ["library"]
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    with pytest.raises(SystemExit):
        tta.parse_args(["--save-model", str(tmp_path / "model")])
    message = capsys.readouterr().err
    assert "--save-model" in message and "--overwrite" in message
    assert (
        tta.parse_args(["--save-model", str(tmp_path / "model"), "--overwrite"]).save_model
        == tmp_path / "model"
    )
    assert tta.parse_args([]).mask_resolution == 28
    for bad, words in (
        (["--sides", "library,mine"], "--sides"),
        (["--budget-s", "0"], "--budget-s"),
        (["--image-size", "100"], "--image-size"),
        (["--lr-drop-at", "1.5"], "--lr-drop-at"),
        (["--mask-resolution", "42"], "--mask-resolution"),
        (["--no-baseline", "--sides", "baseline"], "--sides"),
        (["--train-data-kwargs", '{"width_range": [0.05, 0.01]}'], "width_range"),
        (["--train-data-kwargs", '{"colour": 1}'], "--train-data-kwargs"),
        (["--train-data-kwargs", "[1, 2]"], "JSON object"),
    ):
        with pytest.raises(SystemExit):
            tta.parse_args(bad)
        assert words in capsys.readouterr().err


def test_train_data_kwargs_widen_the_training_generator():
    from maskrcnn_custom.data import SyntheticConfig

    tta = _script()
    assert tta.train_data_config(tta.parse_args([])) == SyntheticConfig()
    args = tta.parse_args(["--train-data-kwargs", '{"curvature_range": [0, 2.2], "invert_probability": 0.4}'])
    assert tta.train_data_config(args) == SyntheticConfig(curvature_range=(0.0, 2.2), invert_probability=0.4)
    demo = tta.parse_args(["--train-data", "demo", "--train-data-kwargs", '{"num_objects": [1, 2]}'])
    from maskrcnn_custom.demo import demo_settings

    width = demo_settings().width_range  # the demo's own field stays, the JSON one wins
    assert tta.train_data_config(demo) == SyntheticConfig(num_objects=(1, 2), width_range=width)


def test_evaluation_points_and_time_based_schedule():
    tta = _script()
    args = tta.parse_args(["--budget-s", "900", "--eval-points", "5"])
    assert tta.eval_times(args) == [180.0, 360.0, 540.0, 720.0, 900.0]
    args = tta.parse_args(["--budget-s", "100", "--eval-every-s", "30"])
    assert args.eval_points == 4 and tta.eval_times(args) == [30.0, 60.0, 90.0, 100.0]
    # Defaults are the demo's recipe.
    from maskrcnn_custom.demo import demo_settings

    demo = demo_settings()
    args = tta.parse_args([])
    assert (args.optimizer, args.lr, args.warmup_iters) == (demo.optimizer, demo.lr, demo.warmup_iters)
    assert (args.image_size, args.rois_per_image) == (demo.image_size, demo.box_batch_size_per_image)
    # Warm-up from 1e-3 of the rate, then halved after two thirds of the budget; cosine ends at 0.
    assert tta.library_lr_factor(args, 0, 0.0) == pytest.approx(1e-3)
    assert tta.library_lr_factor(args, demo.warmup_iters, 0.5) == 1.0
    assert tta.library_lr_factor(args, 10_000, 0.7) == 0.5
    args = tta.parse_args(["--lr-schedule", "cosine", "--warmup-iters", "0"])
    assert tta.library_lr_factor(args, 5, 0.5) == pytest.approx(0.5)
    assert tta.library_lr_factor(args, 5, 1.0) == pytest.approx(0.0)
