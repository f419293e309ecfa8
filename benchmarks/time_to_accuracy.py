"""Time to accuracy: COCO AP on held-out thin objects against seconds of training, the library vs plain torchvision.

Two runs in one process, each trained for the same wall-clock budget of *training* time (``--budget-s``; the
clock stops while evaluating) and evaluated at regular points of that budget on the same held-out images:

* ``library``: a model built by the library (``make_config`` + ``build_model``) trained with
  ``maskrcnn_custom.train_one_epoch`` one iteration at a time under a time-based schedule (linear warm-up, then
  the rate multiplied by ``--lr-gamma`` after ``--lr-drop-at`` of the budget, or a cosine decay over the
  budget). Every recipe choice is an option; the defaults are the demo's (``maskrcnn_custom.demo.demo_settings``:
  ResNet-18 FPN from scratch, the seed's heads, AdamW at 5e-4, 30 warm-up iterations, the rate halved for the
  last third, gradients clipped at norm 10, 32 sampled RoIs per image, 1000/600 RPN proposals in training).
* ``baseline``: what a user has without this library: the seed document's network built with plain
  torchvision exactly as the seed builds it (``benchmarks/seed_baseline.py``: ResNet-101 FPN, the seed's anchors
  and heads, 512 RPN samples, torchvision's 512 sampled RoIs, ``min_size = max_size = --image-size``) trained the
  seed's way: ``SGD(lr=0.003, momentum=0.9, weight_decay=1e-4)`` and ``StepLR(step_size=10, gamma=0.5)``
  stepped every 300-iteration epoch, in a plain loop (``model(images, targets)``, sum of losses,
  ``zero_grad``, ``backward``, ``step``) with no library code in it.

Both start from random weights (nothing is downloaded; the seed used an ImageNet backbone), train on the same
stream of ``SyntheticElongatedDataset`` batches (same images, same order) and are evaluated with the same
``maskrcnn_custom.evaluate`` (pycocotools) on ``--val-images`` images of the **held-out generator**
(``SyntheticConfig.heldout()``: longer, thinner, more bent objects, other backgrounds, dark and bright objects,
more noise, fainter contrast), seed ``--val-seed``: the figure measures generalisation to thin objects, not
memory of one generator's style.

Output: one JSON document (stdout, or ``--out DIR/<name>.json``) with the machine, torch threads, load averages
before and after each run, the full recipe of each side and every evaluation point (training seconds without
evaluation, iterations, segm/bbox/boundary AP and AP50, clDice, detections per image, evaluation seconds, mean
loss since the last point), plus with ``--out`` a PNG plot ``DIR/<name>.png`` of segm and bbox AP against training seconds.

    PYTHONPATH=src python benchmarks/time_to_accuracy.py --budget-s 900 --out benchmarks/results
    PYTHONPATH=src python benchmarks/time_to_accuracy.py --preset fast_cpu --budget-s 900 --out benchmarks/results
    PYTHONPATH=src python benchmarks/time_to_accuracy.py --tiny --out /tmp/tta   # seconds (the tests)

Cost and effect of 56 px masks (``--mask-resolution``), the library run alone, same budget each::

    PYTHONPATH=src python benchmarks/time_to_accuracy.py --no-baseline --budget-s 300 --name masks28 --out DIR
    PYTHONPATH=src python benchmarks/time_to_accuracy.py --no-baseline --budget-s 300 --mask-resolution 56 \
        --name masks56 --out DIR
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from _machine import cpu_model, load_averages
from PIL import Image, ImageDraw, ImageFont
from seed_baseline import seed_maskrcnn_resnet101_fpn
from torch.utils.data import DataLoader

from maskrcnn_custom import (
    SEED_ANCHOR_SIZES,
    SEED_ASPECT_RATIOS,
    RoIPoolConfig,
    SyntheticConfig,
    SyntheticElongatedDataset,
    build_model,
    collate_fn,
    evaluate,
    make_config,
    save_pretrained,
    train_one_epoch,
)
from maskrcnn_custom.demo import demo_settings
from maskrcnn_custom.engine.amp import resolve_amp_dtype
from maskrcnn_custom.engine.optim import OPTIMIZERS, make_optimizer
from maskrcnn_custom.engine.sampling import InfiniteSampler
from maskrcnn_custom.models.config import DEFAULT_FOREGROUND_GATE
from maskrcnn_custom.presets import get_preset, list_presets

SIDES = ("library", "baseline")
#: The seed trained epochs of 300 iterations and stepped its StepLR once per epoch.
SEED_ITERS_PER_EPOCH = 300
SCHEDULES = ("step", "cosine", "constant")
#: AP figures recorded at each evaluation point (boundary: Boundary AP, from evaluate's "boundary" key).
AP_KEYS = ("segm_AP", "segm_AP50", "bbox_AP", "bbox_AP50", "boundary_AP", "boundary_AP50")


def _float_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 0.25,0.5,1,2,4, got {text!r}"
        ) from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return values


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints >= 1, got {text!r}")
    return values


def preset_defaults(name: str) -> dict[str, Any]:
    """The library-run options that reproduce training preset ``name`` (its model, image size, recipe, augmentation)."""
    preset = get_preset(name)
    model, recipe = preset.model, preset.recipe
    defaults = {
        "backbone": preset.architecture.removeprefix("maskrcnn_").removesuffix("_fpn"),
        "image_size": preset.image_size,
        "batch_size": recipe.batch_size,
        "optimizer": recipe.optimizer,
        "lr": recipe.lr,
        "weight_decay": recipe.weight_decay,
        "warmup_iters": recipe.warmup_iters or 0,
        "lr_schedule": recipe.lr_schedule,
        "max_grad_norm": recipe.max_grad_norm or 0.0,
        "amp": {False: "off", "bfloat16": "bf16", "auto": "auto"}.get(recipe.amp),
        "augment": preset.augmentation is not None,
        "augment_kwargs": dict(preset.augmentation or {}),
    }
    names = {
        "fpn_out_channels": "fpn_channels",
        "box_head_dim": "box_head_dim",
        "mask_head_layers": "mask_head_layers",
        "mask_head_norm": "mask_head_norm",
        "mask_paste": "mask_paste",
        "mask_foreground_dim": "mask_foreground_dim",
        "mask_foreground_gate": "mask_foreground_gate",
        "mask_hidden_dim": "mask_hidden_dim",
        "mask_resolution": "mask_resolution",
        "box_batch_size_per_image": "rois_per_image",
        "rpn_pre_nms_top_n_train": "rpn_pre_nms_train",
        "rpn_post_nms_top_n_train": "rpn_post_nms_train",
        "box_detections_per_img": "max_detections",
        "box_refine_steps": "box_refine_steps",
    }
    if defaults["amp"] is None:
        raise ValueError(
            f"preset {name!r} trains with amp={recipe.amp!r}, which this benchmark has no option for"
        )
    unknown = sorted(set(model) - set(names))
    if unknown:
        raise ValueError(f"preset {name!r} sets {unknown}, which this benchmark has no option for")
    defaults.update({names[k]: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in model.items()})
    return defaults


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    demo = demo_settings()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--preset",
        choices=list_presets(),
        default=None,
        help="start the library run from this training preset (its model, image size, recipe and augmentation); "
        "the options given override it",
    )
    g = p.add_argument_group("measurement")
    g.add_argument("--budget-s", type=float, default=900.0, help="training seconds per run (default 900)")
    g.add_argument("--eval-points", type=int, default=5, help="evaluations per run, evenly over the budget")
    g.add_argument("--eval-every-s", type=float, default=None, help="evaluate every this many training s")
    g.add_argument("--val-images", type=int, default=demo.num_val, help="held-out images (default 50)")
    g.add_argument("--val-seed", type=int, default=1000, help="seed of the held-out images")
    g.add_argument("--sides", default=",".join(SIDES), help="comma-separated runs: library,baseline")
    g.add_argument(
        "--no-baseline", action="store_true", help="the library run only (same as --sides library)"
    )
    g.add_argument("--threads", type=int, default=None, help="torch threads (default: all logical cores)")
    g.add_argument("--seed", type=int, default=0, help="seed of the training data and of both models")
    g.add_argument("--tiny", action="store_true", help="seconds: 64 px, resnet18 both sides, 2 points")
    g.add_argument("--out", type=Path, default=None, help="folder for <name>.json and <name>.png")
    g.add_argument("--name", default=None, help="file name stem (default time_to_accuracy[_tiny])")
    g.add_argument("--overwrite", action="store_true", help="replace existing <name>.json/.png in --out")
    g.add_argument(
        "--save-model",
        type=Path,
        default=None,
        help="save the library run's final model there (save_pretrained), e.g. for benchmarks/mask_paste.py --model",
    )
    d = p.add_argument_group("data (identical for both runs)")
    d.add_argument(
        "--image-size", type=int, default=demo.image_size, help="image side for both (default 128)"
    )
    d.add_argument("--batch-size", type=int, default=demo.batch_size, help="images per iteration, both")
    d.add_argument("--train-images", type=int, default=demo.num_train, help="training set size")
    d.add_argument(
        "--train-data",
        choices=("default", "demo"),
        default="default",
        help="training generator: the generator's defaults, or the demo's (1-5 thicker objects)",
    )
    d.add_argument(
        "--train-data-kwargs",
        type=json.loads,
        default={},
        metavar="JSON",
        help="SyntheticConfig fields over --train-data (generator variety), e.g. '{\"curvature_range\": [0, 2.2]}'",
    )
    r = p.add_argument_group("library recipe (defaults: the demo's)")
    r.add_argument("--backbone", default="resnet18")
    r.add_argument("--backbone-norm", choices=("bn", "gn", "frozen_bn"), default="bn")
    r.add_argument("--optimizer", choices=OPTIMIZERS, default=demo.optimizer)
    r.add_argument("--lr", type=float, default=demo.lr)
    r.add_argument("--weight-decay", type=float, default=1e-4)
    r.add_argument("--warmup-iters", type=int, default=demo.warmup_iters)
    r.add_argument(
        "--lr-schedule", choices=SCHEDULES, default="step", help="over the budget, by training time"
    )
    r.add_argument("--lr-drop-at", type=float, default=2 / 3, help="step schedule: fraction of the budget")
    r.add_argument("--lr-gamma", type=float, default=0.5, help="step schedule: rate multiplier")
    r.add_argument("--max-grad-norm", type=float, default=10.0, help="0 disables clipping")
    r.add_argument(
        "--anchor-sizes",
        type=_int_list,
        default=tuple(level[0] for level in SEED_ANCHOR_SIZES),
        help="one anchor size per FPN level for 256 px images, scaled by image_size / 256 (seed: 32,64,64,76,100)",
    )
    r.add_argument(
        "--aspect-ratios",
        type=_float_list,
        default=SEED_ASPECT_RATIOS[0],
        help="anchor aspect ratios (height / width) on every FPN level (seed: 0.25,0.33,1,2,3)",
    )
    r.add_argument("--fpn-channels", type=int, default=256, help="FPN output channels (seed: 256)")
    r.add_argument("--box-head-dim", type=int, default=1024, help="box head MLP width (seed: 1024)")
    r.add_argument("--mask-hidden-dim", type=int, default=1500, help="mask predictor width (seed: 1500)")
    r.add_argument("--mask-head-layers", type=_int_list, default=(256, 256, 256, 256))
    r.add_argument(
        "--mask-head-norm",
        choices=("none", "gn"),
        default="none",
        help="normalisation of the mask branch (mask_head_norm=; none is the seed's, gn GroupNorm)",
    )
    r.add_argument(
        "--mask-paste",
        choices=("torchvision", "exact"),
        default="torchvision",
        help="how masks are pasted at evaluation (mask_paste=; torchvision's is the seed's, exact sub-pixel)",
    )
    r.add_argument(
        "--mask-foreground-dim",
        type=int,
        default=0,
        help="width of the dense foreground branch that draws mask edges (mask_foreground_dim=; 0, the seed's: none)",
    )
    r.add_argument(
        "--mask-foreground-gate",
        type=float,
        default=DEFAULT_FOREGROUND_GATE,
        help=f"RoI-mask probability above which a pixel takes the foreground's (default {DEFAULT_FOREGROUND_GATE})",
    )
    r.add_argument(
        "--mask-pool-size",
        type=int,
        default=14,
        help="output side of the mask RoI pool on feature map '0' (seed: 14); masks are 2x it or more",
    )
    r.add_argument(
        "--mask-resolution",
        type=int,
        choices=(28, 56, 112),
        default=28,
        help="side of the predicted masks (mask_resolution=; 28 is the seed's, 56 for thin objects)",
    )
    r.add_argument("--rois-per-image", type=int, default=demo.box_batch_size_per_image)
    r.add_argument("--rpn-pre-nms-train", type=int, default=1000)
    r.add_argument("--rpn-post-nms-train", type=int, default=600)
    r.add_argument("--max-detections", type=int, default=demo.max_detections)
    r.add_argument(
        "--box-refine-steps",
        type=int,
        choices=(0, 1, 2, 3),
        default=0,
        help="extra box-head passes at evaluation (box_refine_steps=; 0 is the seed's)",
    )
    r.add_argument(
        "--no-cpu-speedups",
        action="store_true",
        help="train_one_epoch(cpu_speedups=False): torchvision's kernels, the model in its own memory format",
    )
    r.add_argument(
        "--amp",
        choices=("off", "bf16", "auto"),
        default="off",
        help="training autocast: bf16, or auto (bf16 on a CPU with native bfloat16, else off); evaluation is float32",
    )
    r.add_argument("--augment", action="store_true", help="the library's train_transforms (library only)")
    r.add_argument(
        "--augment-kwargs",
        type=json.loads,
        default={},
        metavar="JSON",
        help="keyword arguments of train_transforms with --augment, e.g. '{\"invert\": 0.5}'",
    )
    b = p.add_argument_group("baseline (the seed's)")
    b.add_argument("--baseline-backbone", default="resnet101")
    b.add_argument("--baseline-lr", type=float, default=0.003)
    b.add_argument(
        "--baseline-warmup-iters",
        type=int,
        default=0,
        help="linear warm-up of the tutorial's engine (the seed's snippet has none: 0)",
    )
    known, _ = p.parse_known_args(argv)
    if known.preset is not None:
        p.set_defaults(**preset_defaults(known.preset))
    args = p.parse_args(argv)
    if args.tiny:
        for key, value in {
            "budget_s": 2.0,
            "eval_points": 2,
            "val_images": 2,
            "image_size": 64,
            "train_images": 16,
            "rois_per_image": 16,
            "mask_hidden_dim": 32,
            "max_detections": 10,
            "warmup_iters": 2,
            "baseline_backbone": "resnet18",
        }.items():
            if getattr(args, key) == p.get_default(key):
                setattr(args, key, value)
    args.preset_overrides = (
        None
        if args.preset is None
        else sorted(k for k, v in preset_defaults(args.preset).items() if getattr(args, k) != v)
    )
    args.threads = args.threads or os.cpu_count() or 1
    args.sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    if args.no_baseline:
        args.sides = [s for s in args.sides if s != "baseline"]
    bad = sorted(set(args.sides) - set(SIDES))
    if bad or not args.sides:
        p.error(f"--sides takes a comma-separated subset of {','.join(SIDES)}; got {bad or 'nothing'}")
    if not args.budget_s > 0:
        p.error(f"--budget-s must be > 0, got {args.budget_s}")
    if args.eval_every_s is not None:
        if not args.eval_every_s > 0:
            p.error(f"--eval-every-s must be > 0, got {args.eval_every_s}")
        args.eval_points = max(1, math.ceil(args.budget_s / args.eval_every_s - 1e-9))
    if args.eval_points < 1:
        p.error(f"--eval-points must be >= 1, got {args.eval_points}")
    for name in ("val_images", "train_images", "batch_size", "rois_per_image", "mask_hidden_dim"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.image_size < 32 or args.image_size % 32:
        p.error(f"--image-size must be a multiple of 32 and >= 32, got {args.image_size}")
    if not 0 < args.lr_drop_at <= 1:
        p.error(f"--lr-drop-at must be in (0, 1], got {args.lr_drop_at}")
    if not isinstance(args.train_data_kwargs, dict):
        p.error(
            f"--train-data-kwargs must be a JSON object of SyntheticConfig fields, got {args.train_data_kwargs!r}"
        )
    try:
        train_data_config(args)
    except (TypeError, ValueError) as err:
        p.error(f"--train-data-kwargs: {err}")
    args.name = args.name or ("time_to_accuracy_tiny" if args.tiny else "time_to_accuracy")
    if args.out is not None and not args.overwrite:
        for suffix in (".json", ".png"):
            path = args.out / f"{args.name}{suffix}"
            if path.exists():
                p.error(f"{path} exists; pass --overwrite to replace it or --name for another file")
    if (
        args.save_model is not None
        and not args.overwrite
        and args.save_model.exists()
        and any(args.save_model.iterdir())
    ):
        p.error(f"--save-model {args.save_model} is not empty; pass --overwrite to replace the model there")
    return args


def eval_times(args: argparse.Namespace) -> list[float]:
    """Training seconds at which to evaluate: evenly over the budget, the last at the budget."""
    if args.eval_every_s is not None:
        points = [args.eval_every_s * (k + 1) for k in range(args.eval_points)]
        return [min(t, args.budget_s) for t in points]
    return [args.budget_s * (k + 1) / args.eval_points for k in range(args.eval_points)]


def train_data_config(args: argparse.Namespace) -> SyntheticConfig:
    """The training generator: ``--train-data`` with the ``--train-data-kwargs`` fields on top."""
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in args.train_data_kwargs.items()}
    if args.train_data == "demo":
        demo = demo_settings()
        fields = {"num_objects": demo.num_objects, "width_range": demo.width_range, **fields}
    return SyntheticConfig(**fields)


def batch_stream(dataset: SyntheticElongatedDataset, args: argparse.Namespace) -> Iterator[Any]:
    """The endless, seeded stream of training batches both runs consume (same images, same order)."""
    sampler = InfiniteSampler(len(dataset), shuffle=True, seed=args.seed)
    return iter(DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, collate_fn=collate_fn))


# -- the two runs -----------------------------------------------------------------------------------------


def library_model(args: argparse.Namespace, num_classes: int) -> torch.nn.Module:
    """The library's model: the seed's architecture on ``--backbone``, anchors scaled to the image size."""
    scale = args.image_size / 256
    config = make_config(
        backbone=args.backbone,
        backbone_norm=args.backbone_norm,
        num_classes=num_classes,
        anchor_sizes=tuple((round(s * scale, 2),) for s in args.anchor_sizes),
        aspect_ratios=tuple(args.aspect_ratios),
        min_size=args.image_size,
        max_size=args.image_size,
        mask_hidden_dim=args.mask_hidden_dim,
        mask_resolution=args.mask_resolution,
        mask_head_layers=args.mask_head_layers,
        mask_head_norm=args.mask_head_norm,
        mask_paste=args.mask_paste,
        mask_foreground_dim=args.mask_foreground_dim,
        mask_foreground_gate=args.mask_foreground_gate,
        mask_roi_pool=RoIPoolConfig(featmap_names=("0",), output_size=args.mask_pool_size, sampling_ratio=2),
        fpn_out_channels=args.fpn_channels,
        box_head_dim=args.box_head_dim,
        box_batch_size_per_image=args.rois_per_image,
        box_detections_per_img=args.max_detections,
        box_refine_steps=args.box_refine_steps,
        rpn_pre_nms_top_n_train=args.rpn_pre_nms_train,
        rpn_post_nms_top_n_train=args.rpn_post_nms_train,
    )
    model = build_model(config)
    if not args.no_cpu_speedups:
        # train_one_epoch's CPU speed-ups put the model in channels_last for each call; one call per iteration
        # here, so convert once (a model already in channels_last is left as it is).
        model = model.to(memory_format=torch.channels_last)
    return model


def library_recipe(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "preset": args.preset,
        "preset_overrides": args.preset_overrides,
        "trainer": "maskrcnn_custom.train_one_epoch, one iteration per call, time-based schedule",
        "builder": "maskrcnn_custom.make_config + build_model (seed anchors scaled by image_size / 256)",
        "backbone": args.backbone,
        "backbone_norm": args.backbone_norm,
        "pretrained_backbone": False,
        "anchor_sizes_at_256px": list(args.anchor_sizes),
        "aspect_ratios": list(args.aspect_ratios),
        "fpn_channels": args.fpn_channels,
        "box_head_dim": args.box_head_dim,
        "mask_hidden_dim": args.mask_hidden_dim,
        "mask_head_layers": list(args.mask_head_layers),
        "mask_head_norm": args.mask_head_norm,
        "mask_paste": args.mask_paste,
        "mask_foreground_dim": args.mask_foreground_dim,
        "mask_foreground_gate": args.mask_foreground_gate,
        "mask_pool_size": args.mask_pool_size,
        "mask_resolution": args.mask_resolution,
        "rois_per_image": args.rois_per_image,
        "rpn_pre_nms_top_n_train": args.rpn_pre_nms_train,
        "rpn_post_nms_top_n_train": args.rpn_post_nms_train,
        "max_detections": args.max_detections,
        "box_refine_steps": args.box_refine_steps,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "warmup_iters": args.warmup_iters,
        "lr_schedule": args.lr_schedule,
        "lr_drop_at_budget_fraction": args.lr_drop_at if args.lr_schedule == "step" else None,
        "lr_gamma": args.lr_gamma if args.lr_schedule == "step" else None,
        "max_grad_norm": args.max_grad_norm or None,
        "cpu_speedups": not args.no_cpu_speedups,
        "amp": args.amp,
        "amp_dtype": _amp_dtype_name(args.amp),
        "augment": args.augment,
        "augment_kwargs": args.augment_kwargs if args.augment else None,
    }


def _amp_dtype_name(amp: str) -> str | None:
    """The autocast dtype ``--amp`` gives on this machine's CPU (``None``: float32)."""
    dtype = resolve_amp_dtype({"bf16": "bfloat16", "auto": "auto"}.get(amp, False), torch.device("cpu"))
    return None if dtype is None else str(dtype).removeprefix("torch.")


