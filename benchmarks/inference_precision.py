"""Reduced-precision CPU inference: speed judged by accuracy, with the spread of every ratio, and batch throughput.

Paths, all with the same weights on the same ``SyntheticElongatedDataset`` benchmark images (held out from the
training images of the weights, see ``typical_weights.py``):

* ``torchvision_seed``: plain torchvision (the seed's model, default 0.05 threshold, then filtered), the baseline;
* ``predict_fp32``, ``predict_channels_last``, ``predict_bf16`` (``predict(..., precision="bfloat16")``);
* ``ort_fp32`` and ``ort_int8`` (``export_onnx(..., quantize="int8")``, calibrated on ``--calibration-images``
  training-split images) through ``OnnxPredictor``; ``ort_int8_all_layers`` quantizes the RoI heads too
  (Conv, ConvTranspose and Gemm everywhere), the measurement behind keeping them in float (not in ``--quick``).

**Speed.** ``--repeats`` interleaved rounds (default 5); in each round every path runs once over all images at
batch 1, the baseline first. Each path's ratio is baseline time / path time *within a round*, reported as the
median with its min-max over rounds; the baseline's own spread (min, median, max seconds and (max-min)/median)
is stated beside it, with the load averages at start and end.

**Accuracy** (the parity criterion for reduced precision): COCO segm and bbox AP of every path on the benchmark
images against their ground truth (detections above ``--ap-score-threshold``, default 0.05), the difference to
``predict_fp32`` (targets: within 0.005 for bfloat16, 0.01 for int8), and the share of ``predict_fp32``'s
detections above the user's threshold that the path reproduces with mask IoU >= 0.9 (same label).

**Batch throughput** for all benchmark images: ``predict`` on batched tensors (``--batch-size``), a folder of
PNG files through CLI ``predict`` (model loading and writing COCO results included), and ONNX Runtime with a
batched graph (``export_onnx(..., batch_size=N)``), float32 and int8 (float32 only in ``--quick``); images per
second, median with min-max over rounds.

``--quick`` (resnet18 at 128 px, untrained weights, 2 images, 1 round) only checks that every path runs and the
JSON has its keys: its APs are near 0 and its times mean nothing.

    PYTHONPATH=src python benchmarks/inference_precision.py            # full: the seed's resnet101, 256 px
    PYTHONPATH=src python benchmarks/inference_precision.py --quick    # smoke run (JSON schema only)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inference_cpu import load_weights, machine_info, peak_matmul_flops, seed_and_library_models
from typical_weights import CACHE_DIR, TRAIN_SEED, benchmark_dataset

from maskrcnn_custom import Prediction, SyntheticElongatedDataset, predict

BF16_AP_TOLERANCE = 0.005
INT8_AP_TOLERANCE = 0.01
MATCH_MASK_IOU = 0.9


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: resnet18 at 128 px, untrained, 2 images")
    p.add_argument("--arch", default=None, help="backbone (default resnet101; resnet18 with --quick)")
    p.add_argument("--images", type=int, default=None, help="benchmark images (default 8; 2 with --quick)")
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 5; 1 with --quick)")
    p.add_argument("--batch-size", type=int, default=None, help="batch of the throughput runs (default 4; 2)")
    p.add_argument("--calibration-images", type=int, default=None, help="int8 calibration images (8; 2)")
    p.add_argument("--threads", type=int, default=None, help="torch / ONNX Runtime threads (default: all)")
    p.add_argument("--score-threshold", type=float, default=0.5, help="the user's score threshold")
    p.add_argument("--ap-score-threshold", type=float, default=0.05, help="score threshold of the AP runs")
    p.add_argument("--train-steps", type=int, default=800, help="head training steps of the typical weights")
    p.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="where the trained weights are cached")
    args = p.parse_args(argv)
    q = args.quick
    args.arch = args.arch or ("resnet18" if q else "resnet101")
    args.images = args.images or (2 if q else 8)
    args.repeats = args.repeats or (1 if q else 5)
    args.batch_size = args.batch_size or (2 if q else 4)
    args.calibration_images = args.calibration_images or (2 if q else 8)
    args.threads = args.threads or os.cpu_count() or 1
    args.image_size = 128 if q else 256
    args.max_detections = 20 if q else 100
    return args


def _log(msg: str) -> None:
    print(f"inference_precision: {msg}", file=sys.stderr, flush=True)


def _spread(values: list[float]) -> dict:
    med = statistics.median(values)
    return {
        "median": med,
        "min": min(values),
        "max": max(values),
        "rel_spread": (max(values) - min(values)) / med,
    }


def _as_prediction(out: dict, mask_threshold: float = 0.5) -> Prediction:
    return Prediction.from_raw(
        out["boxes"],
        out["labels"],
        out["scores"],
        out["masks"],
        image_size=tuple(out["masks"].shape[-2:]),
        mask_threshold=mask_threshold,
    )


def coco_ap(preds: list[Prediction], targets: list[dict], size: int) -> dict:
    """COCO segm / bbox AP (and AP50) of ``preds`` against the dataset's ground truth."""
    from maskrcnn_custom.engine.coco import target_to_coco
    from maskrcnn_custom.engine.evaluate import coco_metrics
    from maskrcnn_custom.inference.writers import to_coco_results

    images, annotations = [], []
    for i, target in enumerate(targets):
        img, anns = target_to_coco({**target, "image_id": i + 1}, height=size, width=size)
        images.append(img)
        annotations.extend(anns)
    results = to_coco_results(preds, image_ids=list(range(1, len(preds) + 1)))
    if not results:
        return {"segm_AP": 0.0, "bbox_AP": 0.0, "segm_AP50": 0.0, "bbox_AP50": 0.0}
    m = coco_metrics(images, annotations, results, elongation_edges=None)
    return {
        "segm_AP": m["segm"]["AP"],
        "bbox_AP": m["bbox"]["AP"],
        "segm_AP50": m["segm"]["AP50"],
        "bbox_AP50": m["bbox"]["AP50"],
    }


