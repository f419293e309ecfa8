"""Training step time: ``maskrcnn_custom.train_one_epoch`` vs the plain torchvision loop, at equal math.

The network is the seed's (``build_model(make_config())``: ResNet-101 FPN, 256 px) unless ``--arch`` /
``--image-size`` say otherwise. Every variant trains its own copy of the same initial weights (SGD lr 0.003,
momentum 0.9, weight decay 1e-4, the seed's recipe) on the same batches of ``SyntheticElongatedDataset``
(batch 2 by default), and torch's RNG is seeded with the same value before each step, so every variant
samples the same anchors and RoIs and does the same math; only the float summation order may differ.

What it reports (JSON on stdout, and in ``--out FILE`` when given, written atomically):

* ``loss_check``: the losses of the first step (same weights, same batch, same seed, and ``plain``'s sampled
  RoIs, see ``SampledRoIs``) of every variant against ``plain``: the max abs difference of each loss term
  and ``losses_match`` within the stated tolerance; ``all_rounds_max_abs_diff_vs_plain`` also compares
  the per-round mean losses of the timed steps, where nothing is pinned (trajectories drift apart once
  a float-order difference changes a sampled RoI);
* ``flops_per_step``: FLOPs of one training step (forward + backward, counted by ``FlopCounterMode`` on
  the first step) and ``peak_matmul_gflops``: a 2048x2048 float32 ``torch.mm`` measured in the same run;
  every variant's ``fraction_of_peak_matmul`` is FLOPs / median step time / peak;
* ``variants``: seconds per step per round (variants interleaved round-robin, ``--rounds`` >= 3 timed rounds
  of ``--iters`` steps after ``--warmup-rounds`` untimed ones), the median with min and max, and the ratio
  of medians to ``plain`` from the same run (> 1: faster than plain; the goal), with the ratio of every
  round (same batches) and its median, with the load averages before and after; also the process CPU seconds per
  step (``cpu_s_per_step_*``), which time slicing on a shared machine does not inflate (with ``--threads 1``).

Variants:

* ``plain``: the torchvision reference / seed loop (``model(images, targets)``, sum of losses,
  ``zero_grad``, ``backward``, ``step``);
* ``library``: ``train_one_epoch`` with its defaults (on the CPU: ``channels_last``, the RoIAlign and mask
  up-sampling speed-ups of ``maskrcnn_custom.engine.speed``);
* ``library_no_speedups``: ``train_one_epoch(cpu_speedups=False)``, the library's loop without them.

    PYTHONPATH=src python benchmarks/train_iteration.py --out benchmarks/results/train_iteration_cpu.json
    PYTHONPATH=src python benchmarks/train_iteration.py --arch resnet50 --threads 1   # lighter
    PYTHONPATH=src python benchmarks/train_iteration.py --quick                       # smoke: seconds
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import cpu_model, load_averages, model_flops, peak_matmul_flops
from torch.utils.data import DataLoader

from maskrcnn_custom import SyntheticElongatedDataset, build_model, collate_fn, make_config, train_one_epoch
from maskrcnn_custom._utils.atomic import atomic_write_text

VARIANTS = ("plain", "library", "library_no_speedups")
LOSS_TOLERANCE = 1e-4  # max abs difference of any loss term (the losses are O(0.01 - 1))
SEED = 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: resnet18, 64 px, 64 sampled RoIs, 3 rounds of 1 step, no warm-up",
    )
    p.add_argument(
        "--arch", default=None, help="backbone (default resnet101, the seed's; resnet18 with --quick)"
    )
    p.add_argument("--image-size", type=int, default=None, help="image side (default 256; 64 with --quick)")
    p.add_argument("--batch-size", type=int, default=2, help="images per step")
    p.add_argument(
        "--iters", type=int, default=None, help="steps per variant per round (default 2; 1 --quick)"
    )
    p.add_argument(
        "--rounds", type=int, default=None, help="timed interleaved rounds, >= 3 (default 5; 3 with --quick)"
    )
    p.add_argument(
        "--warmup-rounds",
        type=int,
        default=None,
        help="untimed interleaved rounds first: oneDNN primitives, allocator, optimiser state (default 1; 0 --quick)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset, with plain")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON report to this file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    args = p.parse_args(argv)
    q = args.quick
    args.arch = args.arch or ("resnet18" if q else "resnet101")
    args.image_size = args.image_size or (64 if q else 256)
    args.iters = args.iters or (1 if q else 2)
    args.rounds = (3 if q else 5) if args.rounds is None else args.rounds
    args.warmup_rounds = (0 if q else 1) if args.warmup_rounds is None else args.warmup_rounds
    args.threads = args.threads or os.cpu_count() or 1
    for name in ("batch_size", "iters", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.warmup_rounds < 0:
        p.error(f"--warmup-rounds must be >= 0, got {args.warmup_rounds}")
    if args.rounds < 3:
        p.error(f"--rounds must be >= 3 (median with min-max over interleaved rounds), got {args.rounds}")
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown or "plain" not in args.variants:
        p.error(f"--variants must include 'plain' and come from {', '.join(VARIANTS)}; got unknown {unknown}")
    if args.out is not None and not args.overwrite and os.path.lexists(args.out):
        p.error(f"FileExistsError: --out {str(args.out)!r} exists; pass --overwrite to replace it")
    return args


def seeded(batches: Iterable[Any], first_step: int) -> Iterator[Any]:
    """Yield ``batches``, seeding torch with ``SEED + step`` just before each (the RoI sampler is random)."""
    for step, batch in enumerate(batches, start=first_step):
        torch.manual_seed(SEED + step)
        yield batch


def plain_steps(model, optimizer, batches: Iterable[Any]) -> dict[str, float]:
    """The torchvision reference / seed training loop, as written there; returns the mean losses."""
    model.train()
    sums: dict[str, float] = {}
    count = 0
    for images, targets in batches:
        images = list(image.to("cpu") for image in images)
        targets = [{k: v.to("cpu") if torch.is_tensor(v) else v for k, v in t.items()} for t in targets]
        loss_dict = model(images, targets)
        losses = sum(loss for loss in loss_dict.values())
        values = {k: v.item() for k, v in loss_dict.items()}
        values["loss"] = losses.item()
        optimizer.zero_grad()
        losses.backward()
        optimizer.step()
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v
        count += 1
    return {k: v / count for k, v in sums.items()}


def make_variant(
    name: str, base: torch.nn.Module
) -> tuple[Callable[[list, int], dict[str, float]], torch.nn.Module]:
    """``(run, model)``: ``run(batches, first_step)`` trains this variant's model copy; returns mean losses."""
    model = copy.deepcopy(base)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.003, momentum=0.9, weight_decay=1e-4)
    if name == "plain":
        return (lambda batches, first: plain_steps(model, optimizer, seeded(batches, first))), model
    opts = {"cpu_speedups": False} if name == "library_no_speedups" else {}

    def run(batches: list, first: int) -> dict[str, float]:
        stats = train_one_epoch(
            model,
            optimizer,
            seeded(batches, first),
            "cpu",
            1,  # epoch > 0: no warm-up, as the plain loop
            num_iters=len(batches),
            progress=False,
            print_freq=10**9,
            **opts,
        )
        return {k: v for k, v in stats.items() if k.startswith("loss")}

    return run, model


