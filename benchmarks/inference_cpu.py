"""CPU inference benchmark: plain torchvision (the seed's model) vs maskrcnn_custom.predict vs ONNX Runtime.

All paths run the same weights on the same 256x256 images in one process, and the JSON printed at the end
holds latency, throughput, output parity against the baseline and the fraction of the machine's measured
peak fp32 matmul FLOP/s each path reaches. The weights come from a short training run on synthetic rods
(cached in --weights-cache) so that the model produces typical detection counts.

    python benchmarks/inference_cpu.py                 # full: the seed's resnet101
    python benchmarks/inference_cpu.py --quick         # smoke run (resnet18, tiny training), < 2 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed_baseline import seed_maskrcnn_resnet101_fpn
from synthetic_rods import rods_sample

from maskrcnn_custom import build_model, make_config, predict


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--quick", action="store_true", help="smoke run: resnet18, 1 training step, 1 image, fewer variants"
    )
    p.add_argument(
        "--arch", default=None, help="backbone (default resnet101, the seed's; resnet18 with --quick)"
    )
    p.add_argument(
        "--train-steps", type=int, default=None, help="training steps for the weights (default 60)"
    )
    p.add_argument("--images", type=int, default=None, help="benchmark images (default 6)")
    p.add_argument("--batch-size", type=int, default=4, help="batch size of the batched runs")
    p.add_argument("--repeats", type=int, default=None, help="timed passes over the images (default 2)")
    p.add_argument(
        "--threads", type=int, default=None, help="torch / ONNX Runtime threads (default: all cores)"
    )
    p.add_argument("--score-threshold", type=float, default=0.5, help="the user's score threshold")
    p.add_argument(
        "--num-proposals", type=int, default=300, help="RPN proposals of the 'fewer proposals' variant"
    )
    p.add_argument("--weights-cache", type=Path, default=None, help="where trained weights are cached")
    p.add_argument("--no-onnx", action="store_true", help="skip ONNX Runtime")
    args = p.parse_args(argv)
    q = args.quick
    args.arch = args.arch or ("resnet18" if q else "resnet101")
    args.train_steps = args.train_steps if args.train_steps is not None else (1 if q else 60)
    args.images = args.images or (1 if q else 6)
    args.repeats = args.repeats or (1 if q else 2)
    args.threads = args.threads or os.cpu_count() or 1
    if args.weights_cache is None:
        args.weights_cache = (
            Path(tempfile.gettempdir()) / f"maskrcnn_custom_bench_{args.arch}_{args.train_steps}.pt"
        )
    return args


def train_weights(arch: str, steps: int, cache: Path) -> dict:
    """Train the library's model (trainable BatchNorm) briefly on synthetic rods; return a seed-shaped state dict."""
    if cache.is_file():
        return torch.load(cache, map_location="cpu", weights_only=True)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    # Fewer sampled RoIs than the seed (64 vs 512) only to make training affordable on a CPU.
    model = build_model(make_config(backbone=arch, backbone_norm="bn", box_batch_size_per_image=64))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = 0.01 * min(1.0, (step + 1) / 20)
        batch = [rods_sample(rng) for _ in range(2)]
        losses = model([b[0] for b in batch], [b[1] for b in batch])
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        if step % 10 == 0 or step == steps - 1:
            print(f"train step {step}: loss {float(loss.detach()):.3f}", file=sys.stderr)
    # BatchNorm in eval == FrozenBatchNorm2d with the same statistics: drop the counters the seed lacks.
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, cache)
    return state


def peak_matmul_flops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def model_flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def time_path(fn, images, batch_size: int, repeats: int) -> dict:
    """Run fn(list_of_images) over all images in batches; report per-image latency and throughput."""
    fn(images[:batch_size])  # warm-up
    totals = []
    for _ in range(repeats):
        t = time.perf_counter()
        for i in range(0, len(images), batch_size):
            fn(images[i : i + batch_size])
        totals.append(time.perf_counter() - t)
    best = min(totals)
    return {
        "batch_size": batch_size,
        "latency_ms_per_image": 1000 * best / len(images),
        "throughput_img_per_s": len(images) / best,
        "runs_s": totals,
    }


def as_tuples(preds):
    """(boxes, scores, labels, bool masks) per image, from torchvision dicts or Prediction objects."""
    out = []
    for p in preds:
        if isinstance(p, dict):
            out.append((p["boxes"], p["scores"], p["labels"], p["masks"][:, 0] > 0.5))
        else:
            out.append((p.boxes, p.scores, p.labels, p.masks))
    return out


