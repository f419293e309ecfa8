"""Cost of one training step for head widths, sampled RoIs, image size, mask resolution and memory format.

Each variant builds a ResNet-18 FPN Mask R-CNN from random weights (``make_config`` + ``build_model``; the seed's
anchors scaled by ``image_size / 256``), then times ``--steps`` plain training steps (forward, sum of losses,
``zero_grad``, ``backward``, ``AdamW.step``) on the same synthetic batches after 2 warm-up steps, and reports the
median seconds per step. Variants are given as a JSON list of objects with any of the keys below (defaults: the
seed's heads at 128 px)::

    size (px), fpn (FPN channels), box (box head width), mlayers (mask head convs), mhid (mask predictor width),
    mres (mask resolution), mnorm (mask head norm: none or gn), rois (sampled RoIs per image),
    pre/post (RPN proposals in training), bs (batch size), cl (channels_last), fused (fused AdamW),
    bnorm (backbone norm: bn, gn or frozen_bn), mpool (mask RoI pool side: 14 or 28), speedups (the library's
    CPU speed-ups of ``train_one_epoch``: channels_last, RoIAlign and mask up-sampling backwards),
    compile (``"backbone"``: ``torch.compile`` of the backbone + FPN, whose input shape is fixed)

The first step of every variant is reported apart as ``first_step_s`` (with ``compile`` it includes the
compilation); the median is over the steps after the 2 warm-up steps. Every variant is checked before any is timed.

    PYTHONPATH=src python benchmarks/step_cost.py                     # the variants of docs/training.md
    PYTHONPATH=src python benchmarks/step_cost.py --variants '[{"size": 256, "fpn": 128}]' --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from _machine import cpu_model, load_averages
from torch.utils.data import DataLoader

from maskrcnn_custom import SEED_ANCHOR_SIZES, SyntheticElongatedDataset, build_model, collate_fn, make_config
from maskrcnn_custom.engine.speed import cpu_speedups_context
from maskrcnn_custom.models.config import RoIPoolConfig

#: The head-width, RoI, size, mask-resolution and memory-format levers of the fast_cpu ablation.
DEFAULT_VARIANTS = [
    {"size": 128},
    {"size": 128, "mhid": 256, "rois": 64},
    {"size": 128, "fpn": 128, "box": 256, "mlayers": [128, 128], "mhid": 128, "rois": 64},
    {"size": 256, "fpn": 128, "box": 256, "mlayers": [128, 128], "mhid": 128, "rois": 64},
    {"size": 256, "fpn": 128, "box": 256, "mlayers": [128, 128], "mhid": 128, "rois": 64, "mres": 56},
    {"size": 256, "fpn": 128, "box": 256, "mlayers": [128, 128], "mhid": 128, "rois": 64, "cl": True},
    {"size": 256, "fpn": 64, "box": 256, "mlayers": [64, 64], "mhid": 64, "rois": 64},
]


def build(v: dict) -> torch.nn.Module:
    size = v.get("size", 128)
    scale = size / 256
    config = make_config(
        backbone="resnet18",
        num_classes=2,
        anchor_sizes=tuple(tuple(round(s * scale, 2) for s in level) for level in SEED_ANCHOR_SIZES),
        min_size=size,
        max_size=size,
        mask_hidden_dim=v.get("mhid", 1500),
        mask_resolution=v.get("mres", 28),
        mask_head_layers=tuple(v.get("mlayers", (256, 256, 256, 256))),
        mask_head_norm=v.get("mnorm", "none"),
        fpn_out_channels=v.get("fpn", 256),
        box_head_dim=v.get("box", 1024),
        box_batch_size_per_image=v.get("rois", 512),
        rpn_pre_nms_top_n_train=v.get("pre", 1000),
        rpn_post_nms_top_n_train=v.get("post", 600),
        backbone_norm=v.get("bnorm"),
        mask_roi_pool=RoIPoolConfig(("0",), v.get("mpool", 14), 2),
    )
    model = build_model(config)
    if v.get("cl"):
        model = model.to(memory_format=torch.channels_last)
    return model


def check_variant(v: dict) -> None:
    """Refuse a variant whose ``compile`` key is unknown (all variants are checked before any is timed).

    Raises:
        ValueError: If ``compile`` is not ``"none"`` or ``"backbone"``.
    """
    if v.get("compile", "none") not in ("none", "backbone"):
        raise ValueError(f"compile must be 'none' or 'backbone', got {v['compile']!r}")


def time_variant(v: dict, steps: int) -> dict:
    """``s_per_step_median`` (after 2 warm-up steps) and ``first_step_s`` of variant ``v``."""
    check_variant(v)
    compile_part = v.get("compile", "none")
    torch.manual_seed(0)
    model = build(v)
    model.train()
    if compile_part == "backbone":
        model.backbone = torch.compile(model.backbone, dynamic=False)
    bs = v.get("bs", 2)
    dataset = SyntheticElongatedDataset(bs * (steps + 2), image_size=v.get("size", 128), seed=0)
    batches = iter(DataLoader(dataset, batch_size=bs, shuffle=False, collate_fn=collate_fn))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=v.get("fused") or None)
    times = []
    with cpu_speedups_context(model, enabled=bool(v.get("speedups"))):
        for _ in range(steps + 2):
            images, targets = next(batches)
            t = time.perf_counter()
            loss = sum(model(list(images), list(targets)).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - t)
    return {"s_per_step_median": statistics.median(times[2:]), "first_step_s": times[0]}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", type=json.loads, default=DEFAULT_VARIANTS, help="JSON list of variants")
    p.add_argument("--steps", type=int, default=5, help="timed steps per variant (after 2 warm-up steps)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error(f"--steps must be >= 1, got {args.steps}")
    for v in args.variants:
        check_variant(v)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    load_before = load_averages()
    rows = [{**v, **time_variant(dict(v), args.steps)} for v in args.variants]
    report = {
        "benchmark": "step_cost",
        "machine": {"cpu": cpu_model(), "threads": torch.get_num_threads(), "torch": torch.__version__},
        "load_average_1_5_15": {"before": load_before, "after": load_averages()},
        "steps": args.steps,
        "variants": rows,
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
