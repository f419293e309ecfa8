"""CPU inference benchmark: plain torchvision (the seed's model) vs maskrcnn_custom.predict vs ONNX Runtime.

All paths run the same weights on the same 256x256 ``SyntheticElongatedDataset`` images (2-8 elongated
objects each) in one process. Repeats are interleaved (every path runs once per round, the baseline first),
and each speedup is the median over rounds of baseline time / path time *within the same round*, so load
from other processes on a shared machine hits both sides of every ratio alike. The JSON printed at the end
holds latency, throughput, output parity against the baseline (with the detection counts of both sides),
FLOPs per image and the fraction of the machine's measured peak fp32 matmul FLOP/s each path reaches.

Weights (full run): see ``typical_weights.py``: the seed's ResNet-101 network with a random, BatchNorm-
calibrated backbone and RPN / RoI heads trained on synthetic images (about 6 minutes on an idle 2-core CPU;
on the 4 benchmark images: 18-64 detections above 0.05, 7-22 above 0.5, for 4-8 objects). Cached in
``benchmarks/.cache/`` (git-ignored) after the first run. ``--quick``: resnet18 at 128 px, no training: the
class-score layer gets spread-out random weights so that detections exist above both thresholds (a smoke run,
not a measurement).

    PYTHONPATH=src python benchmarks/inference_cpu.py            # full: the seed's resnet101
    PYTHONPATH=src python benchmarks/inference_cpu.py --quick    # smoke run for CI
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import cpu_model, model_flops, peak_matmul_flops
from seed_baseline import seed_maskrcnn_resnet101_fpn
from typical_weights import CACHE_DIR, benchmark_dataset, benchmark_images, typical_state_dict

from maskrcnn_custom import build_model, make_config, predict


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: resnet18 at 128 px, untrained, 2 images")
    p.add_argument(
        "--arch", default=None, help="backbone (default resnet101, the seed's; resnet18 with --quick)"
    )
    p.add_argument("--images", type=int, default=None, help="benchmark images (default 4; 2 with --quick)")
    p.add_argument("--batch-size", type=int, default=2, help="batch size of the batched runs")
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 3; 1 with --quick)")
    p.add_argument(
        "--threads", type=int, default=None, help="torch / ONNX Runtime threads (default: all cores)"
    )
    p.add_argument("--score-threshold", type=float, default=0.5, help="the user's score threshold")
    p.add_argument(
        "--num-proposals", type=int, default=300, help="RPN proposals of the 'fewer proposals' variant"
    )
    p.add_argument("--train-steps", type=int, default=800, help="head training steps of the typical weights")
    p.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="where the trained weights are cached")
    p.add_argument("--no-onnx", action="store_true", help="skip ONNX Runtime")
    p.add_argument(
        "--channels-last", action="store_true", help="also time predict with a channels_last model"
    )
    args = p.parse_args(argv)
    q = args.quick
    args.arch = args.arch or ("resnet18" if q else "resnet101")
    args.images = args.images or (2 if q else 4)
    args.repeats = args.repeats or (1 if q else 3)
    args.threads = args.threads or os.cpu_count() or 1
    args.image_size = 128 if q else 256
    args.max_detections = 20 if q else 100  # torchvision's default in the full run
    return args


def quick_state_dict(arch: str, image_size: int) -> tuple[dict, dict]:
    """Untrained weights whose class scores spread over (0, 1): detections above 0.05 and above 0.5 exist."""
    torch.manual_seed(0)
    config = make_config(backbone=arch, backbone_norm="frozen_bn", min_size=image_size, max_size=image_size)
    model = build_model(config)
    cls = model.roi_heads.box_predictor.cls_score
    with torch.no_grad():
        cls.weight.normal_(0.0, 0.1, generator=torch.Generator().manual_seed(1))
        cls.bias.copy_(torch.tensor([0.0, 0.5]))
    return model.state_dict(), {
        "method": "untrained resnet18 with a spread-out class-score layer (smoke run)"
    }


def _log(msg: str) -> None:
    print(f"inference_cpu: {msg}", file=sys.stderr, flush=True)


def as_tuples(preds):
    """(boxes, scores, labels, bool masks) per image, from torchvision dicts or Prediction objects."""
    out = []
    for p in preds:
        if isinstance(p, dict):
            out.append((p["boxes"], p["scores"], p["labels"], p["masks"][:, 0] > 0.5))
        else:
            out.append((p.boxes, p.scores, p.labels, p.masks))
    return out


# What "equal outputs" means here: the same detections (count, labels, order) with boxes within 0.01 px,
# scores within 1e-3 and at most 0.1 % of each mask's pixels differing. The score tolerance is float32 rounding
# for a 101-layer network: ONNX Runtime and channels_last run other convolution kernels (other summation
# orders), which moves scores by up to ~2e-4 on the seed's ResNet-101 at 256 px (1e-6 or less on resnet18).
BOX_ATOL_PX = 0.01
SCORE_ATOL = 1e-3
MASK_MAX_DISAGREEMENT = 1e-3


def parity(reference, candidate) -> dict:
    """Compare per-image detections (same order: both sorted by score)."""
    counts_equal, box_diff, score_diff, pix_diff, min_iou = True, 0.0, 0.0, 0.0, 1.0
    for (rb, rs, rl, rm), (cb, cs, cl, cm) in zip(reference, candidate, strict=True):
        if len(rs) != len(cs) or not torch.equal(rl, cl):
            counts_equal = False
            continue
        if len(rs):
            box_diff = max(box_diff, float((rb - cb).abs().max()))
            score_diff = max(score_diff, float((rs - cs).abs().max()))
            pix_diff = max(pix_diff, float((rm != cm).float().mean((1, 2)).max()))
            inter = (rm & cm).flatten(1).sum(1).float()
            union = (rm | cm).flatten(1).sum(1).float()
            iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
            min_iou = min(min_iou, float(iou.min()))
    equal = (
        counts_equal
        and box_diff <= BOX_ATOL_PX
        and score_diff <= SCORE_ATOL
        and pix_diff <= MASK_MAX_DISAGREEMENT
    )
    return {
        "same_detections": counts_equal,
        "detections_per_image": [len(c[1]) for c in candidate],
        "max_box_diff_px": box_diff,
        "max_score_diff": score_diff,
        "max_mask_pixel_disagreement": pix_diff,
        "min_mask_iou": min_iou,
        "equal_outputs": equal,
        "tolerances": {
            "box_px": BOX_ATOL_PX,
            "score": SCORE_ATOL,
            "mask_pixel_disagreement": MASK_MAX_DISAGREEMENT,
        },
    }


def load_weights(args) -> tuple[dict, dict, float]:
    """The state dict of the run (quick: untrained; full: ``typical_weights``), its description and seconds."""
    t0 = time.perf_counter()
    if args.quick:
        state, info = quick_state_dict(args.arch, args.image_size)
    else:
        state, info = typical_state_dict(arch=args.arch, steps=args.train_steps, cache_dir=args.cache_dir)
    return state, info, time.perf_counter() - t0


def seed_and_library_models(args, state: dict):
    """The seed's baseline model with ``state`` loaded, and a factory of the library's model with it."""
    size = args.image_size
    baseline = seed_maskrcnn_resnet101_fpn(
        num_classes=2, backbone_name=args.arch, image_size=size, box_detections_per_img=args.max_detections
    ).eval()
    baseline.load_state_dict(state, strict=True)

    def library_model():
        config = make_config(
            backbone=args.arch,
            backbone_norm="frozen_bn",
            min_size=size,
            max_size=size,
            box_detections_per_img=args.max_detections,
        )
        m = build_model(config)
        m.load_state_dict(state, strict=True)
        return m.eval()

    return baseline, library_model


def machine_info(args, load_start: list[float], peak: float) -> dict:
    """CPU, cores, threads, load averages at start and end, versions and the measured peak matmul FLOP/s."""
    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "threads": args.threads,
        "load_average_1_5_15_at_start": load_start,
        "load_average_1_5_15_at_end": list(os.getloadavg()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "peak_matmul_gflops": peak / 1e9,
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    load_start = list(os.getloadavg())
    state, weights_info, weights_s = load_weights(args)
    _log(f"weights ready in {weights_s:.0f} s")

    size = args.image_size
    baseline, library_model = seed_and_library_models(args, state)
    library = library_model()
    images = benchmark_images(args.images, size=size)
    targets = [benchmark_dataset(args.images, size=size).generate(i)[1] for i in range(args.images)]
    thr = args.score_threshold

    def run_baseline(batch):
        with torch.no_grad():
            return baseline(batch)

    with torch.no_grad():
        base_out = [baseline([im])[0] for im in images]
    base_kept = [{k: v[o["scores"] > thr] for k, v in o.items()} for o in base_out]
    reference = as_tuples(base_kept)

    paths = {
        "torchvision_seed": run_baseline,
        "predict": lambda b: predict(library, b, score_threshold=thr, batch_size=len(b)),
        f"predict_{args.num_proposals}_proposals": lambda b: predict(
            library, b, score_threshold=thr, batch_size=len(b), num_proposals=args.num_proposals
        ),
    }
    if args.channels_last:
        library_cl = library_model().to(memory_format=torch.channels_last)
        paths["predict_channels_last"] = lambda b: predict(
            library_cl, b, score_threshold=thr, batch_size=len(b)
        )
    batched_paths = set(paths)  # ONNX Runtime graphs take one image

    results: dict = {}
    for name, fn in paths.items():
        outputs = base_kept if name == "torchvision_seed" else fn(images)
        results[name] = {"parity_vs_baseline": parity(reference, as_tuples(outputs))}
        with torch.no_grad():
            results[name]["flops_per_image"] = model_flops(lambda fn=fn: fn([images[0]]))

    tmp = tempfile.TemporaryDirectory()
    if not args.no_onnx:
        from maskrcnn_custom import OnnxPredictor, export_onnx

        variants = [("onnxruntime", {}, "predict")]
        if not args.quick:
            key = f"predict_{args.num_proposals}_proposals"
            variants.append(
                (f"onnxruntime_{args.num_proposals}_proposals", {"num_proposals": args.num_proposals}, key)
            )
        for label, kwargs, same_graph in variants:
            t = time.perf_counter()
            path = export_onnx(library, Path(tmp.name) / f"{label}.onnx", image_size=size, **kwargs)
            ort = OnnxPredictor(path, num_threads=args.threads)
            fn = lambda b, ort=ort: ort.predict(b, score_threshold=thr)  # noqa: E731
            paths[label] = fn
            results[label] = {
                "parity_vs_baseline": parity(reference, as_tuples(fn(images))),
                "flops_per_image": results[same_graph]["flops_per_image"],  # the same graph
                "export_s": time.perf_counter() - t,
            }

    _log("parity and FLOPs done; timing")
    # Warm-up, then interleaved rounds: batch 1 over all images for every path, then batched.
    for fn in paths.values():
        fn(images[:1])
    batch_size = min(args.batch_size, len(images))
    modes = {"batch_1": 1, "batched": batch_size} if batch_size > 1 else {"batch_1": 1}
    runs: dict = {name: {mode: [] for mode in modes} for name in paths}
    for _ in range(args.repeats):
        for mode, bs in modes.items():
            for name, fn in paths.items():
                if mode == "batched" and name not in batched_paths:
                    continue
                t = time.perf_counter()
                for i in range(0, len(images), bs):
                    fn(images[i : i + bs])
                runs[name][mode].append(time.perf_counter() - t)
                _log(f"{name} {mode}: {runs[name][mode][-1]:.1f} s")
    peak = peak_matmul_flops()

    base_b1 = runs["torchvision_seed"]["batch_1"]
    for name in paths:
        entry = results[name]
        for mode in modes:
            totals = runs[name][mode]
            if not totals:
                continue
            best = min(totals)
            entry[mode] = {
                "batch_size": modes[mode],
                "latency_ms_per_image_best": 1000 * best / len(images),
                "latency_ms_per_image_median": 1000 * statistics.median(totals) / len(images),
                "throughput_img_per_s": len(images) / best,
                "runs_s": totals,
                # same-round ratios against the baseline's batch-1 pass
                "speedup_vs_baseline_batch_1": statistics.median(
                    b / t for b, t in zip(base_b1, totals, strict=True)
                ),
                "fraction_of_peak_matmul": entry["flops_per_image"] * len(images) / best / peak,
            }
    equal = {
        k: v
        for k, v in results.items()
        if v["parity_vs_baseline"]["equal_outputs"] and k != "torchvision_seed"
    }
    fastest = max(
        (
            (k, mode, v[mode]["speedup_vs_baseline_batch_1"])
            for k, v in equal.items()
            for mode in modes
            if mode in v
        ),
        key=lambda t: t[2],
        default=(None, None, None),
    )
    tmp.cleanup()
    report = {
        "benchmark": "inference_cpu",
        "quick": args.quick,
        "machine": machine_info(args, load_start, peak),
        "setup": {
            "arch": args.arch,
            "image_size": size,
            "images": args.images,
            "batch_size": batch_size,
            "repeats": args.repeats,
            "score_threshold": thr,
            "max_detections": args.max_detections,
            "weights": weights_info,
            "weights_s": weights_s,
            "baseline_detections_per_image_above_0.05": [len(o["scores"]) for o in base_out],
            "baseline_detections_per_image_above_threshold": [len(o["scores"]) for o in base_kept],
            "ground_truth_objects_per_image": [len(t["labels"]) for t in targets],
        },
        "paths": results,
        "fastest_equal_output_path": {
            "path": fastest[0],
            "mode": fastest[1],
            "speedup_vs_baseline_batch_1": fastest[2],
        },
        # Parity on empty outputs proves nothing: the goal counts only when every image has detections kept.
        "outputs_non_empty": all(len(o["scores"]) > 0 for o in base_kept),
        "goal_2x_met": bool(
            fastest[2] is not None and fastest[2] >= 2.0 and all(len(o["scores"]) > 0 for o in base_kept)
        ),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
