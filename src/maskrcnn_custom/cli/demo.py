"""Train a model on synthetic data end to end, offline: data, training, COCO evaluation, save, reload, overlays.

Writes OUT/model (a save_pretrained folder), OUT/overlays/val_*.png (ground truth left, prediction right),
OUT/metrics.json and OUT/training (checkpoints and logs). The backbone starts from random weights, so nothing
is downloaded. Default: ResNet-18 at 128 px, a few minutes on two CPU cores; --fast finishes in seconds and only
checks the pipeline.
"""

from __future__ import annotations

import argparse

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "demo"
HELP = "train on synthetic data, evaluate, save, reload and draw overlays (offline, minutes on a CPU)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    from ..demo import DEMO_BACKBONES, DemoSettings, demo_settings

    full, fast = DemoSettings(), demo_settings(fast=True)

    unset = argparse.SUPPRESS  # "not given": the settings decide (and --help shows no "default: None")
    parser.add_argument(
        "--out", required=True, default=unset, help="output folder (must be empty unless --overwrite)"
    )
    parser.add_argument(
        "--backbone",
        choices=DEMO_BACKBONES,
        default="resnet18",
        help="resnet18 (fast) or resnet101 (the seed network, several times slower)",
    )
    parser.add_argument("--fast", action="store_true", help="tiny sizes, seconds: checks the pipeline only")
    parser.add_argument(
        "--epochs",
        type=int,
        default=unset,
        help=f"training epochs [{full.epochs}; {fast.epochs} with --fast]",
    )
    parser.add_argument(
        "--iters",
        type=int,
        default=unset,
        help=f"iterations per epoch [{full.iters_per_epoch}; {fast.iters_per_epoch} with --fast]",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=unset,
        help=f"image side in pixels, a multiple of 32 [{full.image_size}; {fast.image_size} with --fast]",
    )
    parser.add_argument(
        "--batch-size", type=int, default=unset, help=f"images per iteration [{full.batch_size}]"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of training")
    parser.add_argument("--device", default=unset, help="cpu or cuda [cuda when available, else cpu]")
    parser.add_argument("--overwrite", action="store_true", help="allow a non-empty --out folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (log lines only)")


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where its outputs are."""
    from ..demo import demo_settings, run_demo

    overrides = {
        key: value
        for key, value in (
            ("epochs", getattr(args, "epochs", None)),
            ("iters_per_epoch", getattr(args, "iters", None)),
            ("image_size", getattr(args, "image_size", None)),
            ("batch_size", getattr(args, "batch_size", None)),
        )
        if value is not None
    }
    report = run_demo(
        args.out,
        backbone=args.backbone,
        settings=demo_settings(fast=args.fast, **overrides),
        seed=args.seed,
        device=getattr(args, "device", None),
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    segm, bbox = report.metrics["segm"], report.metrics["bbox"]
    boundary, skeleton = report.metrics["boundary"], report.metrics["skeleton"]
    print(
        f"segm AP {segm['AP']:.3f}  AP50 {segm['AP50']:.3f}  |  bbox AP {bbox['AP']:.3f}  AP50 {bbox['AP50']:.3f}"
    )
    print(
        f"boundary AP {boundary['AP']:.3f}  AP50 {boundary['AP50']:.3f}  |  clDice {skeleton['clDice']:.3f}"
    )
    print(f"time {report.seconds['total']:.0f} s (training {report.seconds['train']:.0f} s)")
    print(f"model:    {report.pretrained_dir}")
    print(f"overlays: {', '.join(str(p) for p in report.overlay_paths)}")
    print(f"metrics:  {report.metrics_path}")
    return 0
