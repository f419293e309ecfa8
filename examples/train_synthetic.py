"""Train a Mask R-CNN on the library's synthetic elongated objects and evaluate it (COCO box and mask AP).

    python examples/train_synthetic.py --out runs/synthetic                       # seed recipe, ResNet-101
    python examples/train_synthetic.py --out runs/synthetic --backbone resnet18 --epochs 4 --iters 100
    python examples/train_synthetic.py --fast                                     # seconds (CI)

The default is the seed's recipe (30 epochs of 300 iterations, SGD lr 0.003) on an ImageNet backbone
(downloaded from the Hugging Face Hub once); --no-pretrained trains from scratch, offline (add
--optimizer adamw --lr 5e-4 for a short run from scratch). Needs a GPU to finish
in hours rather than days; --fast only checks the loop. For a model in about 15 minutes on a CPU, train the
fast_cpu training preset instead (docs/training.md): `maskrcnn-custom train --preset fast_cpu --synthetic 2000
--val-synthetic 50 --val-synthetic-preset heldout --output runs/fast`, or `maskrcnn-custom demo`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from maskrcnn_custom import SyntheticElongatedDataset, fit, get_model, get_recipe
from maskrcnn_custom.engine import OPTIMIZERS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="run folder (default: a temporary folder)")
    parser.add_argument(
        "--backbone", default="resnet101", choices=["resnet18", "resnet34", "resnet50", "resnet101"]
    )
    parser.add_argument("--no-pretrained", action="store_true", help="random backbone weights (offline)")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--train-images", type=int, default=2500)
    parser.add_argument("--val-images", type=int, default=250)
    seed = get_recipe("seed")  # the defaults: the seed document's training recipe
    parser.add_argument("--epochs", type=int, default=seed.epochs)
    parser.add_argument("--iters", type=int, default=seed.iters_per_epoch, help="iterations per epoch")
    parser.add_argument("--batch-size", type=int, default=seed.batch_size)
    parser.add_argument("--lr", type=float, default=seed.lr)
    parser.add_argument(
        "--optimizer",
        default=seed.optimizer,
        choices=OPTIMIZERS,
        help="adamw (with --lr 5e-4) for short runs from scratch",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--fast", action="store_true", help="ResNet-18, 64 px, 4 iterations (seconds)")
    args = parser.parse_args()
    if args.fast:
        args.backbone, args.no_pretrained, args.image_size = "resnet18", True, 64
        args.train_images, args.val_images, args.epochs, args.iters, args.lr = 8, 2, 1, 4, 0.01
    out = args.out or Path(tempfile.mkdtemp(prefix="train-synthetic-"))

    train_set = SyntheticElongatedDataset(args.train_images, image_size=args.image_size, seed=0)
    val_set = SyntheticElongatedDataset(args.val_images, image_size=args.image_size, seed=1)
    scale = args.image_size / 256  # objects are sized relative to the image: scale the seed's anchors with it
    model = get_model(
        f"maskrcnn_{args.backbone}_fpn",
        **({"weights_backbone": None} if args.no_pretrained else {}),
        num_classes=train_set.num_classes,
        class_names=("background", *train_set.category_names),
        min_size=args.image_size,
        max_size=args.image_size,
        anchor_sizes=tuple((s * scale,) for s in (32, 64, 64, 76, 100)),
        # fast: fewer RoIs per image for the heads and fewer detections to evaluate
        **({"box_batch_size_per_image": 16, "box_detections_per_img": 20} if args.fast else {}),
    )
    result = fit(
        model,
        train_set,
        val_set,
        output_dir=out,
        epochs=args.epochs,
        iters_per_epoch=args.iters,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        resume=args.resume or None,
        progress=not args.fast,
    )
    last = result.history[-1]
    print(f"segm AP: {last['segm']['AP']:.4f}")
    print(f"bbox AP: {last['bbox']['AP']:.4f}")
    print(f"best epoch: {result.best_epoch}")
    print(f"pretrained: {result.pretrained_dir}")


if __name__ == "__main__":
    main()
