"""Train on synthetic elongated objects with the seed's anchors and with torchvision's, at equal budget.

Both runs share everything (data, seeds, recipe, budget, heads) except the anchor generator:

* seed anchors: sizes ((32,), (64,), (64,), (76,), (100,)), aspect ratios (0.25, 0.33, 1, 2, 3) on every
  level (5 anchors per location);
* torchvision's defaults: sizes ((32,), (64,), (128,), (256,), (512,)), aspect ratios (0.5, 1, 2).

The held-out set is synthetic images of another seed. Besides segm/bbox AP of both runs the report holds
the anchor coverage (share of held-out boxes whose best anchor reaches IoU 0.7 / 0.5, see
``maskrcnn_custom.anchor_coverage``) of both anchor sets. Prints one JSON document.

Modes:

* ``full`` (GPU): the seed's recipe: resnet101 FPN with ImageNet backbone weights and the seed's heads,
  256 px images, SGD lr 0.003 (momentum 0.9, weight decay 1e-4), StepLR x0.5 every 6 epochs,
  30 epochs x 300 iterations of batch 2, evaluation after every epoch, best epoch reported.
* ``smoke`` (CPU, a few minutes on 2 cores): NOT the seed's recipe. resnet18 FPN from random init with
  slim heads (FPN width 64, box head 256, mask head 2 x 64 convs, mask predictor 64, 64 sampled RoIs
  per image, 600/300 RPN proposals), 128 px images, lr 0.02 with 50 warm-up iterations and gradient
  clipping at 10, 3 epochs x 100 iterations (StepLR x0.5 after epoch 2), evaluation after the last
  epoch only, 1 CPU thread (on a 2-core machine shared with other jobs, 2 threads made each step about
  6 times slower: OpenMP threads wait for each other). It shows that the pipeline trains and measures;
  its AP values are no verdict on the seed's anchors.
* ``tiny``: ``smoke`` cut to 2 x 3 iterations and 4 held-out images, for the test suite (seconds).

  python benchmarks/train_synthetic.py --mode smoke > benchmarks/results/train_synthetic_smoke.json
  python benchmarks/train_synthetic.py --mode full            # GPU
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import tempfile
import time
from typing import Any

import numpy as np
import torch

from maskrcnn_custom import (
    SEED_ANCHOR_SIZES,
    SEED_ASPECT_RATIOS,
    anchor_coverage,
    build_model,
    fit,
    get_model,
    make_config,
)
from maskrcnn_custom.anchors.coverage import TORCHVISION_ANCHOR_SIZES, TORCHVISION_ASPECT_RATIOS
from maskrcnn_custom.data import SyntheticElongatedDataset, train_transforms

ANCHOR_SETS: dict[str, dict[str, Any]] = {
    "seed": {"anchor_sizes": SEED_ANCHOR_SIZES, "aspect_ratios": SEED_ASPECT_RATIOS},
    "torchvision_default": {
        "anchor_sizes": TORCHVISION_ANCHOR_SIZES,
        "aspect_ratios": TORCHVISION_ASPECT_RATIOS,
    },
}

#: Heads of the smoke mode: about 5 times cheaper per CPU training step than the seed's at 128 px.
SLIM_HEADS: dict[str, Any] = {
    "fpn_out_channels": 64,
    "box_representation_size": 256,
    "mask_head_layers": (64, 64),
    "mask_hidden_dim": 64,
    "box_batch_size_per_image": 64,
    "rpn_pre_nms_top_n_train": 600,
    "rpn_post_nms_top_n_train": 300,
    "rpn_pre_nms_top_n_test": 300,
    "rpn_post_nms_top_n_test": 100,
    "box_detections_per_img": 50,
}

MODES: dict[str, dict[str, Any]] = {
    "full": {
        "model": "maskrcnn_resnet101_fpn",
        "weights_backbone": "default",
        "heads": "seed",
        "image_size": 256,
        "train_images": 2500,
        "val_images": 250,
        "epochs": 30,
        "iters_per_epoch": 300,
        "batch_size": 2,
        "lr": 0.003,
        "warmup_iters": None,
        "max_grad_norm": None,
        "lr_step_size": 6,
        "eval_every": 1,
        "threads": None,
    },
    "smoke": {
        "model": "maskrcnn_resnet18_fpn",
        "weights_backbone": None,
        "heads": "slim",
        "image_size": 128,
        "train_images": 2500,
        "val_images": 32,
        "epochs": 3,
        "iters_per_epoch": 100,
        "batch_size": 2,
        "lr": 0.02,
        "warmup_iters": 50,
        "max_grad_norm": 10.0,
        "lr_step_size": 2,
        "eval_every": 3,
        "threads": 1,
    },
}
MODES["tiny"] = {
    **MODES["smoke"],
    "val_images": 4,
    "epochs": 2,
    "iters_per_epoch": 3,
    "warmup_iters": 2,
    "lr_step_size": 1,
    "eval_every": 2,
}


def build(cfg: dict[str, Any], anchors: dict[str, Any], num_classes: int) -> torch.nn.Module:
    """The mode's model with the given anchors."""
    size = {"min_size": cfg["image_size"], "max_size": cfg["image_size"]}
    if cfg["heads"] == "seed":
        kwargs: dict[str, Any] = {**size, **anchors}
        if cfg["weights_backbone"] != "default":
            kwargs["weights_backbone"] = cfg["weights_backbone"]
        return get_model(cfg["model"], num_classes=num_classes, **kwargs)
    if cfg["weights_backbone"] is not None:
        raise ValueError("slim heads are built from random init only (weights_backbone must be None)")
    heads = dict(SLIM_HEADS)
    fpn, rep = heads.pop("fpn_out_channels"), heads.pop("box_representation_size")
    config = make_config(
        backbone=cfg["model"].removeprefix("maskrcnn_").removesuffix("_fpn"),
        num_classes=num_classes,
        **size,
        **anchors,
        **heads,
    )
    config = dataclasses.replace(
        config,
        backbone=dataclasses.replace(config.backbone, out_channels=fpn),
        box_head=dataclasses.replace(config.box_head, representation_size=rep),
    )
    return build_model(config)