class SampledRoIs:
    """Pin the first step's sampled RoIs: ``plain`` records them, every other variant replays them.

    Proposals come from the RPN's float outputs, so a float-order change (``channels_last``) can move one
    proposal across an IoU threshold or the top-k cut, and the sampler then draws other RoIs: a discrete
    change, not a float error. For the loss check every variant therefore trains its first step on
    ``plain``'s sampled RoIs (each still runs its own sampler, so RNG use is unchanged) and the report says
    whether its own sample was the same.
    """

    def __init__(self) -> None:
        self.recorded: tuple | None = None
        self.same: dict[str, bool] = {}

    def attach(self, name: str, model: torch.nn.Module) -> Callable[[], None]:
        heads = model.roi_heads
        original = heads.select_training_samples

        def select(proposals, targets):
            mine = original(proposals, targets)
            if self.recorded is None:
                self.recorded = _cloned(mine)
                return mine
            self.same[name] = _equal(mine, self.recorded)
            return _cloned(self.recorded)

        heads.select_training_samples = select
        return lambda: delattr(heads, "select_training_samples")


def _cloned(value):
    if isinstance(value, torch.Tensor):
        return value.clone()
    return type(value)(_cloned(v) for v in value)


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return a.shape == b.shape and bool(torch.allclose(a, b, rtol=0, atol=1e-3))
    return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))


