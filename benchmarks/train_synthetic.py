"""Train the seed configuration on synthetic elongated objects; compare with torchvision's default anchors.

Both runs share everything (data, seed, recipe, budget) except the anchor generator:

* seed anchors: sizes ((32,), (64,), (64,), (76,), (100,)), aspect ratios (0.25, 0.33, 1, 2, 3) per level
  (3 x 5 = 5 anchors per location);
* torchvision's defaults: sizes ((32,), (64,), (128,), (256,), (512,)), aspect ratios (0.5, 1, 2).

The held-out set is synthetic images with another seed. Prints one JSON document.

  python benchmarks/train_synthetic.py --mode smoke           # CPU, minutes: resnet18, 128 px, tiny budget
  python benchmarks/train_synthetic.py --mode full            # GPU: resnet101, 256 px, 30 x 300 iterations
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time

import torch

from maskrcnn_custom import fit, get_model
from maskrcnn_custom.data import SyntheticElongatedDataset, train_transforms

TV_SIZES = ((32,), (64,), (128,), (256,), (512,))
TV_RATIOS = (0.5, 1.0, 2.0)

MODES = {
    "smoke": {
        "model": "maskrcnn_resnet18_fpn",
        "image_size": 128,
        "train_images": 64,
        "val_images": 16,
        "epochs": 2,
        "iters_per_epoch": 20,
        "batch_size": 2,
        "lr_step_size": 6,
        "weights_backbone": None,
    },
    "full": {
        "model": "maskrcnn_resnet101_fpn",
        "image_size": 256,
        "train_images": 2500,
        "val_images": 250,
        "epochs": 30,
        "iters_per_epoch": 300,
        "batch_size": 2,
        "lr_step_size": 6,
        "weights_backbone": "default",
    },
}


def run_one(name: str, anchors: dict, cfg: dict, args: argparse.Namespace, device: str) -> dict:
    torch.manual_seed(args.seed)
    kwargs = {"min_size": cfg["image_size"], "max_size": cfg["image_size"], **anchors}
    if cfg["weights_backbone"] != "default":
        kwargs["weights_backbone"] = cfg["weights_backbone"]
    train = SyntheticElongatedDataset(
        cfg["train_images"], image_size=cfg["image_size"], seed=args.seed, transforms=train_transforms()
    )
    val = SyntheticElongatedDataset(cfg["val_images"], image_size=cfg["image_size"], seed=args.seed + 1000)
    model = get_model(cfg["model"], num_classes=train.num_classes, **kwargs)
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
            lr_step_size=cfg["lr_step_size"],
            eval_every=cfg["epochs"] if args.eval_last_only else 1,
            amp=args.amp,
            device=device,
            num_workers=args.workers,
            seed=args.seed,
            progress=False,
            tensorboard=False,
            save_pretrained=False,
        )
    wall = time.perf_counter() - start
    best = result.history[result.best_epoch] if result.best_epoch is not None else result.history[-1]
    return {
        "anchors": name,
        "best_epoch": result.best_epoch,
        "segm_AP": best["segm"]["AP"],
        "segm_AP50": best["segm"]["AP50"],
        "segm_AP75": best["segm"]["AP75"],
        "bbox_AP": best["bbox"]["AP"],
        "bbox_AP50": best["bbox"]["AP50"],
        "segm_AP_by_elongation": {k: v["AP"] for k, v in best["segm_elongation"].items()},
        "gt_by_elongation": {k: int(v["num_gt"]) for k, v in best["segm_elongation"].items()},
        "final_train_loss": result.history[-1]["train"]["loss"],
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=tuple(MODES), default="smoke")
    parser.add_argument("--device", default=None, help="default: cuda when available")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--amp", choices=("off", "fp16", "bf16"), default="off")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--epochs", type=int, default=None, help="override the mode's epochs")
    parser.add_argument("--iters-per-epoch", type=int, default=None, help="override the mode's iterations")
    parser.add_argument("--weights-backbone", default=None, help="override ('none' for random init)")
    parser.add_argument("--eval-last-only", action="store_true", help="evaluate only after the last epoch")
    args = parser.parse_args()
    args.amp = False if args.amp == "off" else args.amp
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = dict(MODES[args.mode])
    if args.epochs:
        cfg["epochs"] = args.epochs
    if args.iters_per_epoch:
        cfg["iters_per_epoch"] = args.iters_per_epoch
    if args.weights_backbone is not None:
        cfg["weights_backbone"] = None if args.weights_backbone.lower() == "none" else args.weights_backbone
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    seed_run = run_one("seed", {}, cfg, args, device)
    tv_run = run_one(
        "torchvision_default", {"anchor_sizes": TV_SIZES, "aspect_ratios": TV_RATIOS}, cfg, args, device
    )
    report = {
        "benchmark": "train_synthetic",
        "mode": args.mode,
        "device": torch.cuda.get_device_name()
        if device.startswith("cuda")
        else f"cpu x{torch.get_num_threads()}",
        "config": cfg,
        "seed_anchors": seed_run,
        "torchvision_anchors": tv_run,
        "segm_AP_ratio_seed_over_torchvision": seed_run["segm_AP"] / tv_run["segm_AP"]
        if tv_run["segm_AP"] > 0
        else None,
        "bbox_AP_ratio_seed_over_torchvision": seed_run["bbox_AP"] / tv_run["bbox_AP"]
        if tv_run["bbox_AP"] > 0
        else None,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
