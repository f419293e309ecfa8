"""Fine-tune a Mask R-CNN on your own COCO-format folder (DIR/images/ + DIR/annotations.json).

    python examples/finetune_coco.py --train data/train --val data/val --out runs/mine
    python examples/finetune_coco.py --train data/train --val data/val --weights org/rods-maskrcnn --out runs/mine
    python examples/finetune_coco.py --fast        # exports a tiny synthetic COCO folder first (CI)

Starts from an ImageNet backbone (the seed's choice) or, with --weights, from whole-model weights (a
save_pretrained folder or a Hub repo id; the class-dependent layers are re-initialised for your classes).
Needs pycocotools: pip install "maskrcnn-custom[coco]".
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from maskrcnn_custom import (
    CocoDataset,
    SyntheticElongatedDataset,
    export_coco,
    fit,
    from_pretrained,
    get_recipe,
    maskrcnn_resnet18_fpn,
    maskrcnn_resnet101_fpn,
    train_transforms,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, help="training COCO folder")
    parser.add_argument("--val", type=Path, help="validation COCO folder")
    parser.add_argument("--out", type=Path, help="run folder (default: a temporary folder)")
    parser.add_argument("--weights", help="start from this save_pretrained folder or Hub repo id")
    seed = get_recipe("seed")  # the defaults: the seed document's training recipe
    parser.add_argument("--epochs", type=int, default=seed.epochs)
    parser.add_argument("--iters", type=int, default=seed.iters_per_epoch, help="iterations per epoch")
    parser.add_argument("--batch-size", type=int, default=seed.batch_size)
    parser.add_argument("--lr", type=float, default=seed.lr)
    parser.add_argument(
        "--fast", action="store_true", help="tiny synthetic COCO folder, ResNet-18, 4 iterations"
    )
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="finetune-coco-"))

    if args.fast:
        # Stand-in for your data: a tiny synthetic dataset written in COCO format.
        args.train, args.val = out / "data" / "train", out / "data" / "val"
        export_coco(SyntheticElongatedDataset(8, image_size=64, seed=0), args.train)
        export_coco(SyntheticElongatedDataset(2, image_size=64, seed=1), args.val)
        args.epochs, args.iters, args.lr = 1, 4, 0.01
    if args.train is None or args.val is None:
        parser.error("--train and --val are required (or --fast)")

    train_set = CocoDataset.from_dir(args.train, transforms=train_transforms())
    val_set = CocoDataset.from_dir(args.val)
    class_names = ("background", *train_set.category_names)
    print(f"train: {len(train_set)} images, val: {len(val_set)} images, classes: {class_names[1:]}")

    if args.weights:
        model = from_pretrained(args.weights, num_classes=train_set.num_classes)
    elif args.fast:
        model = maskrcnn_resnet18_fpn(
            weights_backbone=None,
            num_classes=train_set.num_classes,
            class_names=class_names,
            min_size=64,
            max_size=64,
            anchor_sizes=((8,), (16,), (16,), (19,), (25,)),
            box_detections_per_img=20,
            box_batch_size_per_image=16,
        )
    else:
        model = maskrcnn_resnet101_fpn(num_classes=train_set.num_classes, class_names=class_names)
    result = fit(
        model,
        train_set,
        val_set,
        output_dir=out / "run",
        epochs=args.epochs,
        iters_per_epoch=args.iters,
        batch_size=args.batch_size,
        lr=args.lr,
        progress=not args.fast,
    )
    last = result.history[-1]
    print(f"segm AP: {last['segm']['AP']:.4f}")
    print(f"bbox AP: {last['bbox']['AP']:.4f}")
    print(f"pretrained: {result.pretrained_dir}")


if __name__ == "__main__":
    main()