def library_lr_factor(args: argparse.Namespace, iteration: int, fraction: float) -> float:
    """Learning-rate multiplier at ``iteration`` after ``fraction`` of the budget."""
    warm = 1.0
    if iteration < args.warmup_iters:
        warm = 1e-3 + (1 - 1e-3) * iteration / args.warmup_iters
    if args.lr_schedule == "step":
        return warm * (args.lr_gamma if fraction >= args.lr_drop_at else 1.0)
    if args.lr_schedule == "cosine":
        return warm * 0.5 * (1 + math.cos(math.pi * min(fraction, 1.0)))
    return warm


def library_step(args: argparse.Namespace, model: torch.nn.Module, batches: Iterator[Any]) -> Callable:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(args.optimizer, params, lr=args.lr, weight_decay=args.weight_decay)
    transforms = None
    if args.augment:
        from maskrcnn_custom import train_transforms

        transforms = train_transforms(**args.augment_kwargs)

    def step(iteration: int, fraction: float) -> float:
        factor = library_lr_factor(args, iteration, fraction)
        for group in optimizer.param_groups:
            group["lr"] = args.lr * factor
        images, targets = next(batches)
        if transforms is not None:
            images, targets = zip(
                *(transforms(i, t) for i, t in zip(images, targets, strict=True)), strict=True
            )
        stats = train_one_epoch(
            model,
            optimizer,
            [(images, targets)],
            "cpu",
            0,
            amp={"bf16": "bfloat16", "auto": "auto"}.get(args.amp, False),
            warmup_iters=0,
            max_grad_norm=args.max_grad_norm or None,
            cpu_speedups=not args.no_cpu_speedups,
            progress=False,
            print_freq=10**9,
            num_iters=1,
        )
        return stats["loss"]

    return step