def run_one(
    name: str,
    cfg: dict[str, Any],
    train: SyntheticElongatedDataset,
    val: SyntheticElongatedDataset,
    args: Any,
) -> dict[str, Any]:
    """Train and evaluate one anchor setting; return its figures."""
    torch.manual_seed(args.seed)
    model = build(cfg, ANCHOR_SETS[name], train.num_classes)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = fit(
            model,
            train,
            val,
            output_dir=out,
            epochs=cfg["epochs"],
            iters_per_epoch=cfg["iters_per_epoch"],
            batch_size=cfg["batch_size"],
            lr=cfg["lr"],
            lr_step_size=cfg["lr_step_size"],
            warmup_iters=cfg["warmup_iters"],
            max_grad_norm=cfg["max_grad_norm"],
            eval_every=cfg["eval_every"],
            amp=args.amp,
            device=args.device,
            num_workers=args.workers,
            seed=args.seed,
            progress=False,
            tensorboard=False,
            save_pretrained=False,
        )
    wall = time.perf_counter() - start
    evaluated = [r for r in result.history if "segm" in r]
    best = result.history[result.best_epoch] if result.best_epoch is not None else evaluated[-1]
    return {
        "anchors": name,
        "best_epoch": result.best_epoch,
        "segm_AP": best["segm"]["AP"],
        "segm_AP50": best["segm"]["AP50"],
        "segm_AP75": best["segm"]["AP75"],
        "bbox_AP": best["bbox"]["AP"],
        "bbox_AP50": best["bbox"]["AP50"],
        "bbox_AR100": best["bbox"]["AR100"],
        "segm_AP_by_elongation": {k: v["AP"] for k, v in best["segm_elongation"].items()},
        "train_loss_first_epoch": result.history[0]["train"]["loss"],
        "train_loss_last_epoch": result.history[-1]["train"]["loss"],
        "train_s": sum(r["train_time_s"] for r in result.history),
        "eval_s": sum(r.get("eval_time_s", 0.0) for r in result.history),
        "wall_s": wall,
    }


