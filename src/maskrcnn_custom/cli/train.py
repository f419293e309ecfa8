"""Train a Mask R-CNN with a training recipe on a COCO-format folder or on synthetic elongated objects.

The hyper-parameters come from the --recipe preset (default: seed, the seed document's recipe: SGD at lr 0.003,
StepLR halving the learning rate every 6 epochs, 30 epochs of 300 iterations of 2 images, linear warm-up in
the first epoch); each recipe flag given overrides one value. Every epoch is evaluated on the validation
set (COCO bbox/segm AP plus a breakdown by elongation), logged to OUTPUT/metrics.csv and metrics.jsonl,
and checkpointed to OUTPUT/checkpoint_last.pt (best by segm AP: checkpoint_best.pt); the run ends with a
save_pretrained folder OUTPUT/pretrained. An OUTPUT folder that holds a previous run is refused unless
--resume continues it or --overwrite starts over. Examples:

  maskrcnn-custom train --synthetic 2500 --output runs/synthetic
  maskrcnn-custom train --synthetic 2000 --output runs/fast --preset fast_cpu   # minutes on a CPU
  maskrcnn-custom train --synthetic 2500 --output runs/short --recipe demo --epochs 6
  maskrcnn-custom train --coco datasets/train --val-coco datasets/val --output runs/mine --resume
  maskrcnn-custom train --synthetic 2500 --output runs/synthetic --overwrite   # start that run over
  torchrun --nproc_per_node=4 -m maskrcnn_custom train --coco datasets/train --val-coco datasets/val --output runs/ddp

--preset NAME (see docs/training.md) picks a whole training preset: the model (from a random backbone unless
--weights-backbone says otherwise), its image size, its augmentation and its recipe; the other flags override it.

With --synthetic and no validation option, a validation set of max(8, N/10) synthetic images with
seed --data-seed + 1 is used. COCO data and evaluation need pycocotools: pip install "maskrcnn-custom[coco]".
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from ..presets import get_preset, list_presets
from ..recipe import LR_SCHEDULES, OPTIMIZERS, get_recipe, list_recipes
from ._datasets import add_dataset_arguments, open_dataset

__all__ = ["HELP", "NAME", "add_arguments", "recipe_overrides", "run"]

NAME = "train"
HELP = "train a model (recipe presets; COCO folder or synthetic data; resumable; torchrun-ready)"

logger = logging.getLogger(__name__)

_UNSET = argparse.SUPPRESS  # "not given": the attribute stays off the namespace and --help shows no default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments: data, model, training recipe and run options."""
    add_dataset_arguments(parser, what="training")
    add_dataset_arguments(parser, what="validation", prefix="val-", required=False)
    parser.add_argument(
        "--output", required=True, metavar="DIR", help="run folder: checkpoints, logs, pretrained/"
    )
    _add_data_arguments(parser.add_argument_group("data"))
    _add_model_arguments(parser.add_argument_group("model"))
    _add_recipe_arguments(
        parser.add_argument_group(
            "training recipe", "each flag given overrides the --recipe preset's value (shown per preset)"
        )
    )
    _add_run_arguments(parser.add_argument_group("run"))


def _add_data_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--image-size",
        type=int,
        default=_UNSET,
        metavar="PX",
        help="side of synthetic images (default: the --preset's, else 256)",
    )
    group.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic training images")
    group.add_argument("--no-augment", action="store_true", help="train without flips/rotations/scale jitter")
    group.add_argument("--workers", type=int, default=2, metavar="N", help="DataLoader worker processes")


