"""Training iteration time: ``maskrcnn_custom.train_one_epoch`` vs the same loop written plainly (the seed's way).

Every variant trains its own copy of the same model (same initial weights, SGD lr 0.003, momentum 0.9,
weight decay 1e-4, the seed's recipe) on the same ``SyntheticElongatedDataset`` batches (256x256 by
default). Variants run round-robin, ``--iters`` iterations each per round, for ``--rounds`` rounds, so machine
load hits every variant alike; the figure per variant is the median seconds per iteration over its rounds,
and every ratio is against ``plain`` measured in the same run (> 1 means faster than plain).

Variants:

* ``plain``: the torchvision-reference / seed loop (``model(images, targets)``, sum of losses,
  ``zero_grad``, ``backward``, ``step``), DataLoader in the main process;
* ``train_one_epoch``: the library's loop (warm-up off, no progress bar) on the same loader;
* ``train_one_epoch_channels_last``: the model in ``torch.channels_last`` memory format;
* ``train_one_epoch_workers2``: DataLoader with 2 worker processes (data generation overlaps the step);
* ``train_one_epoch_foreach``: ``SGD(foreach=True)`` (multi-tensor update);
* ``train_one_epoch_fused``: ``SGD(fused=True)``.

    PYTHONPATH=src python benchmarks/train_iteration.py                  # resnet101 (the seed's), 256 px
    PYTHONPATH=src python benchmarks/train_iteration.py --arch resnet18  # lighter
    PYTHONPATH=src python benchmarks/train_iteration.py --quick          # smoke: resnet18, 64 px, 1 round
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from _machine import cpu_model
from torch.utils.data import DataLoader

from maskrcnn_custom import SyntheticElongatedDataset, build_model, collate_fn, make_config, train_one_epoch

VARIANTS = (
    "plain",
    "train_one_epoch",
    "train_one_epoch_channels_last",
    "train_one_epoch_workers2",
    "train_one_epoch_foreach",
    "train_one_epoch_fused",
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: resnet18, 64 px, 64 sampled RoIs, 1 round of 1 iteration",
    )
    p.add_argument("--arch", default=None, help="backbone (default resnet101; resnet18 with --quick)")
    p.add_argument("--image-size", type=int, default=None, help="image side (default 256; 64 with --quick)")
    p.add_argument("--batch-size", type=int, default=2, help="images per iteration")
    p.add_argument("--iters", type=int, default=None, help="iterations per variant per round (default 2)")
    p.add_argument("--rounds", type=int, default=None, help="round-robin rounds (default 3)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of the variants")
    args = p.parse_args(argv)
    q = args.quick
    args.arch = args.arch or ("resnet18" if q else "resnet101")
    args.image_size = args.image_size or (64 if q else 256)
    args.iters = args.iters or (1 if q else 2)
    args.rounds = args.rounds or (1 if q else 3)
    args.threads = args.threads or os.cpu_count() or 1
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown or "plain" not in args.variants:
        p.error(f"--variants must include 'plain' and come from {', '.join(VARIANTS)}; got unknown {unknown}")
    return args


def plain_steps(model, optimizer, batches: Iterator, n: int) -> None:
    """The torchvision reference / seed training loop, as written there (no warm-up, no clipping)."""
    model.train()
    for _ in range(n):
        images, targets = next(batches)
        images = list(image.to("cpu") for image in images)
        targets = [{k: v.to("cpu") if torch.is_tensor(v) else v for k, v in t.items()} for t in targets]
        loss_dict = model(images, targets)
        losses = sum(loss for loss in loss_dict.values())
        optimizer.zero_grad()
        losses.backward()
        optimizer.step()


def library_steps(model, optimizer, batches: Iterator, n: int) -> None:
    train_one_epoch(
        model, optimizer, batches, "cpu", 1, num_iters=n, warmup_iters=0, progress=False, print_freq=10**9
    )


def make_variant(
    name: str, base: torch.nn.Module, dataset, batch_size: int
) -> tuple[Callable[[int], None], Any]:
    model = copy.deepcopy(base)
    if name.endswith("channels_last"):
        model = model.to(memory_format=torch.channels_last)
    opt_kwargs: dict[str, Any] = {"lr": 0.003, "momentum": 0.9, "weight_decay": 1e-4, "foreach": False}
    if name.endswith("foreach"):
        opt_kwargs["foreach"] = True
    if name.endswith("fused"):
        opt_kwargs = {**opt_kwargs, "foreach": None, "fused": True}
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, **opt_kwargs)
    workers = 2 if name.endswith("workers2") else 0
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        collate_fn=collate_fn,
        num_workers=workers,
        persistent_workers=workers > 0,
        prefetch_factor=2 if workers else None,
    )
    batches = iter(loader)
    step = plain_steps if name == "plain" else library_steps
    return (lambda n: step(model, optimizer, batches, n)), loader


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # --quick samples 64 RoIs per image instead of the seed's 512 (the box head dominates tiny images).
    extra = {"box_batch_size_per_image": 64} if args.quick else {}
    base = build_model(
        make_config(backbone=args.arch, min_size=args.image_size, max_size=args.image_size, **extra)
    )
    n_images = args.batch_size * args.iters * (args.rounds + 1)
    dataset = SyntheticElongatedDataset(n_images, image_size=args.image_size, seed=0)
    runners = {name: make_variant(name, base, dataset, args.batch_size)[0] for name in args.variants}
    for run in runners.values():  # warm-up iteration (first-call allocations, worker start-up)
        run(1)
    per_iter: dict[str, list[float]] = {name: [] for name in runners}
    # Each variant has consumed 1 batch; every round consumes args.iters more, the dataset holds enough.
    for _ in range(args.rounds):
        for name, run in runners.items():
            t = time.perf_counter()
            run(args.iters)
            per_iter[name].append((time.perf_counter() - t) / args.iters)
    med = {k: statistics.median(v) for k, v in per_iter.items()}
    report = {
        "benchmark": "train_iteration",
        "quick": args.quick,
        "machine": {
            "cpu": cpu_model(),
            "logical_cores": os.cpu_count(),
            "threads": args.threads,
            "load_average_1_5_15": list(os.getloadavg()),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "setup": {
            "arch": args.arch,
            "image_size": args.image_size,
            "batch_size": args.batch_size,
            "iters_per_round": args.iters,
            "rounds": args.rounds,
            "optimizer": "SGD lr 0.003 momentum 0.9 weight_decay 1e-4",
            "box_batch_size_per_image": 64 if args.quick else 512,
        },
        "variants": {
            name: {
                "s_per_iter_median": med[name],
                "s_per_iter_runs": per_iter[name],
                "speedup_vs_plain": med["plain"] / med[name],
            }
            for name in per_iter
        },
    }
    if "train_one_epoch" in med:
        report["train_one_epoch_not_slower_than_plain"] = med["train_one_epoch"] <= med["plain"] * 1.02
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