def baseline_model(args: argparse.Namespace, num_classes: int) -> torch.nn.Module:
    """The seed's network as the seed builds it (plain torchvision), at the benchmark's image size."""
    extra = {"box_detections_per_img": args.max_detections} if args.tiny else {}
    return seed_maskrcnn_resnet101_fpn(
        num_classes=num_classes, backbone_name=args.baseline_backbone, image_size=args.image_size, **extra
    )


def baseline_recipe(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "trainer": "plain loop: model(images, targets), sum, zero_grad, backward, step (no library code)",
        "builder": "benchmarks/seed_baseline.py (the seed's code, plain torchvision)",
        "backbone": args.baseline_backbone,
        "pretrained_backbone": False,
        "image_size": args.image_size,
        "anchors": "the seed's, unscaled: sizes 32-100 px, ratios 0.25-3",
        "mask_hidden_dim": 1500,
        "mask_resolution": 28,
        "rpn_batch_size_per_image": 512,
        "rois_per_image": 512,
        "max_detections": args.max_detections if args.tiny else 100,
        "optimizer": f"SGD lr {args.baseline_lr} momentum 0.9 weight_decay 1e-4",
        "lr_schedule": f"StepLR(step_size=10, gamma=0.5) per {SEED_ITERS_PER_EPOCH}-iteration epoch",
        "warmup_iters": args.baseline_warmup_iters,
        "max_grad_norm": None,
    }


