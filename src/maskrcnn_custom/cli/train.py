"""Train a Mask R-CNN with the seed's recipe on a COCO-format folder or on synthetic elongated objects.

Defaults are the seed's recipe: SGD (lr 0.003, momentum 0.9, weight decay 1e-4), StepLR halving the
learning rate every 6 epochs (the seed's text; its code used --lr-step-size 10), 30 epochs of 300
iterations, batch size 2, linear warm-up in the first epoch. Every epoch is evaluated on the validation
set (COCO bbox/segm AP plus a breakdown by elongation), logged to OUTPUT/metrics.csv and metrics.jsonl,
and checkpointed to OUTPUT/checkpoint_last.pt (best by segm AP: checkpoint_best.pt); the run ends with a
save_pretrained folder OUTPUT/pretrained. Examples:

  maskrcnn-custom train --synthetic 2500 --output runs/synthetic
  maskrcnn-custom train --coco datasets/train --val-coco datasets/val --output runs/mine --resume
  torchrun --nproc_per_node=4 -m maskrcnn_custom train --coco datasets/train --val-coco datasets/val --output runs/ddp

With --synthetic and no validation option, a validation set of max(8, N/10) synthetic images with
seed --data-seed + 1 is used. COCO data and evaluation need pycocotools: pip install "maskrcnn-custom[coco]".
"""

from __future__ import annotations

import argparse
import json
import logging

from ..engine.optim import OPTIMIZERS
from ._datasets import add_dataset_arguments, open_dataset

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "train"
HELP = "train a model (seed recipe; COCO folder or synthetic data; resumable; torchrun-ready)"

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    add_dataset_arguments(parser, what="training")
    add_dataset_arguments(parser, what="validation", prefix="val-", required=False)
    parser.add_argument(
        "--output", required=True, metavar="DIR", help="run folder: checkpoints, logs, pretrained/"
    )
    data = parser.add_argument_group("data")
    data.add_argument("--image-size", type=int, default=256, metavar="PX", help="side of synthetic images")
    data.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic training images")
    data.add_argument("--no-augment", action="store_true", help="train without flips/rotations/scale jitter")
    data.add_argument("--workers", type=int, default=2, metavar="N", help="DataLoader worker processes")
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model", default="maskrcnn_resnet101_fpn", help="registered model name (see `maskrcnn-custom info`)"
    )
    model.add_argument(
        "--weights-backbone",
        default="default",
        metavar="NAME",
        help="ImageNet backbone weights: 'default' (the builder's, torchvision's V1 from the Hub), an enum name "
        "such as IMAGENET1K_V1, a Hub repo id, a local file, or 'none' to train from scratch",
    )
    model.add_argument(
        "--input-size",
        type=int,
        default=None,
        metavar="PX",
        help="the model's input size (min_size = max_size); default: the model's own (256 for the seed network)",
    )
    model.add_argument(
        "--model-kwargs",
        type=_json_object,
        default=None,
        metavar="JSON",
        help="more builder keyword arguments as a JSON object, e.g. the anchors `maskrcnn-custom anchors` fitted: "
        '\'{"anchor_sizes": [[24], [40], [56], [80], [112]], "aspect_ratios": [0.2, 0.5, 1, 2, 5]}\'',
    )
    model.add_argument(
        "--trainable-backbone-layers",
        type=int,
        default=None,
        metavar="K",
        help="trainable ResNet stages (0-5)",
    )
    recipe = parser.add_argument_group("recipe (defaults: the seed's)")
    recipe.add_argument("--epochs", type=int, default=30, help="number of epochs")
    recipe.add_argument("--iters-per-epoch", type=int, default=300, metavar="N", help="iterations per epoch")
    recipe.add_argument(
        "--batch-size", type=int, default=2, metavar="N", help="images per iteration (per process)"
    )
    recipe.add_argument("--lr", type=float, default=0.003, help="peak learning rate")
    recipe.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="sgd",
        help="sgd (the seed's) or adamw (better for short runs from scratch; use --lr 1e-4 to 1e-3)",
    )
    recipe.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    recipe.add_argument("--weight-decay", type=float, default=1e-4, help="weight decay")
    recipe.add_argument(
        "--lr-step-size",
        type=int,
        default=6,
        metavar="EPOCHS",
        help="StepLR period (seed text: 6, seed code: 10)",
    )
    recipe.add_argument("--lr-gamma", type=float, default=0.5, help="StepLR factor")
    recipe.add_argument(
        "--warmup-iters",
        type=int,
        default=None,
        metavar="N",
        help="linear warm-up iterations in epoch 0 (default min(1000, iters-per-epoch - 1); 0 disables)",
    )
    recipe.add_argument(
        "--warmup-factor", type=float, default=0.001, help="learning-rate factor at iteration 0"
    )
    recipe.add_argument(
        "--max-grad-norm", type=float, default=None, metavar="NORM", help="clip gradients (off)"
    )
    recipe.add_argument(
        "--amp",
        choices=("off", "fp16", "bf16"),
        default="off",
        help="mixed precision: fp16 (with a gradient scaler; CUDA) or bf16",
    )
    run_opts = parser.add_argument_group("run")
    run_opts.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda when available)")
    run_opts.add_argument("--seed", type=int, default=0, help="seed of the run (RNGs and data order)")
    run_opts.add_argument(
        "--eval-every", type=int, default=1, metavar="EPOCHS", help="evaluate every N epochs"
    )
    run_opts.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="CKPT",
        help="continue OUTPUT/checkpoint_last.pt (no value) or the given checkpoint file",
    )
    run_opts.add_argument("--print-freq", type=int, default=20, metavar="N", help="log every N iterations")
    run_opts.add_argument("--no-progress", action="store_true", help="no progress bars")
    run_opts.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="TensorBoard logs (default: if installed)",
    )
    run_opts.add_argument("--json", action="store_true", help="print the final summary as JSON")


