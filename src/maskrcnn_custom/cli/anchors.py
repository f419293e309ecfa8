"""Fit anchor sizes and aspect ratios to a dataset and compare their coverage with other anchor sets.

Reads the ground-truth boxes of a COCO-format folder (--coco DIR, with DIR/images/ and
DIR/annotations.json, or --images and --annotations) or of N synthetic images (--synthetic N), fits
anchors, and prints for the fitted, the seed's and torchvision's default anchors the share of boxes
whose best anchor on the real RPN grid reaches IoU 0.7 (an RPN positive) and 0.5, overall and per box
elongation bin (max(w, h) / min(w, h) in [1, 2), [2, 4), [4, 8), [8, inf)). Pass the printed
sizes and ratios to a builder:

  maskrcnn_resnet101_fpn(anchor_sizes=..., aspect_ratios=...)
"""

from __future__ import annotations

import argparse
import json

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "anchors"
HELP = "fit anchors to a dataset and report how well they cover its boxes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--coco", metavar="DIR", help="COCO-format folder with images/ and annotations.json")
    src.add_argument(
        "--annotations", metavar="JSON", help="COCO annotations file (boxes are read from its JSON)"
    )
    src.add_argument("--synthetic", type=int, metavar="N", help="use N synthetic images instead of a dataset")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic images and of the fit")
    parser.add_argument(
        "--image-size",
        type=int,
        default=256,
        metavar="PX",
        help="the model's input size (min_size = max_size)",
    )
    parser.add_argument(
        "--num-ratios", type=int, default=5, help="aspect ratios per location (same on every level)"
    )
    parser.add_argument(
        "--ratio-method",
        choices=("kmeans", "quantile"),
        default="kmeans",
        help="start of the aspect ratios: k-means or quantiles of the boxes' log(h / w)",
    )
    parser.add_argument(
        "--symmetric-ratios", action="store_true", help="keep the ratios closed under r -> 1 / r"
    )
    parser.add_argument("--sizes-per-level", type=int, default=1, help="anchor sizes per FPN level")
    parser.add_argument("--max-images", type=int, default=None, metavar="N", help="read at most N images")
    parser.add_argument(
        "--no-refine", action="store_true", help="stop after k-means (skip the coverage search)"
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def run(args: argparse.Namespace) -> int:
    """Fit and report."""
    from pathlib import Path

    from .. import SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS
    from ..anchors import (
        TORCHVISION_ANCHOR_SIZES,
        TORCHVISION_ASPECT_RATIOS,
        anchor_coverage,
        boxes_from_dataset,
        fit_anchors,
    )
    from ..data import CocoDataset, SyntheticElongatedDataset

    if args.synthetic is not None:
        dataset = SyntheticElongatedDataset(args.synthetic, image_size=args.image_size, seed=args.seed)
        source = f"{args.synthetic} synthetic images (seed {args.seed})"
    elif args.coco is not None:
        dataset = CocoDataset.from_dir(args.coco)
        source = args.coco
    else:
        ann = Path(args.annotations)
        dataset = CocoDataset(ann.parent, ann)
        source = str(ann)
    boxes = boxes_from_dataset(
        dataset, min_size=args.image_size, max_size=args.image_size, max_images=args.max_images
    )
    fit = fit_anchors(
        boxes,
        image_size=args.image_size,
        num_ratios=args.num_ratios,
        sizes_per_level=args.sizes_per_level,
        refine=not args.no_refine,
        seed=args.seed,
        ratio_method=args.ratio_method,
        symmetric_ratios=args.symmetric_ratios,
    )
    sets = {
        "fitted": (fit.anchor_sizes, fit.aspect_ratios),
        "seed": (SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS),
        "torchvision": (TORCHVISION_ANCHOR_SIZES, TORCHVISION_ASPECT_RATIOS),
    }
    coverages = {
        name: anchor_coverage(boxes, sizes, ratios, image_size=args.image_size)
        for name, (sizes, ratios) in sets.items()
    }
    report = {
        name: {
            "anchor_sizes": [list(s) for s in sizes],
            "aspect_ratios": [list(r) for r in ratios],
            "coverage": coverages[name].to_dict(),
        }
        for name, (sizes, ratios) in sets.items()
    }
    if args.json:
        print(
            json.dumps(
                {"source": source, "num_boxes": len(boxes), "image_size": args.image_size, **report}, indent=2
            )
        )
        return 0
    print(f"{len(boxes)} boxes from {source}, model input {args.image_size} px")
    print(f"{'anchors':<12} {'IoU>=0.7':>9} {'IoU>=0.5':>9} {'mean IoU':>9}")
    for name, entry in report.items():
        c = entry["coverage"]
        print(
            f"{name:<12} {100 * c['iou_0_7']:>8.1f}% {100 * c['iou_0_5']:>8.1f}% {c['mean_best_iou']:>9.3f}"
        )
    print()
    print("per box elongation max(w, h) / min(w, h): mean best IoU / share at IoU>=0.5")
    print(f"{'elongation':<10} {'boxes':>6} " + " ".join(f"{name:>17}" for name in coverages))
    for i, b in enumerate(coverages["fitted"].elongation_bins):
        cells = []
        for cov in coverages.values():
            c = cov.elongation_bins[i]
            cells.append(f"{c.mean_best_iou:>9.3f} {100 * c.iou_0_5:>6.1f}%" if c.count else f"{'-':>17}")
        print(f"{b.label:<10} {b.count:>6} " + " ".join(cells))
    print()
    print(f"fitted anchor_sizes={fit.anchor_sizes}")
    print(f"fitted aspect_ratios={fit.aspect_ratios[0]} (on every level)")
    return 0