def baseline_step(args: argparse.Namespace, model: torch.nn.Module, batches: Iterator[Any]) -> Callable:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=args.baseline_lr, momentum=0.9, weight_decay=0.0001)
    lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    warmup = None
    if args.baseline_warmup_iters > 0:  # torchvision's references/detection/engine.py, epoch 0
        warmup = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=1.0 / 1000, total_iters=args.baseline_warmup_iters
        )

    def step(iteration: int, fraction: float) -> float:
        model.train()
        images, targets = next(batches)
        images, targets = list(images), list(targets)
        loss_dict = model(images, targets)
        losses = sum(loss for loss in loss_dict.values())
        optimizer.zero_grad()
        losses.backward()
        optimizer.step()
        if warmup is not None and iteration < args.baseline_warmup_iters:
            warmup.step()
        if (iteration + 1) % SEED_ITERS_PER_EPOCH == 0:
            lr_scheduler.step()
        return float(losses.item())

    return step


# -- measurement ------------------------------------------------------------------------------------------


def run_side(
    side: str, args: argparse.Namespace, train_set: SyntheticElongatedDataset, val_loader: DataLoader
) -> dict[str, Any]:
    """Train one side for the budget, evaluating at the points; the clock stops while evaluating."""
    torch.manual_seed(args.seed)
    build, make_step, recipe = {
        "library": (library_model, library_step, library_recipe),
        "baseline": (baseline_model, baseline_step, baseline_recipe),
    }[side]
    model = build(args, train_set.num_classes)
    step = make_step(args, model, batch_stream(train_set, args))
    points_at = eval_times(args)
    load_before, wall_start = load_averages(), time.perf_counter()
    train_s, iteration, losses, points = 0.0, 0, [], []
    next_point, diverged = 0, None
    while next_point < len(points_at):
        t = time.perf_counter()
        try:
            loss = step(iteration, train_s / args.budget_s)
        except FloatingPointError as err:  # the library's loop names the loss that became NaN/inf
            loss, diverged = math.nan, str(err)
        train_s += time.perf_counter() - t
        iteration += 1
        if not math.isfinite(loss):  # the plain loop would go on training NaNs: stop the run here
            diverged = diverged or f"non-finite loss {loss} at iteration {iteration - 1}"
            print(f"[{side}] diverged: {diverged}", file=sys.stderr, flush=True)
            break
        losses.append(loss)
        if train_s < points_at[next_point]:
            continue
        t = time.perf_counter()
        metrics = evaluate(model, val_loader, "cpu", progress=False)
        eval_s = time.perf_counter() - t
        points.append(
            {
                "train_s": train_s,
                "iterations": iteration,
                "wall_s": time.perf_counter() - wall_start,
                "eval_s": eval_s,
                "segm_AP": metrics["segm"]["AP"],
                "segm_AP50": metrics["segm"]["AP50"],
                "bbox_AP": metrics["bbox"]["AP"],
                "bbox_AP50": metrics["bbox"]["AP50"],
                "boundary_AP": metrics["boundary"]["AP"],
                "boundary_AP50": metrics["boundary"]["AP50"],
                "clDice": metrics["skeleton"]["clDice"],
                "detections_per_image": metrics["num_detections"] / max(metrics["num_images"], 1),
                "mean_loss_since_last_point": sum(losses) / len(losses),
            }
        )
        print(
            f"[{side}] {train_s:7.1f} s train, {iteration:5d} it: segm AP {metrics['segm']['AP']:.3f}, "
            f"bbox AP {metrics['bbox']['AP']:.3f}, boundary AP {metrics['boundary']['AP']:.3f}, "
            f"clDice {metrics['skeleton']['clDice']:.3f}, eval {eval_s:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        losses = []
        while next_point < len(points_at) and train_s >= points_at[next_point]:
            next_point += 1
    last = points[-1] if points else None
    if side == "library" and args.save_model is not None:
        save_pretrained(
            model,
            args.save_model,
            metrics=None if last is None else {k: last[k] for k in AP_KEYS},
            dataset_name=f"{args.val_images} held-out images of the 'heldout' synthetic generator (seed {args.val_seed})",
            recipe=recipe(args),
        )
    return {
        "recipe": recipe(args),
        "diverged": diverged,
        "parameters": sum(p.numel() for p in model.parameters()),
        "load_average_1_5_15": {"before": load_before, "after": load_averages()},
        "iterations": iteration,
        "train_s": train_s,
        "s_per_iteration": train_s / iteration,
        "eval_s_total": sum(p["eval_s"] for p in points),
        "wall_s": time.perf_counter() - wall_start,
        "final": None if last is None else {k: last[k] for k in (*AP_KEYS, "clDice", "detections_per_image")},
        "best_segm_AP": max((p["segm_AP"] for p in points), default=None),
        "best_boundary_AP": max((p["boundary_AP"] for p in points), default=None),
        "best_bbox_AP": max((p["bbox_AP"] for p in points), default=None),
        "points": points,
    }


# -- plot -------------------------------------------------------------------------------------------------

_COLOURS = {"library": (31, 119, 180), "baseline": (214, 39, 40)}


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _ticks(upper: float) -> list[float]:
    """Round tick values from 0 to at least ``upper`` (steps of 1, 2 or 5 times a power of ten, 4-8 ticks)."""
    raw = upper / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [round(step * k, 10) for k in range(math.ceil(upper / step - 1e-9) + 1)]


def plot(report: dict[str, Any], path: Path) -> Path:
    """segm AP (solid) and bbox AP (dashed) against training seconds, one colour per run."""
    width, height, left, right, top, bottom = 900, 560, 70, 230, 50, 60
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    font, small = _font(15), _font(13)
    runs = report["runs"]
    t_max = max([p["train_s"] for r in runs.values() for p in r["points"]] + [report["budget_s"]])
    t_max = _ticks(t_max)[-1]
    ap_max = max([0.1] + [p[k] for r in runs.values() for p in r["points"] for k in ("segm_AP", "bbox_AP")])
    ap_max = min(1.0, math.ceil(ap_max * 10 + 1e-9) / 10)
    x0, x1, y0, y1 = left, width - right, height - bottom, top

    def xy(t: float, ap: float) -> tuple[float, float]:
        return x0 + (x1 - x0) * t / t_max, y0 - (y0 - y1) * max(ap, 0.0) / ap_max

    for k in range(6):
        ap = ap_max * k / 5
        y = xy(0, ap)[1]
        draw.line((x0, y, x1, y), fill=(225, 225, 225))
        draw.text((x0 - 8, y), f"{ap:.2f}", fill="black", font=small, anchor="rm")
    for t in _ticks(t_max):
        x = xy(t, 0)[0]
        draw.line((x, y0, x, y0 + 5), fill="black")
        draw.text((x, y0 + 8), f"{t:g}", fill="black", font=small, anchor="mt")
    draw.rectangle((x0, y1, x1, y0), outline="black")
    draw.text(((x0 + x1) / 2, height - 22), "training seconds (evaluation excluded)", fill="black", font=font,
              anchor="mm")  # fmt: skip
    draw.text((x0 - 55, y1 - 30), "COCO AP on held-out images", fill="black", font=font)
    threads = report["machine"]["threads"]
    title = (
        f"budget {report['budget_s']:g} s per run, {report['val_images']} held-out images, "
        f"{report['image_size']} px, {threads} thread{'s' if threads != 1 else ''}"
    )
    draw.text((x0 + 220, y1 - 28), title, fill="black", font=small)
    ly = y1 + 10
    for side, run in runs.items():
        colour = _COLOURS[side]
        for key, dashed in (("segm_AP", False), ("bbox_AP", True)):
            pts = [xy(0, 0)] + [xy(p["train_s"], p[key]) for p in run["points"]]
            for a, b in itertools.pairwise(pts):
                if dashed:
                    n = max(1, int(math.dist(a, b) // 8))
                    for i in range(0, n, 2):
                        s, e = i / n, min(1.0, (i + 1) / n)
                        draw.line((a[0] + (b[0] - a[0]) * s, a[1] + (b[1] - a[1]) * s,
                                   a[0] + (b[0] - a[0]) * e, a[1] + (b[1] - a[1]) * e), fill=colour, width=3)  # fmt: skip
                else:
                    draw.line((*a, *b), fill=colour, width=3)
            for x, y in pts[1:]:
                draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=colour)
            lx = x1 + 15
            if dashed:
                for i in range(0, 30, 10):
                    draw.line((lx + i, ly + 8, lx + i + 5, ly + 8), fill=colour, width=3)
            else:
                draw.line((lx, ly + 8, lx + 30, ly + 8), fill=colour, width=3)
            label = f"{side} {key.replace('_AP', '')} AP"
            draw.text((lx + 38, ly), label, fill="black", font=small)
            ly += 22
        what = "library recipe" if side == "library" else "seed, plain torchvision"
        lines = [what, f"{run['recipe']['backbone']}, {run['iterations']} iterations"]
        if run.get("diverged"):  # a run with no points must say why it has no line
            lines.append(f"diverged: NaN loss at it. {run['iterations'] - 1}")
        if run.get("recipe", {}).get("preset"):
            lines[0] = f"preset {run['recipe']['preset']}"
        for line in lines:
            draw.text((x1 + 15, ly), line, fill=(90, 90, 90), font=small)
            ly += 18
        ly += 14
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    img.save(tmp, format="PNG", optimize=True)
    os.replace(tmp, path)
    return path


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    start, load_start = time.perf_counter(), load_averages()
    train_set = SyntheticElongatedDataset(
        args.train_images, image_size=args.image_size, seed=args.seed, config=train_data_config(args)
    )
    val_set = SyntheticElongatedDataset(
        args.val_images, image_size=args.image_size, seed=args.val_seed, config="heldout"
    )
    val_loader = DataLoader(val_set, batch_size=2, shuffle=False, collate_fn=collate_fn)
    runs = {side: run_side(side, args, train_set, val_loader) for side in args.sides}
    report: dict[str, Any] = {
        "benchmark": "time_to_accuracy",
        "tiny": args.tiny,
        "machine": {
            "cpu": cpu_model(),
            "logical_cores": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_average_1_5_15": {"start": load_start, "end": load_averages()},
        },
        "budget_s": args.budget_s,
        "eval_at_train_s": eval_times(args),
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "train_data": {
            "images": args.train_images,
            "preset": args.train_data,
            "config": {k: v for k, v in vars(train_data_config(args)).items()},
        },
        "val_images": args.val_images,
        "val_data": {
            "preset": "heldout",
            "seed": args.val_seed,
            "config": dict(vars(SyntheticConfig.heldout())),
        },
        "evaluation": "maskrcnn_custom.evaluate (pycocotools), float32, the same loader for every run",
        "runs": runs,
        "wall_s_total": time.perf_counter() - start,
    }
    text = json.dumps(report, indent=2)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        json_path = args.out / f"{args.name}.json"
        tmp = json_path.with_name(f".{json_path.name}.tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, json_path)
        plot(report, args.out / f"{args.name}.png")
    print(text)
    return report


if __name__ == "__main__":
    main()