def _add_model_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--preset",
        choices=list_presets(),
        default=_UNSET,
        help="training preset: model, image size, augmentation and recipe in one name (see docs/training.md)",
    )
    group.add_argument(
        "--model",
        default=_UNSET,
        help="registered model name (see `maskrcnn-custom info`; default maskrcnn_resnet101_fpn, the seed network)",
    )
    group.add_argument(
        "--weights-backbone",
        default="default",
        metavar="NAME",
        help="ImageNet backbone weights: 'default' (the builder's, torchvision's V1 from the Hub; with --preset: "
        "none), an enum name such as IMAGENET1K_V1, a Hub repo id, a local file, or 'none' to train from scratch",
    )
    group.add_argument(
        "--input-size",
        type=int,
        default=_UNSET,
        metavar="PX",
        help="the model's input size (min_size = max_size); default: the model's own (256 for the seed network)",
    )
    group.add_argument(
        "--model-kwargs",
        type=_json_object,
        default=_UNSET,
        metavar="JSON",
        help="more builder keyword arguments as a JSON object, e.g. the anchors `maskrcnn-custom anchors` fitted: "
        '\'{"anchor_sizes": [[24], [40], [56], [80], [112]], "aspect_ratios": [0.2, 0.5, 1, 2, 5]}\'',
    )
    group.add_argument(
        "--trainable-backbone-layers",
        type=int,
        default=_UNSET,
        metavar="K",
        help="trainable ResNet stages (0-5); default: the builder's",
    )


_AMP_FLAGS: dict[str, bool | str] = {"off": False, "auto": "auto", "fp16": "float16", "bf16": "bfloat16"}
_AMP_NAMES = {value: name for name, value in _AMP_FLAGS.items()}

#: ``--flag`` -> (TrainingRecipe field, argparse options) of the recipe flags.
_RECIPE_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--epochs": ("epochs", {"type": int, "help": "number of epochs"}),
    "--iters-per-epoch": ("iters_per_epoch", {"type": int, "metavar": "N", "help": "iterations per epoch"}),
    "--batch-size": (
        "batch_size",
        {"type": int, "metavar": "N", "help": "images per iteration (per process)"},
    ),
    "--lr": ("lr", {"type": float, "help": "peak learning rate"}),
    "--optimizer": (
        "optimizer",
        {
            "choices": OPTIMIZERS,
            "help": "sgd or adamw (better for short runs from scratch; use --lr 1e-4 to 1e-3)",
        },
    ),
    "--momentum": ("momentum", {"type": float, "help": "SGD momentum"}),
    "--weight-decay": ("weight_decay", {"type": float, "help": "weight decay"}),
    "--lr-step-size": (
        "lr_step_size",
        {"type": int, "metavar": "EPOCHS", "help": "StepLR period"},
    ),
    "--lr-gamma": ("lr_gamma", {"type": float, "help": "StepLR factor"}),
    "--lr-schedule": (
        "lr_schedule",
        {"choices": LR_SCHEDULES, "help": "step (StepLR) or cosine (half a cosine over the epochs)"},
    ),
    "--warmup-iters": (
        "warmup_iters",
        {
            "type": lambda text: _optional(text, int, "auto"),
            "metavar": "N",
            "help": "linear warm-up iterations in epoch 0 (auto: min(1000, iters-per-epoch - 1); 0 disables)",
        },
    ),
    "--warmup-factor": ("warmup_factor", {"type": float, "help": "learning-rate factor at iteration 0"}),
    "--max-grad-norm": (
        "max_grad_norm",
        {
            "type": lambda text: _optional(text, float, "none"),
            "metavar": "NORM",
            "help": "clip gradients at this total norm (none: off)",
        },
    ),
    "--amp": (
        "amp",
        {
            "type": lambda text: _AMP_FLAGS.get(text, text),
            "choices": tuple(_AMP_FLAGS.values()),
            "metavar": "{off,auto,fp16,bf16}",
            "help": "mixed precision: fp16 (with a gradient scaler; CUDA), bf16, or auto (fp16 on CUDA, bf16 on a "
            "CPU with native bfloat16, else off)",
        },
    ),
}


