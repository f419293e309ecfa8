"""The inference benchmark's --quick mode runs end to end and prints the documented JSON (no timing asserts)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # 1-3 min on 2 shared CPU cores (resnet18: 1 training step, each path on 1 image, ONNX export)
def test_inference_benchmark_quick_prints_the_json_keys(tmp_path):
    pytest.importorskip(
        "onnxruntime", reason='the ONNX path needs the [onnx] extra: pip install "maskrcnn-custom[onnx]"'
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "inference_cpu.py"),
            "--quick",
            "--weights-cache",
            str(tmp_path / "w.pt"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["quick"] is True
    assert {"cpu", "logical_cores", "threads", "peak_matmul_gflops"} <= set(report["machine"])
    assert report["machine"]["peak_matmul_gflops"] > 0
    assert {"torchvision_seed", "predict", "onnxruntime"} <= set(report["paths"])
    for entry in report["paths"].values():
        assert {"same_detections", "max_box_diff_px", "max_mask_pixel_disagreement", "equal_outputs"} <= set(
            entry["parity_vs_baseline"]
        )
        b1 = entry["batch_1"]
        assert b1["latency_ms_per_image"] > 0 and b1["throughput_img_per_s"] > 0
        assert 0 < b1["fraction_of_peak_matmul"]
        assert entry["flops_per_image"] > 0
    # thresholding before the mask head does not change what the user gets
    assert report["paths"]["predict"]["parity_vs_baseline"]["equal_outputs"] is True
    assert report["paths"]["onnxruntime"]["parity_vs_baseline"]["same_detections"] is True
    # the library's path does less work than plain torchvision with its default 0.05 threshold
    assert (
        report["paths"]["predict"]["flops_per_image"]
        <= report["paths"]["torchvision_seed"]["flops_per_image"]
    )
    assert set(report["fastest_equal_output_path"]) == {"path", "mode", "speedup_vs_baseline_batch_1"}
    assert isinstance(report["goal_2x_met"], bool)