def parity(reference, candidate) -> dict:
    """Compare per-image detections (same order: both sorted by score)."""
    counts_equal, box_diff, score_diff, mask_diff = True, 0.0, 0.0, 0.0
    for (rb, rs, rl, rm), (cb, cs, cl, cm) in zip(reference, candidate, strict=True):
        if len(rs) != len(cs) or not torch.equal(rl, cl):
            counts_equal = False
            continue
        if len(rs):
            box_diff = max(box_diff, float((rb - cb).abs().max()))
            score_diff = max(score_diff, float((rs - cs).abs().max()))
            mask_diff = max(mask_diff, float((rm != cm).float().mean((1, 2)).max()))
    equal = counts_equal and box_diff < 0.01 and score_diff < 1e-4 and mask_diff < 1e-3
    return {
        "same_detections": counts_equal,
        "max_box_diff_px": box_diff,
        "max_score_diff": score_diff,
        "max_mask_pixel_disagreement": mask_diff,
        "equal_outputs": equal,
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    state = train_weights(args.arch, args.train_steps, args.weights_cache)
    train_s = time.perf_counter() - t0

    baseline = seed_maskrcnn_resnet101_fpn(num_classes=2, backbone_name=args.arch).eval()
    baseline.load_state_dict(state, strict=True)
    library = build_model(make_config(backbone=args.arch, backbone_norm="frozen_bn")).eval()
    library.load_state_dict(state, strict=True)

    rng = np.random.default_rng(1234)
    images = [rods_sample(rng)[0] for _ in range(args.images)]
    thr = args.score_threshold

    with torch.no_grad():
        base_out = [baseline([im])[0] for im in images]
    base_kept = [{k: v[o["scores"] > thr] for k, v in o.items()} for o in base_out]
    reference = as_tuples(base_kept)

    def run_baseline(batch):
        with torch.no_grad():
            return baseline(batch)

    library_cl = build_model(make_config(backbone=args.arch, backbone_norm="frozen_bn")).eval()
    library_cl.load_state_dict(state, strict=True)
    library_cl = library_cl.to(memory_format=torch.channels_last)

    paths = {
        "torchvision_seed": run_baseline,
        "predict": lambda b: predict(library, b, score_threshold=thr, batch_size=len(b)),
        f"predict_{args.num_proposals}_proposals": (
            lambda b: predict(
                library, b, score_threshold=thr, batch_size=len(b), num_proposals=args.num_proposals
            )
        ),
    }
    if not args.quick:
        paths["predict_channels_last"] = lambda b: predict(
            library_cl, b, score_threshold=thr, batch_size=len(b)
        )
    batch_size = min(args.batch_size, len(images))

    results: dict = {}
    peak = peak_matmul_flops(args.threads)
    for name, fn in paths.items():
        entry: dict = {}
        outputs = fn(images) if name != "torchvision_seed" else base_kept
        entry["parity_vs_baseline"] = parity(reference, as_tuples(outputs))
        entry["batch_1"] = time_path(fn, images, 1, args.repeats)
        if batch_size > 1:
            entry["batched"] = time_path(fn, images, batch_size, args.repeats)
        if name == "torchvision_seed":
            with torch.no_grad():
                entry["flops_per_image"] = model_flops(lambda: baseline([images[0]]))
        else:
            entry["flops_per_image"] = model_flops(lambda fn=fn: fn([images[0]]))
        results[name] = entry

    if not args.no_onnx:
        from maskrcnn_custom import OnnxPredictor, export_onnx

        with tempfile.TemporaryDirectory() as tmp:
            variants = [("onnxruntime", {})]
            if not args.quick:
                variants.append(
                    (f"onnxruntime_{args.num_proposals}_proposals", {"num_proposals": args.num_proposals})
                )
            for label, kwargs in variants:
                path = export_onnx(library, Path(tmp) / f"{label}.onnx", **kwargs)
                ort = OnnxPredictor(path, num_threads=args.threads)
                fn = lambda b, ort=ort: ort.predict(b, score_threshold=thr)  # noqa: E731
                entry = {"parity_vs_baseline": parity(reference, as_tuples(fn(images)))}
                entry["batch_1"] = time_path(fn, images, 1, args.repeats)
                key = "predict" if not kwargs else f"predict_{args.num_proposals}_proposals"
                entry["flops_per_image"] = results[key]["flops_per_image"]  # the same graph
                results[label] = entry

    base_lat = results["torchvision_seed"]["batch_1"]["latency_ms_per_image"]
    for entry in results.values():
        for mode in ("batch_1", "batched"):
            if mode in entry:
                m = entry[mode]
                m["speedup_vs_baseline_batch_1"] = base_lat / m["latency_ms_per_image"]
                m["fraction_of_peak_matmul"] = entry["flops_per_image"] * m["throughput_img_per_s"] / peak
    equal = {
        k: v
        for k, v in results.items()
        if v["parity_vs_baseline"]["equal_outputs"] and k != "torchvision_seed"
    }
    fastest = max(
        (
            (k, mode, v[mode]["speedup_vs_baseline_batch_1"])
            for k, v in equal.items()
            for mode in ("batch_1", "batched")
            if mode in v
        ),
        key=lambda t: t[2],
        default=(None, None, None),
    )
    counts_005 = [len(o["scores"]) for o in base_out]
    counts_thr = [len(o["scores"]) for o in base_kept]
    report = {
        "benchmark": "inference_cpu",
        "quick": args.quick,
        "machine": {
            "cpu": _cpu_model(),
            "logical_cores": os.cpu_count(),
            "threads": args.threads,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "peak_matmul_gflops": peak / 1e9,
        },
        "setup": {
            "arch": args.arch,
            "image_size": 256,
            "images": args.images,
            "repeats": args.repeats,
            "score_threshold": thr,
            "train_steps": args.train_steps,
            "train_s": train_s,
            "baseline_detections_per_image_above_0.05": counts_005,
            "detections_per_image_above_threshold": counts_thr,
        },
        "paths": results,
        "fastest_equal_output_path": {
            "path": fastest[0],
            "mode": fastest[1],
            "speedup_vs_baseline_batch_1": fastest[2],
        },
        "goal_2x_met": bool(fastest[2] is not None and fastest[2] >= 2.0),
    }
    print(json.dumps(report, indent=2))
    return report


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    main()
