"""Train a training preset on synthetic data end to end, offline: data, training, held-out evaluation, save, pictures.

Writes OUT/model (a save_pretrained folder with a model card), OUT/overlays/val_*.png (ground truth left,
prediction right), OUT/learning_curve.png, OUT/metrics.json and OUT/training (checkpoints and logs), and prints
a table of the held-out metrics. Default: the fast_cpu preset (its model, image size, augmentation and recipe);
the expected time is printed before training. The backbone starts from random weights, so nothing is
downloaded. --fast finishes in seconds and only checks the pipeline.
"""

from __future__ import annotations

import argparse

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "demo"
HELP = "train a preset on synthetic data, evaluate on held-out images, save, reload and draw (offline)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    from ..demo import DEMO_BACKBONES, demo_settings
    from ..presets import list_presets

    full, fast = demo_settings(), demo_settings(fast=True)

    unset = argparse.SUPPRESS  # "not given": the settings decide (and --help shows no "default: None")
    parser.add_argument(
        "--out", required=True, default=unset, help="output folder (must be empty unless --overwrite)"
    )
    parser.add_argument(
        "--preset",
        choices=list_presets(),
        default="fast_cpu",
        help="training preset: model, image size, augmentation and recipe [fast_cpu]",
    )
    parser.add_argument(
        "--backbone",
        choices=DEMO_BACKBONES,
        default=unset,
        help="deprecated: the preset decides the model; if given it must be the preset's backbone",
    )
    parser.add_argument("--fast", action="store_true", help="tiny sizes, seconds: checks the pipeline only")
    parser.add_argument(
        "--epochs",
        type=int,
        default=unset,
        help=f"training epochs [the preset's: {full.epochs}; {fast.epochs} with --fast]",
    )
    parser.add_argument(
        "--iters",
        type=int,
        default=unset,
        help=f"iterations per epoch [the preset's: {full.iters_per_epoch}; {fast.iters_per_epoch} with --fast]",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=unset,
        help=f"image side in pixels, a multiple of 32 [the preset's: {full.image_size}; {fast.image_size} "
        "with --fast]",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=unset,
        help=f"images per iteration [the preset's: {full.batch_size}]",
    )
    parser.add_argument(
        "--val-images", type=int, default=unset, help=f"held-out validation images [{full.num_val}]"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the training data and of training")
    parser.add_argument("--device", default=unset, help="cpu or cuda [cuda when available, else cpu]")
    parser.add_argument("--overwrite", action="store_true", help="allow a non-empty --out folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (log lines only)")


def run(args: argparse.Namespace) -> int:
    """Run the demo, then print the held-out metrics table and where the outputs are."""
    from ..demo import demo_settings, run_demo

    overrides = {
        key: value
        for key, value in (
            ("epochs", getattr(args, "epochs", None)),
            ("iters_per_epoch", getattr(args, "iters", None)),
            ("image_size", getattr(args, "image_size", None)),
            ("batch_size", getattr(args, "batch_size", None)),
            ("num_val", getattr(args, "val_images", None)),
        )
        if value is not None
    }
    report = run_demo(
        args.out,
        preset=args.preset,
        backbone=getattr(args, "backbone", None),
        settings=demo_settings(preset=args.preset, fast=args.fast, **overrides),
        seed=args.seed,
        device=getattr(args, "device", None),
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    print()
    print(report.summary_table())
    print()
    print(f"model:          {report.pretrained_dir} (model card: {report.pretrained_dir / 'README.md'})")
    print(f"pictures:       {', '.join(str(p) for p in report.overlay_paths)}")
    print(f"learning curve: {report.learning_curve_path}")
    print(f"metrics:        {report.metrics_path}")
    return 0
