"""Generate a synthetic dataset of long, thin objects and write it in COCO format.

Writes OUT/images/000000.png, ... and OUT/annotations.json (COCO, RLE masks), the layout that
CocoDataset.from_dir(OUT) and `maskrcnn-custom anchors --coco OUT` read. Image i depends only on
(--seed, i): use different seeds for the training and validation folders, e.g.

  maskrcnn-custom synth --out datasets/train --num-images 2500 --seed 0
  maskrcnn-custom synth --out datasets/val --num-images 250 --seed 1

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    from ..data.synthetic import OBJECT_KINDS, SyntheticConfig

    d = SyntheticConfig()
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (images/ and annotations.json)"
    )
    parser.add_argument(
        "--num-images", type=int, required=True, metavar="N", help="number of images to write"
    )
    parser.add_argument("--image-size", type=int, default=256, metavar="PX", help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed; image i depends only on (seed, i)")
    parser.add_argument(
        "--kinds",
        default=",".join(d.kinds),
        help=f"comma-separated object kinds to draw, from {','.join(OBJECT_KINDS)}",
    )
    parser.add_argument(
        "--labels",
        choices=("single", "kind"),
        default=d.labels,
        help="'single': one class 'object'; 'kind': one class per object kind",
    )
    parser.add_argument(
        "--objects", type=_int_range, default=d.num_objects, metavar="MIN,MAX", help="objects drawn per image"
    )
    parser.add_argument(
        "--length",
        type=_range,
        default=d.length_range,
        metavar="MIN,MAX",
        help="object length as a fraction of the image side",
    )
    parser.add_argument(
        "--width",
        type=_range,
        default=d.width_range,
        metavar="MIN,MAX",
        help="object thickness as a fraction of the image side",
    )
    parser.add_argument(
        "--curvature",
        type=_range,
        default=d.curvature_range,
        metavar="MIN,MAX",
        help="total bend of fibres, radians",
    )
    parser.add_argument("--no-overlap", action="store_true", help="keep objects from touching each other")
    parser.add_argument(
        "--min-visible-area",
        type=int,
        default=d.min_visible_area,
        metavar="PX",
        help="drop objects with fewer visible pixels after occlusion",
    )
    parser.add_argument(
        "--noise", type=float, default=d.noise_std, help="standard deviation of the pixel noise"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing annotations.json and images of the same names (refused without it)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


def run(args: argparse.Namespace) -> int:
    """Generate and export the dataset."""
    from ..data import SyntheticConfig, SyntheticElongatedDataset, export_coco

    config = SyntheticConfig(
        kinds=tuple(k.strip() for k in args.kinds.split(",") if k.strip()),
        labels=args.labels,
        num_objects=args.objects,
        length_range=args.length,
        width_range=args.width,
        curvature_range=args.curvature,
        allow_overlap=not args.no_overlap,
        min_visible_area=args.min_visible_area,
        noise_std=args.noise,
    )
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