def _preset_values(field: str) -> str:
    """``"seed: 30, demo: 3"``: the value of ``field`` in every registered recipe, as the flag is written."""

    def show(value: Any) -> str:
        if field == "amp":
            return _AMP_NAMES.get(value, str(value))
        return {None: "auto" if field == "warmup_iters" else "none"}.get(value, str(value))

    return ", ".join(f"{name}: {show(getattr(get_recipe(name), field))}" for name in list_recipes())


def _add_recipe_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--recipe",
        choices=list_recipes(),
        default=_UNSET,
        help="training recipe preset the flags below start from (default: the --preset's, else seed; "
        "see docs/training.md)",
    )
    for flag, (field, options) in _RECIPE_FLAGS.items():
        options = dict(options)
        options["help"] = f"{options['help']} [{_preset_values(field)}]"
        group.add_argument(flag, dest=field, default=_UNSET, **options)


def _add_run_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--device", default=_UNSET, help="cuda, cpu, ... (default: cuda when available)")
    group.add_argument("--seed", type=int, default=0, help="seed of the run (RNGs and data order)")
    group.add_argument("--eval-every", type=int, default=1, metavar="EPOCHS", help="evaluate every N epochs")
    group.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=_UNSET,
        metavar="CKPT",
        help="continue OUTPUT/checkpoint_last.pt (no value) or the given checkpoint file",
    )
    group.add_argument(
        "--overwrite",
        action="store_true",
        help="start over in an OUTPUT folder that holds a previous run (its checkpoints, logs and "
        "pretrained/ are removed first); without it or --resume such a folder is refused",
    )
    group.add_argument("--print-freq", type=int, default=20, metavar="N", help="log every N iterations")
    group.add_argument("--no-progress", action="store_true", help="no progress bars")
    group.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        default=_UNSET,
        help="TensorBoard logs (default: if installed)",
    )
    group.add_argument("--json", action="store_true", help="print the final summary as JSON")


def _optional(text: str, kind: type, none_word: str) -> Any:
    if text.lower() == none_word:
        return None
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a {kind.__name__} or {none_word!r}, got {text!r}"
        ) from None