def _json_object(text: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"expected a JSON object such as '{{\"mask_hidden_dim\": 256}}', got {text!r}"
        )
    return value


def _weights_backbone(value: str) -> object:
    if value.lower() == "default":
        return "default"
    if value.lower() in ("none", "null", "scratch"):
        return None
    return value


def run(args: argparse.Namespace) -> int:
    """Build the data and the model, then call :func:`maskrcnn_custom.fit`."""
    from .. import fit, get_model
    from ..data import train_transforms
    from ..engine.distributed import is_main_process

    if args.image_size < 32:
        raise ValueError(f"--image-size must be >= 32 pixels, got {args.image_size}")
    train_set = open_dataset(
        coco=args.coco,
        synthetic=args.synthetic,
        seed=args.data_seed,
        image_size=args.image_size,
        transforms=None if args.no_augment else train_transforms(),
    )
    if args.val_coco is not None or args.val_synthetic is not None:
        val_set = open_dataset(
            coco=args.val_coco,
            synthetic=args.val_synthetic,
            seed=args.data_seed + 1,
            image_size=args.image_size,
        )
    elif args.synthetic is not None:
        val_set = open_dataset(
            coco=None,
            synthetic=max(8, args.synthetic // 10),
            seed=args.data_seed + 1,
            image_size=args.image_size,
        )
    else:
        val_set = None
        logger.warning("no validation data (--val-coco/--val-synthetic): the last epoch's model is exported")
    kwargs: dict[str, object] = {"num_classes": train_set.num_classes, **(args.model_kwargs or {})}
    wb = _weights_backbone(args.weights_backbone)
    if wb != "default":
        kwargs["weights_backbone"] = wb
    if args.input_size is not None:
        if args.input_size < 32:
            raise ValueError(f"--input-size must be >= 32 pixels, got {args.input_size}")
        kwargs["min_size"] = kwargs["max_size"] = args.input_size
    if args.trainable_backbone_layers is not None:
        kwargs["trainable_backbone_layers"] = args.trainable_backbone_layers
    model = get_model(args.model, **kwargs)
    result = fit(
        model,
        train_set,
        val_set,
        output_dir=args.output,
        epochs=args.epochs,
        iters_per_epoch=args.iters_per_epoch,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        lr_step_size=args.lr_step_size,
        lr_gamma=args.lr_gamma,
        warmup_iters=args.warmup_iters,
        warmup_factor=args.warmup_factor,
        max_grad_norm=args.max_grad_norm,
        amp=False if args.amp == "off" else args.amp,
        device=args.device,
        num_workers=args.workers,
        seed=args.seed,
        resume=args.resume,
        eval_every=args.eval_every,
        print_freq=args.print_freq,
        progress=not args.no_progress,
        tensorboard=args.tensorboard,
        config={
            "model": args.model,
            "train_data": args.coco
            or f"synthetic:{args.synthetic}@{args.image_size}px,seed={args.data_seed}",
            "augment": not args.no_augment,
        },
    )
    if is_main_process():
        summary = {
            "output": str(result.output_dir),
            "epochs": len(result.history),
            "best_epoch": result.best_epoch,
            "best_segm_AP": result.best_metric,
            "last": {
                k: v for k, v in result.history[-1].items() if k in ("epoch", "lr", "train", "bbox", "segm")
            }
            if result.history
            else None,
            "pretrained": str(result.pretrained_dir) if result.pretrained_dir else None,
        }
        if args.json:
            print(json.dumps(summary, indent=2, default=float))
        else:
            print(f"run folder: {summary['output']}")
            print(f"best epoch: {summary['best_epoch']} (segm AP {summary['best_segm_AP']})")
            print(f"pretrained: {summary['pretrained']}")
    return 0
