"""Evaluate a trained model with the COCO protocol (bbox/segm AP/AR, Boundary AP, clDice, AP by elongation).

WEIGHTS is a save_pretrained folder, a Hub repo id (org/name or org/name@revision) or a training
checkpoint (checkpoint_best.pt / checkpoint_last.pt written by `maskrcnn-custom train`). Examples:

  maskrcnn-custom evaluate --weights runs/synthetic/pretrained --coco datasets/val
  maskrcnn-custom evaluate --weights runs/synthetic/checkpoint_best.pt --synthetic 250 --data-seed 1 --json

Needs pycocotools: pip install "maskrcnn-custom[coco]".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ._datasets import add_dataset_arguments, open_dataset

__all__ = ["HELP", "NAME", "add_arguments", "load_for_evaluation", "run"]

NAME = "evaluate"
HELP = "COCO bbox/segm metrics of a trained model on a COCO folder or synthetic data"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument(
        "--weights", required=True, help="save_pretrained folder, Hub repo id, or checkpoint_*.pt file"
    )
    add_dataset_arguments(parser, what="evaluation")
    parser.add_argument("--image-size", type=int, default=256, metavar="PX", help="side of synthetic images")
    parser.add_argument(
        "--data-seed", type=int, default=1, help="seed of the synthetic images (training used 0)"
    )
    parser.add_argument("--batch-size", type=int, default=4, metavar="N", help="images per batch")
    parser.add_argument("--workers", type=int, default=2, metavar="N", help="DataLoader worker processes")
    parser.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda when available)")
    parser.add_argument(
        "--amp", choices=("off", "fp16", "bf16"), default="off", help="mixed-precision inference"
    )
    parser.add_argument("--mask-threshold", type=float, default=0.5, help="mask probability threshold")
    parser.add_argument("--output", metavar="FILE", help="also write the metrics as JSON to FILE")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument(
        "--no-thin-metrics", action="store_true", help="skip Boundary AP and the skeleton scores (clDice)"
    )


def load_for_evaluation(weights: str) -> Any:
    """Load a model from a training checkpoint (``.pt``) or anything ``from_pretrained`` accepts."""
    from .. import build_model, from_pretrained
    from ..engine import load_checkpoint
    from ..models import MaskRCNNConfig

    path = Path(weights)
    if path.suffix == ".pt" or (path.is_file() and path.suffix in (".pth", ".ckpt")):
        ckpt = load_checkpoint(path)
        if not ckpt.get("model_config"):
            raise ValueError(f"checkpoint {weights!r} has no model config; it cannot be rebuilt")
        model = build_model(MaskRCNNConfig.from_dict(ckpt["model_config"]))
        model.load_state_dict(ckpt["model"])
        return model.eval()
    return from_pretrained(weights)


def run(args: argparse.Namespace) -> int:
    """Load the model and the data, evaluate, print the metrics."""
    import torch
    from torch.utils.data import DataLoader

    from .. import evaluate
    from .._utils.atomic import atomic_write_text, check_overwrite
    from ..data import collate_fn

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.output:
        check_overwrite(args.output, overwrite=args.overwrite, switch="--overwrite", what="--output")
    dataset = open_dataset(
        coco=args.coco,
        synthetic=args.synthetic,
        seed=args.data_seed,
        image_size=args.image_size,
        synthetic_preset=args.synthetic_preset,
    )
    model = load_for_evaluation(args.weights)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(device)
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers, collate_fn=collate_fn)
    metrics = evaluate(
        model,
        loader,
        device,
        amp=False if args.amp == "off" else args.amp,
        mask_threshold=args.mask_threshold,
        progress=not args.no_progress,
        thin_metrics=not getattr(args, "no_thin_metrics", False),
    )
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(args.output), json.dumps(metrics, indent=2) + "\n")
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    print(f"{'':8s}" + "".join(f"{k:>8s}" for k in metrics["segm"]))
    for iou_type in ("bbox", "segm", "boundary"):
        if iou_type in metrics:
            print(f"{iou_type:8s}"[:8] + "".join(f"{v:8.4f}" for v in metrics[iou_type].values()))
    if "skeleton" in metrics:
        sk = metrics["skeleton"]
        print(
            f"skeleton: clDice {sk['clDice']:.4f}  Tprec {sk['Tprec']:.4f}  Tsens {sk['Tsens']:.4f}  "
            f"recall {sk['recall']:.4f}  ({int(sk['num_matched'])} of {int(sk['num_gt'])} objects matched)"
        )
    if "segm_elongation" in metrics:
        print("segm AP by elongation (long/short side of the minimum-area rectangle):")
        for label, m in metrics["segm_elongation"].items():
            print(
                f"  {label:>6s}: AP {m['AP']:7.4f}  AP50 {m['AP50']:7.4f}  AR100 {m['AR100']:7.4f}  ({int(m['num_gt'])} objects)"
            )
    return 0
