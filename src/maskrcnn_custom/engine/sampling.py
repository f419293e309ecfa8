"""A resumable, distributed-aware infinite sampler: the data stream of :func:`maskrcnn_custom.fit`."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

__all__ = ["InfiniteSampler"]


class InfiniteSampler(Sampler[int]):
    """Endless stream of dataset indices, a pure function of ``(seed, start)``.

    The stream is made of passes over the dataset; pass ``p`` is a permutation drawn from a generator
    seeded with ``seed + p`` (or ``0..n-1`` without shuffling). Under distributed training each pass is
    padded to a multiple of ``world_size`` and rank ``r`` takes every ``world_size``-th index starting at
    ``r``, as ``DistributedSampler`` does. Because the order depends on nothing else, a training run can
    restart its data stream at any sample with ``start`` (what exact resume needs), and an epoch of a fixed
    number of iterations can be shorter or longer than the dataset ("cycling the loader").

    Args:
        size: Dataset length.
        shuffle: Shuffle every pass.
        seed: Base seed of the permutations.
        rank: This process's rank.
        world_size: Number of processes.
        start: Number of indices (of this rank's stream) to skip.

    Examples:
        >>> from maskrcnn_custom.engine.sampling import InfiniteSampler
        >>> it = iter(InfiniteSampler(3, shuffle=False))
        >>> [next(it) for _ in range(5)]
        [0, 1, 2, 0, 1]
    """

    def __init__(
        self,
        size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(
                f"the dataset is empty or its size is invalid ({size!r}); give fit() at least one sample"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size), got rank={rank}, world_size={world_size}")
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.size = size
        self.shuffle = shuffle
        self.seed = int(seed)
        self.rank = rank
        self.world_size = world_size
        self.start = int(start)
        self.per_rank = -(-size // world_size)

    def _pass(self, p: int) -> list[int]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + p)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        total = self.per_rank * self.world_size
        order = (order * (-(-total // self.size)))[:total]
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        p, offset = divmod(self.start, self.per_rank)
        while True:
            yield from self._pass(p)[offset:]
            p += 1
            offset = 0
