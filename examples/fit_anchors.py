"""Fit anchor sizes and aspect ratios to a dataset's boxes and compare them with the seed's anchors.

    python examples/fit_anchors.py --coco data/train            # your COCO folder
    python examples/fit_anchors.py --synthetic 2500             # the library's synthetic objects
    python examples/fit_anchors.py --fast                       # 40 synthetic images (CI)

Writes anchors.json (sizes, ratios, coverage) to --out; build a model with them via
maskrcnn_resnet101_fpn(**fit.as_kwargs()).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from maskrcnn_custom import (
    SEED_ANCHOR_SIZES,
    SEED_ASPECT_RATIOS,
    CocoDataset,
    SyntheticElongatedDataset,
    anchor_coverage,
    fit_anchors,
    maskrcnn_resnet18_fpn,
)
from maskrcnn_custom.anchors import boxes_from_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coco", type=Path, help="COCO folder (DIR/images + DIR/annotations.json)")
    parser.add_argument(
        "--synthetic", type=int, default=2500, help="synthetic images when --coco is not given"
    )
    parser.add_argument("--ratios", type=int, default=5, help="aspect ratios per location")
    parser.add_argument("--out", type=Path, help="output folder (default: a temporary folder)")
    parser.add_argument("--fast", action="store_true", help="40 synthetic images (seconds)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="fit-anchors-"))
    out.mkdir(parents=True, exist_ok=True)

    if args.coco:
        dataset = CocoDataset.from_dir(args.coco)
    else:
        dataset = SyntheticElongatedDataset(40 if args.fast else args.synthetic, image_size=256, seed=0)
    boxes = boxes_from_dataset(dataset)  # in the model's 256 px input frame
    seed = anchor_coverage(boxes, SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS)
    fit = fit_anchors(boxes, num_ratios=args.ratios, max_boxes=500 if args.fast else 4000)
    print(f"boxes: {len(boxes)}")
    print(f"seed anchors:   {seed}")
    print(f"fitted anchors: {fit.coverage}")
    print(f"fitted sizes:  {[s[0] for s in fit.anchor_sizes]}")
    print(f"fitted ratios: {list(fit.aspect_ratios[0])}")
    print(f"seed iou_0_7: {seed.iou_0_7:.4f}")
    print(f"fitted iou_0_7: {fit.coverage.iou_0_7:.4f}")

    # The fitted anchors plug straight into any builder.
    maskrcnn_resnet18_fpn(weights_backbone=None, **fit.as_kwargs())
    path = out / "anchors.json"
    path.write_text(json.dumps({"fitted": fit.to_dict(), "seed": seed.to_dict()}, indent=2) + "\n")
    print(f"anchors: {path}")


if __name__ == "__main__":
    main()
