"""Generate a synthetic dataset of long, thin objects and write it in COCO format.

Writes OUT/images/000000.png, ... and OUT/annotations.json (COCO, RLE masks), the layout that
CocoDataset.from_dir(OUT) and `maskrcnn-custom anchors --coco OUT` read. Image i depends only on
(--seed, i): use different seeds for the training and validation folders, e.g.

  maskrcnn-custom synth --out datasets/train --num-images 2500 --seed 0
  maskrcnn-custom synth --out datasets/val --num-images 250 --seed 1
  maskrcnn-custom synth --out datasets/heldout --num-images 100 --seed 2 --preset heldout

Writing masks needs pycocotools: pip install "maskrcnn-custom[coco]".
"""

from __future__ import annotations

import argparse
import json

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "synth"
HELP = "generate a synthetic COCO-format dataset of elongated objects"


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX (two numbers), got {text!r}") from None
    return lo, hi


def _int_range(text: str) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX (two integers), got {text!r}") from None
    return lo, hi


#: Options that set a ``SyntheticConfig`` field: flag, field, parser, metavar, help. Unset, a field keeps the
#: value of ``--preset``.
_FIELD_OPTIONS: tuple[tuple[str, str, object, str | None, str], ...] = (
    ("--objects", "num_objects", _int_range, "MIN,MAX", "objects drawn per image"),
    ("--length", "length_range", _range, "MIN,MAX", "object length as a fraction of the image side"),
    ("--width", "width_range", _range, "MIN,MAX", "object thickness as a fraction of the image side"),
    ("--curvature", "curvature_range", _range, "MIN,MAX", "total bend of fibres, radians"),
    (
        "--min-visible-area",
        "min_visible_area",
        int,
        "PX",
        "drop objects with fewer visible pixels after occlusion",
    ),
    ("--noise", "noise_std", float, None, "standard deviation of the pixel noise"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    from ..data.synthetic import OBJECT_KINDS, SYNTHETIC_PRESETS, SyntheticConfig

    parser.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (images/ and annotations.json)"
    )
    parser.add_argument(
        "--num-images", type=int, required=True, metavar="N", help="number of images to write"
    )
    parser.add_argument("--image-size", type=int, default=256, metavar="PX", help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed; image i depends only on (seed, i)")
    parser.add_argument(
        "--preset",
        choices=SYNTHETIC_PRESETS,
        default="default",
        help="generator configuration the options below start from; 'heldout' draws longer, thinner, more "
        "bent objects on other backgrounds, for validation sets unlike the training data",
    )
    parser.add_argument(
        "--kinds",
        default=argparse.SUPPRESS,
        help=f"comma-separated object kinds to draw, from {','.join(OBJECT_KINDS)}",
    )
    parser.add_argument(
        "--labels",
        choices=("single", "kind"),
        default=argparse.SUPPRESS,
        help="'single': one class 'object'; 'kind': one class per object kind",
    )
    d = SyntheticConfig()
    for flag, field, kind, metavar, text in _FIELD_OPTIONS:
        value = getattr(d, field)
        shown = ",".join(str(v) for v in value) if isinstance(value, tuple) else value
        parser.add_argument(
            flag,
            dest=field,
            type=kind,
            default=argparse.SUPPRESS,
            metavar=metavar,
            help=f"{text} (default preset: {shown})",
        )
    parser.add_argument(
        "--no-overlap",
        action="store_true",
        default=argparse.SUPPRESS,
        help="keep objects from touching each other",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing annotations.json and images of the same names (refused without it)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


def _config(args: argparse.Namespace) -> object:
    """The ``--preset`` config with every option that was given applied on top."""
    from ..data import SyntheticConfig

    overrides = {field: getattr(args, field) for _, field, *_ in _FIELD_OPTIONS if hasattr(args, field)}
    if hasattr(args, "kinds"):
        overrides["kinds"] = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    if hasattr(args, "labels"):
        overrides["labels"] = args.labels
    if getattr(args, "no_overlap", False):
        overrides["allow_overlap"] = False
    return SyntheticConfig.preset(args.preset, **overrides)


def run(args: argparse.Namespace) -> int:
    """Generate and export the dataset."""
    from ..data import SyntheticElongatedDataset, export_coco

    config = _config(args)
    dataset = SyntheticElongatedDataset(
        args.num_images, image_size=args.image_size, seed=args.seed, config=config
    )
    path = export_coco(dataset, args.out, overwrite=args.overwrite, progress=not args.no_progress)
    with path.open() as f:
        num_annotations = len(json.load(f)["annotations"])
    summary = {
        "annotations": str(path),
        "images": args.num_images,
        "instances": num_annotations,
        "categories": list(config.category_names),
        "num_classes": config.num_classes,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"wrote {args.num_images} images with {num_annotations} instances to {args.out} "
            f"(classes: {', '.join(config.category_names)}; use num_classes={config.num_classes})"
        )
    return 0
