"""Train and validation ``DataLoader`` objects for detection datasets, single-process or distributed."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch.utils.data import (
    DataLoader,
    Dataset,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
)

from .._utils.checks import check_non_negative_int, check_positive_int
from .collate import collate_fn

__all__ = ["DataLoaders", "build_dataloaders"]


class DataLoaders(NamedTuple):
    """What :func:`build_dataloaders` returns.

    Attributes:
        train: The training loader (shuffled).
        val: The validation loader (in order), or None without a validation dataset.
        train_sampler: The training sampler; with a ``DistributedSampler`` call
            ``train_sampler.set_epoch(epoch)`` at the start of every epoch so each epoch is shuffled anew.
    """

    train: DataLoader
    val: DataLoader | None
    train_sampler: Sampler


def build_dataloaders(
    train_dataset: Dataset,
    val_dataset: Dataset | None = None,
    *,
    batch_size: int = 2,
    val_batch_size: int | None = None,
    num_workers: int = 0,
    shuffle: bool = True,
    drop_last: bool = False,
    seed: int = 0,
    distributed: bool | None = None,
    pin_memory: bool = False,
) -> DataLoaders:
    """Build the training and validation loaders with the detection :func:`collate_fn`.

    Args:
        train_dataset: Map-style dataset of ``(image, target)`` samples.
        val_dataset: Optional validation dataset.
        batch_size: Training images per batch (per process when distributed).
        val_batch_size: Validation images per batch; ``batch_size`` if None.
        num_workers: Loader worker processes (0 loads in the main process).
        shuffle: Shuffle the training set (reproducibly, from ``seed``).
        drop_last: Drop the last incomplete training batch.
        seed: Seed of the training shuffle.
        distributed: Use a ``DistributedSampler`` (each process gets its share of the data). None chooses
            it when ``torch.distributed`` is initialised; True requires it to be initialised.
        pin_memory: Pin batches in page-locked memory (faster copies to a GPU).

    Returns:
        A :class:`DataLoaders` ``(train, val, train_sampler)``.

    Raises:
        ValueError: If a size is invalid, a dataset is empty, or ``distributed=True`` without an
            initialised process group.
        TypeError: If a dataset has no length (is not map-style).

    Examples:
        >>> from maskrcnn_custom.data import SyntheticElongatedDataset, build_dataloaders
        >>> loaders = build_dataloaders(
        ...     SyntheticElongatedDataset(64, image_size=128, seed=0),
        ...     SyntheticElongatedDataset(16, image_size=128, seed=1),
        ...     batch_size=4,
        ... )
        >>> images, targets = next(iter(loaders.train))
        >>> len(images)
        4
    """
    check_positive_int(batch_size, "batch_size")
    if val_batch_size is not None:
        check_positive_int(val_batch_size, "val_batch_size")
    check_non_negative_int(num_workers, "num_workers")
    check_non_negative_int(seed, "seed")
    for name, ds in (("train_dataset", train_dataset), ("val_dataset", val_dataset)):
        if ds is None:
            continue
        if not hasattr(ds, "__len__") or not hasattr(ds, "__getitem__"):
            raise TypeError(
                f"{name} must be a map-style dataset with __len__ and __getitem__, got {type(ds).__name__}"
            )
        if len(ds) == 0:  # type: ignore[arg-type]
            raise ValueError(f"{name} is empty; give it at least one image")
    dist_ready = torch.distributed.is_available() and torch.distributed.is_initialized()
    if distributed is None:
        distributed = dist_ready
    elif distributed and not dist_ready:
        raise ValueError(
            "distributed=True needs an initialised torch.distributed process group; call "
            "torch.distributed.init_process_group(...) first (e.g. under torchrun), or pass distributed=False"
        )

    train_sampler: Sampler
    if distributed:
        train_sampler = DistributedSampler(train_dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    elif shuffle:
        train_sampler = RandomSampler(train_dataset, generator=torch.Generator().manual_seed(seed))
    else:
        train_sampler = SequentialSampler(train_dataset)
    common: dict[str, Any] = {
        "num_workers": num_workers,
        "collate_fn": collate_fn,
        "pin_memory": pin_memory,
        "persistent_workers": num_workers > 0,
    }
    train = DataLoader(
        train_dataset, batch_size=batch_size, sampler=train_sampler, drop_last=drop_last, **common
    )
    val = None
    if val_dataset is not None:
        val_sampler: Sampler = (
            DistributedSampler(val_dataset, shuffle=False) if distributed else SequentialSampler(val_dataset)
        )
        val = DataLoader(val_dataset, batch_size=val_batch_size or batch_size, sampler=val_sampler, **common)
    return DataLoaders(train, val, train_sampler)
