"""Build a Mask R-CNN, segment images and draw the predictions.

    python examples/quickstart.py --out quickstart/                  # seed network (ResNet-101), random weights
    python examples/quickstart.py --model demo/model --out quickstart/   # a trained save_pretrained folder / Hub id
    python examples/quickstart.py --fast                             # ResNet-18, 64 px, a temp folder (CI)

Without --model the network has random weights, so it finds nothing useful: train one with
`maskrcnn-custom demo --out demo/` or examples/train_synthetic.py first.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from maskrcnn_custom import (
    SyntheticElongatedDataset,
    from_pretrained,
    maskrcnn_resnet18_fpn,
    maskrcnn_resnet101_fpn,
    predict,
)
from maskrcnn_custom.inference import save_overlay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", help="save_pretrained folder or Hub repo id (default: build a fresh model)"
    )
    parser.add_argument("--out", type=Path, help="output folder (default: a temporary folder)")
    parser.add_argument("--images", type=int, default=3, help="number of synthetic images to segment")
    parser.add_argument("--score-threshold", type=float, default=0.5)
    parser.add_argument("--fast", action="store_true", help="ResNet-18 at 64 px (seconds)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="quickstart-"))
    out.mkdir(parents=True, exist_ok=True)

    if args.model:
        model = from_pretrained(args.model)
    elif args.fast:
        model = maskrcnn_resnet18_fpn(weights_backbone=None, min_size=64, max_size=64)
    else:
        model = maskrcnn_resnet101_fpn(weights_backbone=None)  # the seed network, offline
    size = int(model.transform.min_size[0])
    print(
        f"model: {model.config.backbone.name}, {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters"
    )

    images = [
        SyntheticElongatedDataset(args.images, image_size=size, seed=7)[i][0] for i in range(args.images)
    ]
    predictions = predict(model, images, score_threshold=args.score_threshold)
    for i, (image, p) in enumerate(zip(images, predictions, strict=True)):
        path = save_overlay(image, p, out / f"overlay_{i}.png")
        top = [round(s, 2) for s in p.scores.tolist()[:5]]
        print(f"image {i}: {len(p)} detections, best scores {top} -> {path}")
    print(f"overlays: {len(predictions)} in {out}")


if __name__ == "__main__":
    main()