def coverage(val: SyntheticElongatedDataset, image_size: int) -> dict[str, Any]:
    """Anchor coverage of both anchor sets on the held-out boxes."""
    boxes = np.concatenate([val.generate(i)[1]["boxes"].numpy().reshape(-1, 4) for i in range(len(val))])
    out: dict[str, Any] = {"num_boxes": len(boxes)}
    for name, a in ANCHOR_SETS.items():
        cov = anchor_coverage(boxes, a["anchor_sizes"], a["aspect_ratios"], image_size=image_size)
        out[name] = dataclasses.asdict(cov)
    return out


def _load_average() -> float | None:
    """The machine's 1-minute load average (how busy the shared CPU was), where the OS reports one."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=tuple(MODES), default="smoke")
    parser.add_argument("--device", default=None, help="default: cuda when available")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--amp", choices=("off", "fp16", "bf16"), default="off")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (smoke/tiny: 1, full: torch's default)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="override the mode's epochs")
    parser.add_argument("--iters-per-epoch", type=int, default=None, help="override the mode's iterations")
    parser.add_argument("--lr", type=float, default=None, help="override the mode's learning rate")
    parser.add_argument("--weights-backbone", default=None, help="override ('none' for random init)")
    parser.add_argument("--eval-last-only", action="store_true", help="evaluate only after the last epoch")
    args = parser.parse_args()
    args.amp = {"off": False, "fp16": "float16", "bf16": "bfloat16"}[args.amp]
    logging.basicConfig(level=logging.WARNING)
    cfg = dict(MODES[args.mode])
    if args.threads:
        cfg["threads"] = args.threads
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    for key in ("epochs", "iters_per_epoch", "lr"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.weights_backbone is not None:
        cfg["weights_backbone"] = None if args.weights_backbone.lower() == "none" else args.weights_backbone
    if args.eval_last_only:
        cfg["eval_every"] = cfg["epochs"]
    cfg["eval_every"] = min(cfg["eval_every"], cfg["epochs"])
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")

    start, load_start = time.perf_counter(), _load_average()
    train = SyntheticElongatedDataset(
        cfg["train_images"], image_size=cfg["image_size"], seed=args.seed, transforms=train_transforms()
    )
    val = SyntheticElongatedDataset(cfg["val_images"], image_size=cfg["image_size"], seed=args.seed + 1000)
    runs = {name: run_one(name, cfg, train, val, args) for name in ANCHOR_SETS}
    seed_run, tv_run = runs["seed"], runs["torchvision_default"]
    report = {
        "benchmark": "train_synthetic",
        "mode": args.mode,
        "verdict": args.mode == "full",
        "device": torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else f"cpu x{torch.get_num_threads()} threads",
        "config": {**cfg, "heads": SLIM_HEADS if cfg["heads"] == "slim" else "seed", "seed": args.seed},
        "anchor_sets": {k: {n: [list(t) for t in v] for n, v in a.items()} for k, a in ANCHOR_SETS.items()},
        "anchor_coverage_val": coverage(val, cfg["image_size"]),
        "seed_anchors": seed_run,
        "torchvision_anchors": tv_run,
        "segm_AP_ratio_seed_over_torchvision": _ratio(seed_run["segm_AP"], tv_run["segm_AP"]),
        "bbox_AP_ratio_seed_over_torchvision": _ratio(seed_run["bbox_AP"], tv_run["bbox_AP"]),
        "wall_s_total": time.perf_counter() - start,
        "load_average_1min": {"start": load_start, "end": _load_average()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
