"""Batching of detection samples for a ``DataLoader``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["collate_fn"]


def collate_fn(
    batch: Sequence[tuple[torch.Tensor, dict[str, Any]]],
) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """Turn a list of ``(image, target)`` samples into ``(images, targets)`` lists.

    Detection images and targets differ in size from sample to sample, so they are not stacked:
    torchvision's Mask R-CNN takes a list of images and a list of target dicts, which is what this returns.

    Args:
        batch: The samples, as a dataset's ``__getitem__`` returns them.

    Returns:
        ``(images, targets)``: two lists of the batch's length.

    Raises:
        TypeError: If a sample is not an ``(image, target)`` pair.

    Examples:
        >>> from torch.utils.data import DataLoader
        >>> from maskrcnn_custom.data import SyntheticElongatedDataset, collate_fn
        >>> loader = DataLoader(SyntheticElongatedDataset(4, image_size=64), batch_size=2, collate_fn=collate_fn)
        >>> images, targets = next(iter(loader))
        >>> len(images), sorted(targets[0])
        (2, ['area', 'boxes', 'image_id', 'iscrowd', 'labels', 'masks'])
    """
    images: list[torch.Tensor] = []
    targets: list[dict[str, Any]] = []
    for i, sample in enumerate(batch):
        if not isinstance(sample, (tuple, list)) or len(sample) != 2:
            raise TypeError(
                f"collate_fn expects (image, target) pairs from the dataset, but sample {i} of the batch is "
                f"{type(sample).__name__}"
            )
        images.append(sample[0])
        targets.append(sample[1])
    return images, targets