def recipe_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe fields given on the command line (flags left out keep the ``--recipe`` preset's values).

    Examples:
        >>> import argparse
        >>> from maskrcnn_custom.cli.train import add_arguments, recipe_overrides
        >>> parser = argparse.ArgumentParser(); add_arguments(parser)
        >>> recipe_overrides(parser.parse_args(["--synthetic", "4", "--output", "x", "--epochs", "30"]))
        {'epochs': 30}
    """
    return {field: getattr(args, field) for field, _ in _RECIPE_FLAGS.values() if hasattr(args, field)}


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
    """Build the data and the model, then call :func:`maskrcnn_custom.fit` and print a summary."""
    from .. import build_preset_model, fit, get_model
    from ..engine.fit import check_run_folder

    # a folder holding a previous run is refused before the data are opened or the model is built
    preset = _preset(args)
    check_run_folder(args.output, resume=getattr(args, "resume", None), overwrite=args.overwrite)
    train_set, val_set = _open_datasets(args, preset)
    kwargs = _model_kwargs(args, train_set.num_classes)
    if preset is not None:
        model = build_preset_model(preset, **{"weights_backbone": None, **kwargs})
        recipe = getattr(args, "recipe", preset.name)
    else:
        model = get_model(getattr(args, "model", "maskrcnn_resnet101_fpn"), **kwargs)
        recipe = getattr(args, "recipe", "seed")
    result = fit(
        model,
        train_set,
        val_set,
        output_dir=args.output,
        recipe=recipe,
        **recipe_overrides(args),
        device=getattr(args, "device", None),
        num_workers=args.workers,
        seed=args.seed,
        resume=getattr(args, "resume", None),
        overwrite=args.overwrite,
        eval_every=args.eval_every,
        print_freq=args.print_freq,
        progress=not args.no_progress,
        tensorboard=getattr(args, "tensorboard", None),
        config={
            "preset": None if preset is None else preset.name,
            "model": preset.architecture
            if preset is not None
            else getattr(args, "model", "maskrcnn_resnet101_fpn"),
            "train_data": args.coco
            or f"synthetic:{args.synthetic}@{args.image_size}px,seed={args.data_seed}",
            "augment": not args.no_augment,
        },
    )
    _print_summary(result, as_json=args.json)
    return 0


def _preset(args: argparse.Namespace) -> Any:
    """The ``--preset`` (or ``None``); refuses ``--model`` with it, before any work."""
    if not hasattr(args, "preset"):
        return None
    if hasattr(args, "model"):
        raise ValueError(
            f"--model {args.model} and --preset {args.preset} both choose the model; pass one of them "
            "(--model-kwargs overrides the preset's builder arguments)"
        )
    preset = get_preset(args.preset)
    if getattr(args, "image_size", None) is None:
        args.image_size = preset.image_size
    if not hasattr(args, "input_size"):
        args.input_size = args.image_size
    return preset


def _open_datasets(args: argparse.Namespace, preset: Any = None) -> tuple[Any, Any]:
    """The training set and the validation set (``None`` without validation options or synthetic data)."""
    from ..data import train_transforms

    if getattr(args, "image_size", None) is None:
        args.image_size = 256
    if args.image_size < 32:
        raise ValueError(f"--image-size must be >= 32 pixels, got {args.image_size}")
    train_set = open_dataset(
        coco=args.coco,
        synthetic=args.synthetic,
        seed=args.data_seed,
        image_size=args.image_size,
        synthetic_preset=args.synthetic_preset,
        transforms=None
        if args.no_augment
        else (preset.train_transforms() if preset is not None else train_transforms()),
    )
    if args.val_coco is not None or args.val_synthetic is not None:
        val_coco, val_synthetic = args.val_coco, args.val_synthetic
    elif args.synthetic is not None:
        val_coco, val_synthetic = None, max(8, args.synthetic // 10)
    else:
        logger.warning("no validation data (--val-coco/--val-synthetic): the last epoch's model is exported")
        return train_set, None
    val_set = open_dataset(
        coco=val_coco,
        synthetic=val_synthetic,
        seed=args.data_seed + 1,
        image_size=args.image_size,
        synthetic_preset=args.val_synthetic_preset,
    )
    return train_set, val_set


def _model_kwargs(args: argparse.Namespace, num_classes: int) -> dict[str, object]:
    """The builder's keyword arguments from the model options."""
    kwargs: dict[str, object] = {"num_classes": num_classes, **getattr(args, "model_kwargs", {})}
    wb = _weights_backbone(args.weights_backbone)
    if wb != "default":
        kwargs["weights_backbone"] = wb
    if hasattr(args, "input_size"):
        if args.input_size < 32:
            raise ValueError(f"--input-size must be >= 32 pixels, got {args.input_size}")
        kwargs["image_size" if hasattr(args, "preset") else "min_size"] = args.input_size
        if not hasattr(args, "preset"):
            kwargs["max_size"] = args.input_size
    if hasattr(args, "trainable_backbone_layers"):
        kwargs["trainable_backbone_layers"] = args.trainable_backbone_layers
    return kwargs


def _print_summary(result: Any, *, as_json: bool) -> None:
    """On the main process: the run folder, best epoch and pretrained folder (or all of it as JSON)."""
    from ..engine.distributed import is_main_process

    if not is_main_process():
        return
    summary = {
        "output": str(result.output_dir),
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "best_segm_AP": result.best_metric,
        "last": {k: v for k, v in result.history[-1].items() if k in ("epoch", "lr", "train", "bbox", "segm")}
        if result.history
        else None,
        "pretrained": str(result.pretrained_dir) if result.pretrained_dir else None,
    }
    if as_json:
        print(json.dumps(summary, indent=2, default=float))
    else:
        print(f"run folder: {summary['output']}")
        print(f"best epoch: {summary['best_epoch']} (segm AP {summary['best_segm_AP']})")
        print(f"pretrained: {summary['pretrained']}")
