"""What the benchmarks that score a saved model on the held-out images share: arguments, loading, AP rows."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from _machine import check_out_free
from torch import nn
from torch.utils.data import DataLoader

from maskrcnn_custom import SyntheticElongatedDataset, collate_fn, evaluate, from_pretrained


def add_heldout_args(p: argparse.ArgumentParser) -> None:
    """``--model``, the held-out set (``--image-size``, ``--val-images``, ``--val-seed``), ``--threads``, ``--out``."""
    p.add_argument("--model", type=Path, required=True, help="a save_pretrained folder")
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--val-images", type=int, default=50, help="held-out images (default 50, seed 1000)")
    p.add_argument("--val-seed", type=int, default=1000)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def check_heldout_args(args: argparse.Namespace) -> None:
    """Refuse an existing ``--out`` (without ``--overwrite``) and a ``--model`` that is not a folder, then set threads."""
    check_out_free(args.out, args.overwrite)
    if not args.model.is_dir():
        raise FileNotFoundError(f"--model {args.model} is not a save_pretrained folder")
    if args.threads:
        torch.set_num_threads(args.threads)


def load_heldout(args: argparse.Namespace) -> tuple[nn.Module, SyntheticElongatedDataset, DataLoader]:
    """The saved model (eval mode), the held-out dataset of the ``heldout`` generator and its loader."""
    model = from_pretrained(args.model).eval()
    val = SyntheticElongatedDataset(
        args.val_images, image_size=args.image_size, seed=args.val_seed, config="heldout"
    )
    return model, val, DataLoader(val, batch_size=4, collate_fn=collate_fn)


def heldout_description(args: argparse.Namespace) -> str:
    """How the held-out set was made, for the report."""
    return (
        f"SyntheticElongatedDataset({args.val_images}, image_size={args.image_size}, "
        f"seed={args.val_seed}, config='heldout')"
    )


def ap_row(model: nn.Module, loader: DataLoader) -> dict[str, Any]:
    """segm and bbox AP, AP50, AP75 of ``model`` on ``loader`` (``maskrcnn_custom.evaluate``) and the seconds taken."""
    t = time.perf_counter()
    metrics = evaluate(model, loader, "cpu", progress=False, thin_metrics=False)
    return {
        **{f"segm_{k}": metrics["segm"][k] for k in ("AP", "AP50", "AP75")},
        **{f"bbox_{k}": metrics["bbox"][k] for k in ("AP", "AP50", "AP75")},
        "eval_s": round(time.perf_counter() - t, 1),
    }