def matched_share(reference: list[Prediction], candidate: list[Prediction]) -> float | None:
    """Share of the reference's detections that the candidate has with mask IoU >= 0.9 and the same label.

    Two empty masks count as identical (IoU 1), so a path compared with itself scores 1.0.
    """
    hit = total = 0
    for r, c in zip(reference, candidate, strict=True):
        total += len(r)
        if len(r) == 0 or len(c) == 0:
            continue
        a, b = r.masks.flatten(1).float(), c.masks.flatten(1).float()
        inter = a @ b.T
        union = a.sum(1, keepdim=True) + b.sum(1)[None, :] - inter
        # Two empty masks agree (IoU 1): a weak model's detections often have no pixel above 0.5, and
        # counting them as misses made a path disagree with itself.
        iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
        iou[r.labels[:, None] != c.labels[None, :]] = 0
        hit += int((iou.max(1).values >= MATCH_MASK_IOU).sum())
    return hit / total if total else None


def cpu_flags() -> dict:
    """Which reduced-precision instruction sets the CPU reports (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    flags = set(
        next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    )
    return {f: f in flags for f in ("avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni", "avx_vnni")}


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    load_start = list(os.getloadavg())
    state, weights_info, weights_s = load_weights(args)
    _log(f"weights ready in {weights_s:.0f} s")

    size, thr = args.image_size, args.score_threshold
    baseline, library_model = seed_and_library_models(args, state)
    library = library_model()
    library_cl = library_model().to(memory_format=torch.channels_last)
    dataset = benchmark_dataset(args.images, size=size)
    items = [dataset[i] for i in range(args.images)]
    images, targets = [im for im, _ in items], [t for _, t in items]
    train = SyntheticElongatedDataset(args.calibration_images, image_size=size, seed=TRAIN_SEED)
    calibration = [train[i][0] for i in range(args.calibration_images)]

    def run_baseline(batch, score=thr):
        with torch.no_grad():
            outs = baseline(batch)
        return [_as_prediction({k: v[o["scores"] > score] for k, v in o.items()}) for o in outs]

    paths = {
        "torchvision_seed": run_baseline,
        "predict_fp32": lambda b, s=thr: predict(library, b, score_threshold=s),
        "predict_channels_last": lambda b, s=thr: predict(library_cl, b, score_threshold=s),
        "predict_bf16": lambda b, s=thr: predict(library, b, score_threshold=s, precision="bfloat16"),
    }
    tmp = tempfile.TemporaryDirectory()
    work = Path(tmp.name)
    from maskrcnn_custom import OnnxPredictor, export_onnx
    from maskrcnn_custom.export.quantize import quantize_int8

    setup_s: dict = {}
    t = time.perf_counter()
    fp32_file = export_onnx(library, work / "fp32.onnx", image_size=size)
    setup_s["export_fp32"] = time.perf_counter() - t
    t = time.perf_counter()
    int8_file = export_onnx(
        library, work / "int8.onnx", image_size=size, quantize="int8", calibration=calibration
    )
    setup_s["export_int8"] = time.perf_counter() - t
    onnx_files = {"ort_fp32": fp32_file, "ort_int8": int8_file}
    if (
        not args.quick
    ):  # the measurement behind the float RoI heads (one more quantization, skipped in --quick)
        all_layers = work / "int8_all.onnx"
        all_layers.write_bytes(fp32_file.read_bytes())
        quantize_int8(all_layers, calibration, op_types=("Conv", "ConvTranspose", "Gemm"), float_prefixes=())
        onnx_files["ort_int8_all_layers"] = all_layers
    for name, file in onnx_files.items():
        ort = OnnxPredictor(file, num_threads=args.threads)
        paths[name] = lambda b, s=thr, ort=ort: ort.predict(b, score_threshold=s)

    _log("accuracy")
    results: dict = {}
    ref_user = paths["predict_fp32"](images)
    ap_ref = None
    for name, fn in paths.items():
        at_user = ref_user if name == "predict_fp32" else fn(images)
        ap = coco_ap(fn(images, args.ap_score_threshold), targets, size)
        if name == "predict_fp32":
            ap_ref = ap
        results[name] = {
            "accuracy": {
                **ap,
                "detections_per_image": [len(p) for p in at_user],
                f"share_matched_mask_iou_{MATCH_MASK_IOU}_vs_predict_fp32": matched_share(ref_user, at_user),
            }
        }
    for name, entry in results.items():
        acc = entry["accuracy"]
        acc["segm_AP_diff_vs_fp32"] = acc["segm_AP"] - ap_ref["segm_AP"]
        acc["bbox_AP_diff_vs_fp32"] = acc["bbox_AP"] - ap_ref["bbox_AP"]
        tol = BF16_AP_TOLERANCE if "bf16" in name else INT8_AP_TOLERANCE if "int8" in name else None
        if tol is not None:
            acc["ap_tolerance"] = tol
            acc["within_ap_tolerance"] = bool(
                abs(acc["segm_AP_diff_vs_fp32"]) <= tol and abs(acc["bbox_AP_diff_vs_fp32"]) <= tol
            )

    # Throughput paths: all images at once.
    bs = min(args.batch_size, len(images))
    t = time.perf_counter()
    batched_files = {
        "ort_fp32_batched": export_onnx(library, work / "fp32_b.onnx", image_size=size, batch_size=bs),
        "ort_int8_batched": export_onnx(
            library,
            work / "int8_b.onnx",
            image_size=size,
            batch_size=bs,
            quantize="int8",
            calibration=calibration,
        ),
    }
    setup_s["export_batched"] = time.perf_counter() - t
    from PIL import Image

    from maskrcnn_custom import save_pretrained
    from maskrcnn_custom.cli import main as cli_main

    weights_dir = save_pretrained(library, work / "weights")
    folder = work / "images"
    folder.mkdir()
    for i, im in enumerate(images):
        Image.fromarray((im.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(
            folder / f"{i:04d}.png"
        )
    cli_round = iter(range(10**6))

    def run_cli(_images):
        out = work / f"cli{next(cli_round)}"
        code = cli_main(
            [
                "predict",
                str(folder),
                "--weights",
                str(weights_dir),
                "--out",
                str(out),
                "--batch-size",
                str(bs),
                "--score-threshold",
                str(thr),
                "--formats",
                "coco",
                "--no-progress",
            ]
        )
        if code != 0:
            raise RuntimeError(f"CLI predict exited with {code}")

    throughput = {
        f"predict_fp32_batch_{bs}": lambda b: predict(library, b, score_threshold=thr, batch_size=bs),
        f"predict_bf16_batch_{bs}": lambda b: predict(
            library, b, score_threshold=thr, batch_size=bs, precision="bfloat16"
        ),
        f"cli_predict_folder_batch_{bs}": run_cli,
        "ort_fp32_batch_1": paths["ort_fp32"],
        "ort_int8_batch_1": paths["ort_int8"],
    }
    for name, file in batched_files.items():
        ort = OnnxPredictor(file, num_threads=args.threads)
        throughput[f"{name.removesuffix('_batched')}_batch_{bs}"] = lambda b, ort=ort: ort.predict(
            b, score_threshold=thr
        )

    _log("timing")
    for fn in (*paths.values(), *throughput.values()):
        if fn is not run_cli:
            fn(images[:1])  # warm-up
    latency: dict = {name: [] for name in paths}
    batch_runs: dict = {name: [] for name in throughput}
    for r in range(args.repeats):
        for name, fn in paths.items():
            t = time.perf_counter()
            for im in images:
                fn([im])
            latency[name].append(time.perf_counter() - t)
        for name, fn in throughput.items():
            t = time.perf_counter()
            fn(images)
            batch_runs[name].append(time.perf_counter() - t)
        _log(f"round {r + 1}/{args.repeats}: baseline {latency['torchvision_seed'][-1]:.1f} s")
    peak = peak_matmul_flops()

    base = latency["torchvision_seed"]
    n = len(images)
    for name in paths:
        runs = latency[name]
        ratios = [b / x for b, x in zip(base, runs, strict=True)]
        results[name]["speed"] = {
            "runs_s": runs,
            "ms_per_image": {k: 1000 * v / n for k, v in _spread(runs).items() if k != "rel_spread"},
            "speedup_vs_baseline": _spread(ratios),
        }
    batch = {
        name: {
            "images": n,
            "batch_size": 1 if name.endswith("_batch_1") else bs,
            "runs_s": runs,
            "images_per_s_median": n / statistics.median(runs),
            "images_per_s_min_max": [n / max(runs), n / min(runs)],
        }
        for name, runs in batch_runs.items()
    }
    tmp.cleanup()

    def goal(name, factor, tol):
        e = results[name]
        acc = e["accuracy"]
        return bool(
            e["speed"]["speedup_vs_baseline"]["median"] >= factor
            and abs(acc["segm_AP_diff_vs_fp32"]) <= tol
            and abs(acc["bbox_AP_diff_vs_fp32"]) <= tol
        )

    report = {
        "benchmark": "inference_precision",
        "quick": args.quick,
        "machine": {**machine_info(args, load_start, peak), "cpu_flags": cpu_flags()},
        "setup": {
            "arch": args.arch,
            "image_size": size,
            "images": n,
            "repeats": args.repeats,
            "batch_size": bs,
            "score_threshold": thr,
            "ap_score_threshold": args.ap_score_threshold,
            "calibration_images": args.calibration_images,
            "max_detections": args.max_detections,
            "weights": weights_info,
            "weights_s": weights_s,
            "setup_s": setup_s,
            "ground_truth_objects_per_image": [len(t["labels"]) for t in targets],
        },
        "baseline_spread_s": _spread(base),
        "paths": results,
        "batch_throughput": batch,
        "fastest_batch_path": max(batch, key=lambda k: batch[k]["images_per_s_median"]),
        "goal_bf16_3x_met": goal("predict_bf16", 3.0, BF16_AP_TOLERANCE),
        "goal_int8_4x_met": goal("ort_int8", 4.0, INT8_AP_TOLERANCE),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
