"""Dataset options shared by the ``train`` and ``evaluate`` commands (COCO folder or synthetic generator)."""

from __future__ import annotations

import argparse
from typing import Any

from ..data.synthetic import SYNTHETIC_PRESETS

__all__ = ["add_dataset_arguments", "open_dataset"]


def add_dataset_arguments(
    parser: argparse.ArgumentParser, *, what: str, prefix: str = "", required: bool = True
) -> None:
    """Add ``--{prefix}coco DIR`` / ``--{prefix}synthetic N`` (mutually exclusive), described as ``what`` data."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(
        f"--{prefix}coco",
        metavar="DIR",
        help=f"{what} data: COCO-format folder with images/ and annotations.json (as `maskrcnn-custom synth` writes)",
    )
    group.add_argument(
        f"--{prefix}synthetic",
        type=int,
        metavar="N",
        help=f"{what} data: N images from the library's synthetic generator of elongated objects",
    )
    parser.add_argument(
        f"--{prefix}synthetic-preset",
        choices=SYNTHETIC_PRESETS,
        default="default",
        help=f"generator configuration of --{prefix}synthetic: default, or heldout (another generator: longer, "
        "thinner, more bent objects, other backgrounds and contrast) to measure generalisation",
    )


def open_dataset(
    *,
    coco: str | None,
    synthetic: int | None,
    seed: int,
    image_size: int,
    transforms: Any = None,
    synthetic_preset: str = "default",
) -> Any:
    """Open a COCO folder or create a synthetic dataset (image ``i`` depends only on ``(seed, i)``)."""
    from ..data import CocoDataset, SyntheticElongatedDataset

    if coco is not None:
        return CocoDataset.from_dir(coco, transforms=transforms)
    if synthetic is None or synthetic < 1:
        raise ValueError(f"--synthetic must be a number of images >= 1, got {synthetic!r}")
    return SyntheticElongatedDataset(
        synthetic, image_size=image_size, seed=seed, config=synthetic_preset, transforms=transforms
    )
