"""``benchmarks/train_iteration.py --quick``: the JSON it reports, the loss check, ``--out`` / ``--overwrite``.

About 30 s on one core of a shared machine (resnet18, 64 px, 3 variants x 4 steps).
"""

import importlib.util
import json
from pathlib import Path

import pytest

from helpers.benchmark_run import ROOT, run_benchmark


def test_train_iteration_quick_reports_equal_losses_flops_and_rounds(tmp_path):
    out = tmp_path / "train_iteration.json"
    report = run_benchmark("train_iteration.py", "--quick", "--threads", "1", "--out", str(out), timeout=600)
    assert json.loads(out.read_text()) == report
    assert report["quick"] is True and report["setup"]["rounds"] == 3
    assert report["setup"]["warmup_rounds"] == 0
    machine = report["machine"]
    assert machine["peak_matmul_gflops"] > 0
    assert set(machine["load_average_1_5_15"]) == {"before", "after"}
    check = report["loss_check"]
    assert report["losses_match"] is True and check["losses_match"] is True
    assert 0 < check["tolerance_abs"] <= 1e-3
    assert set(check["first_step_max_abs_diff_vs_plain"]) == {"library", "library_no_speedups"}
    terms = {"loss", "loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}
    for diffs in check["first_step_max_abs_diff_vs_plain"].values():
        assert set(diffs) == terms and max(diffs.values()) <= check["tolerance_abs"]
    assert check["first_step_losses"]["plain"]["loss"] > 0.1
    # cpu_speedups=False runs the very kernels of the plain loop: equal losses in every round
    assert check["all_rounds_max_abs_diff_vs_plain"]["library_no_speedups"] == 0.0
    variants = report["variants"]
    assert set(variants) == {"plain", "library", "library_no_speedups"}
    assert variants["plain"]["speedup_vs_plain"] == 1.0
    flops = {v["flops_per_step"] for v in variants.values()}
    assert len(flops) == 1 and flops.pop() > 1e9  # equal math: the same FLOPs for every variant
    for v in variants.values():
        assert len(v["s_per_step_runs"]) == 3
        assert 0 < v["s_per_step_min"] <= v["s_per_step_median"] <= v["s_per_step_max"]
        assert 0 < v["fraction_of_peak_matmul"] < 1.5
        assert len(v["cpu_s_per_step_runs"]) == 3 and v["cpu_s_per_step_median"] > 0
        ratios = [
            p / m for p, m in zip(variants["plain"]["s_per_step_runs"], v["s_per_step_runs"], strict=True)
        ]
        assert v["speedup_vs_plain_per_round"] == pytest.approx(ratios)
        assert v["speedup_vs_plain_per_round_median"] == pytest.approx(sorted(ratios)[1])
    assert report["library_speedup_vs_plain"] == variants["library"]["speedup_vs_plain"]
    assert isinstance(report["goal_1_5x_met"], bool)


def _parse_args():
    spec = importlib.util.spec_from_file_location(
        "train_iteration", ROOT / "benchmarks" / "train_iteration.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.parse_args


def test_out_refuses_an_existing_file_without_overwrite(tmp_path, capsys):
    parse_args = _parse_args()
    out = tmp_path / "old.json"
    out.write_text("{}")
    with pytest.raises(SystemExit) as exc:
        parse_args(["--quick", "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "FileExistsError" in err and str(out) in err and "--overwrite" in err
    assert parse_args(["--quick", "--out", str(out), "--overwrite"]).out == Path(out)
    assert out.read_text() == "{}"  # parsing never writes


def test_fewer_than_three_rounds_are_refused(capsys):
    with pytest.raises(SystemExit):
        _parse_args()(["--quick", "--rounds", "2"])
    assert "--rounds must be >= 3" in capsys.readouterr().err
