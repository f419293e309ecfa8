"""The benchmark scripts' --quick modes run end to end and print the documented JSON (no timing asserts).

CPU time on 2 cores: inference ~60 s (three resnet18 models at 128 px, an ONNX export), weight loading
~10 s (the training step's benchmark is tested in test_train_iteration.py). On a machine shared with other
jobs the wall time is several times that, so the inference one is marked slow.
"""

import pytest

from helpers.benchmark_run import run_benchmark


def _run(script: str, *args: str) -> dict:
    return run_benchmark(script, "--quick", *args, timeout=900)


@pytest.mark.slow
def test_inference_benchmark_quick_prints_the_json_keys():
    pytest.importorskip(
        "onnxruntime", reason='the ONNX path needs the [onnx] extra: pip install "maskrcnn-custom[onnx]"'
    )
    report = _run("inference_cpu.py")
    assert report["quick"] is True
    assert {"cpu", "logical_cores", "threads", "peak_matmul_gflops"} <= set(report["machine"])
    assert report["machine"]["peak_matmul_gflops"] > 0
    setup = report["setup"]
    assert len(setup["baseline_detections_per_image_above_0.05"]) == setup["images"] == 2
    # the smoke weights give detections above the threshold, so parity compares non-empty outputs
    assert all(n > 0 for n in setup["baseline_detections_per_image_above_threshold"])
    assert {"torchvision_seed", "predict", "onnxruntime"} <= set(report["paths"])
    for entry in report["paths"].values():
        parity = entry["parity_vs_baseline"]
        assert {"same_detections", "max_box_diff_px", "max_mask_pixel_disagreement", "min_mask_iou"} <= set(
            parity
        )
        b1 = entry["batch_1"]
        assert b1["latency_ms_per_image_best"] > 0 and b1["throughput_img_per_s"] > 0
        assert 0 < b1["fraction_of_peak_matmul"]
        assert entry["flops_per_image"] > 0
    # thresholding before the mask head does not change what the user gets
    for name in ("predict", "onnxruntime"):
        parity = report["paths"][name]["parity_vs_baseline"]
        assert parity["equal_outputs"] is True, name
        assert parity["detections_per_image"] == setup["baseline_detections_per_image_above_threshold"]
    # the library's path does less work than plain torchvision with its default 0.05 threshold
    flops = {k: v["flops_per_image"] for k, v in report["paths"].items()}
    assert flops["predict"] < flops["torchvision_seed"]
    assert set(report["fastest_equal_output_path"]) == {"path", "mode", "speedup_vs_baseline_batch_1"}
    assert report["outputs_non_empty"] is True and isinstance(report["goal_2x_met"], bool)


@pytest.mark.slow
def test_inference_precision_benchmark_quick_prints_the_json_keys():
    pytest.importorskip(
        "onnxruntime", reason='the ONNX paths need the [onnx] extra: pip install "maskrcnn-custom[onnx]"'
    )
    report = _run("inference_precision.py", "--threads", "1")
    assert report["quick"] is True and report["setup"]["images"] == 2
    assert all(isinstance(v, bool) for v in report["machine"]["cpu_flags"].values())
    spread = report["baseline_spread_s"]
    assert 0 < spread["min"] <= spread["median"] <= spread["max"]
    paths = report["paths"]
    assert {
        "torchvision_seed",
        "predict_fp32",
        "predict_channels_last",
        "predict_bf16",
        "ort_fp32",
        "ort_int8",
    } <= set(paths)
    for name, entry in paths.items():
        acc, speed = entry["accuracy"], entry["speed"]
        assert {"segm_AP", "bbox_AP", "segm_AP_diff_vs_fp32", "bbox_AP_diff_vs_fp32"} <= set(acc), name
        assert all(-1 <= acc[k] <= 1 for k in ("segm_AP", "bbox_AP")), name
        share = acc["share_matched_mask_iou_0.9_vs_predict_fp32"]
        assert share is None or 0 <= share <= 1
        ratio = speed["speedup_vs_baseline"]
        assert 0 < ratio["min"] <= ratio["median"] <= ratio["max"] and len(speed["runs_s"]) == 1
    # float32 paths reproduce predict's detections; the baseline is the reference of every ratio
    assert paths["predict_fp32"]["accuracy"]["segm_AP_diff_vs_fp32"] == 0
    assert paths["ort_fp32"]["accuracy"]["share_matched_mask_iou_0.9_vs_predict_fp32"] == 1.0
    assert paths["torchvision_seed"]["speed"]["speedup_vs_baseline"]["median"] == 1.0
    assert {"ap_tolerance", "within_ap_tolerance"} <= set(paths["predict_bf16"]["accuracy"])
    batch = report["batch_throughput"]
    assert {
        "predict_fp32_batch_2",
        "cli_predict_folder_batch_2",
        "ort_fp32_batch_2",
        "ort_int8_batch_1",
    } <= set(batch)
    assert all(b["images_per_s_median"] > 0 and b["images"] == 2 for b in batch.values())
    assert report["fastest_batch_path"] in batch
    assert isinstance(report["goal_bf16_3x_met"], bool) and isinstance(report["goal_int8_4x_met"], bool)


def test_weight_loading_benchmark_quick():
    report = _run("weight_loading.py")
    assert report["setup"]["arch"] == "resnet18" and report["setup"]["parameters"] > 10_000_000
    times = report["times"]
    assert set(times) == {
        "from_pretrained",
        "torch_load",
        "build",
        "read_safetensors",
        "read_torch_load",
        "read_torch_load_mmap",
        "load_state_dict",
    }
    assert all(len(t["runs_s"]) == 2 and t["min_s"] > 0 for t in times.values())
    # the parts are smaller than the whole they belong to
    assert times["build"]["min_s"] < max(times["from_pretrained"]["runs_s"])
    assert report["setup"]["safetensors_mb"] > 40
    assert isinstance(report["from_pretrained_not_slower"], bool)