def loss_diffs(losses: dict[str, float], reference: dict[str, float]) -> dict[str, float]:
    return {k: abs(losses[k] - reference[k]) for k in sorted(reference)}


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = load_averages()
    peak = peak_matmul_flops()
    torch.manual_seed(SEED)
    # --quick samples 64 RoIs per image instead of the seed's 512 (the box head dominates tiny images).
    extra = {"box_batch_size_per_image": 64} if args.quick else {}
    config = make_config(backbone=args.arch, min_size=args.image_size, max_size=args.image_size, **extra)
    base = build_model(config)
    n_images = args.batch_size * (1 + args.iters * (args.warmup_rounds + args.rounds))
    dataset = SyntheticElongatedDataset(n_images, image_size=args.image_size, seed=SEED)
    batches = list(DataLoader(dataset, batch_size=args.batch_size, shuffle=False, collate_fn=collate_fn))
    made = {name: make_variant(name, base) for name in args.variants}
    runners = {name: run for name, (run, _) in made.items()}

    # Step 0: same weights, batch, seed and sampled RoIs for every variant: the loss check and FLOP count.
    first: dict[str, dict[str, float]] = {}
    flops: dict[str, float] = {}
    pinned = SampledRoIs()
    for name, (run, model) in made.items():
        detach = pinned.attach(name, model)
        flops[name] = model_flops(lambda name=name, run=run: first.__setitem__(name, run(batches[:1], 0)))
        detach()
    per_step: dict[str, list[float]] = {name: [] for name in runners}
    cpu_per_step: dict[str, list[float]] = {name: [] for name in runners}
    round_losses: dict[str, list[dict[str, float]]] = {name: [] for name in runners}
    for r in range(args.warmup_rounds + args.rounds):
        start = 1 + r * args.iters
        chunk = batches[start : start + args.iters]
        timed = r >= args.warmup_rounds
        for name, run in runners.items():
            t, c = time.perf_counter(), time.process_time()
            losses = run(chunk, start)
            if timed:
                round_losses[name].append(losses)
                per_step[name].append((time.perf_counter() - t) / args.iters)
                cpu_per_step[name].append((time.process_time() - c) / args.iters)
    load_after = load_averages()

    first_diffs = {name: loss_diffs(first[name], first["plain"]) for name in runners if name != "plain"}
    round_diffs = {
        name: [
            loss_diffs(mine, ref) for mine, ref in zip(round_losses[name], round_losses["plain"], strict=True)
        ]
        for name in runners
        if name != "plain"
    }
    all_rounds_max = {name: max(max(d.values()) for d in diffs) for name, diffs in round_diffs.items()}
    losses_match = all(max(d.values()) <= LOSS_TOLERANCE for d in first_diffs.values())
    med = {k: statistics.median(v) for k, v in per_step.items()}
    variants = {
        name: {
            "s_per_step_median": med[name],
            "s_per_step_min": min(runs),
            "s_per_step_max": max(runs),
            "s_per_step_runs": runs,
            "speedup_vs_plain": med["plain"] / med[name],
            # the same round's batches for both: the ratio per round, and its median
            "speedup_vs_plain_per_round": [p / m for p, m in zip(per_step["plain"], runs, strict=True)],
            "speedup_vs_plain_per_round_median": statistics.median(
                p / m for p, m in zip(per_step["plain"], runs, strict=True)
            ),
            "flops_per_step": flops[name],
            "fraction_of_peak_matmul": flops[name] / med[name] / peak,
            # process CPU seconds: with --threads 1 on a shared machine, immune to time slicing
            "cpu_s_per_step_median": statistics.median(cpu_per_step[name]),
            "cpu_s_per_step_runs": cpu_per_step[name],
            "speedup_vs_plain_cpu_time": statistics.median(cpu_per_step["plain"])
            / statistics.median(cpu_per_step[name]),
        }
        for name, runs in per_step.items()
    }
    report = {
        "benchmark": "train_iteration",
        "quick": args.quick,
        "machine": {
            "cpu": cpu_model(),
            "logical_cores": os.cpu_count(),
            "threads": args.threads,
            "load_average_1_5_15": {"before": load_before, "after": load_after},
            "peak_matmul_gflops": peak / 1e9,
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "setup": {
            "arch": args.arch,
            "image_size": args.image_size,
            "batch_size": args.batch_size,
            "iters_per_round": args.iters,
            "rounds": args.rounds,
            "warmup_rounds": args.warmup_rounds,
            "optimizer": "SGD lr 0.003 momentum 0.9 weight_decay 1e-4",
            "box_batch_size_per_image": config.detector_kwargs.get("box_batch_size_per_image", 512),
            "rng": f"torch.manual_seed({SEED} + step) before every step of every variant",
            "flops": "torch.utils.flop_counter.FlopCounterMode over the first step (forward + backward)",
        },
        "loss_check": {
            "tolerance_abs": LOSS_TOLERANCE,
            "losses_match": losses_match,
            "first_step_losses": first,
            "first_step_max_abs_diff_vs_plain": first_diffs,
            "first_step_rois": "every variant trains its first step on plain's sampled RoIs",
            "first_step_own_sampled_rois_same_as_plain": pinned.same,
            "all_rounds_max_abs_diff_vs_plain": all_rounds_max,
        },
        "losses_match": losses_match,
        "variants": variants,
    }
    if "library" in med:
        report["library_speedup_vs_plain"] = variants["library"]["speedup_vs_plain"]
        report["goal_1_5x_met"] = variants["library"]["speedup_vs_plain"] >= 1.5
    text = json.dumps(report, indent=2)
    if args.out is not None:
        atomic_write_text(args.out, text + "\n")
    print(text)
    return report


if __name__ == "__main__":
    main()
