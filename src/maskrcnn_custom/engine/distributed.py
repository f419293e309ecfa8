"""Helpers for ``torchrun`` / DistributedDataParallel training (gloo on CPU, nccl on CUDA).

All helpers degrade gracefully to the single-process case, so the same training code runs with and without
``torchrun``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DistributedInfo",
    "all_gather_objects",
    "barrier",
    "broadcast_buffers",
    "broadcast_object",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_distributed",
    "is_main_process",
    "reduce_mean",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedInfo:
    """Where this process sits in the job.

    Attributes:
        rank: Global rank (0 in a single process).
        world_size: Number of processes (1 in a single process).
        local_rank: Rank on this machine (selects the CUDA device).
        device: The device this process trains on.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device


def is_distributed() -> bool:
    """Whether a process group is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """Global rank of this process (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """Whether this is rank 0, the only process that writes files."""
    return get_rank() == 0


def barrier() -> None:
    """Wait for every process (no-op without a process group)."""
    if is_distributed():
        dist.barrier()


def init_distributed(
    device: str | torch.device | None = None, *, backend: str | None = None
) -> DistributedInfo:
    """Initialise the process group from the ``torchrun`` environment, if there is one.

    Reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (set by ``torchrun``). Without them nothing is
    initialised and a single-process :class:`DistributedInfo` is returned. The backend defaults to ``nccl``
    on CUDA and ``gloo`` otherwise; on CUDA each process uses ``cuda:LOCAL_RANK``.

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``None`` (CUDA when available).
        backend: Process-group backend; ``None`` chooses as above.

    Returns:
        Rank, world size, local rank and the device to use.

    Examples:
        >>> from maskrcnn_custom.engine.distributed import init_distributed
        >>> info = init_distributed("cpu")  # outside torchrun: rank 0 of 1
        >>> info.world_size
        1
    """
    dev = (
        torch.device(device)
        if device is not None
        else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    )
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but CUDA is not available; pass device='cpu'")
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        return DistributedInfo(rank=get_rank(), world_size=get_world_size(), local_rank=0, device=dev)
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        logger.info("initialised process group: backend=%s rank=%d world_size=%d", backend, rank, world_size)
    return DistributedInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def reduce_mean(
    values: dict[str, float | torch.Tensor], *, device: torch.device | None = None
) -> dict[str, float]:
    """Average a dict of scalars over all processes (identity in a single process).

    Every process must call it with the same keys.

    Examples:
        >>> from maskrcnn_custom.engine.distributed import reduce_mean
        >>> reduce_mean({"loss": 1.5})
        {'loss': 1.5}
    """
    keys = sorted(values)
    if not is_distributed():
        return {k: float(values[k]) for k in keys}
    if device is None:
        device = (
            torch.device("cuda", torch.cuda.current_device())
            if dist.get_backend() == "nccl"
            else torch.device("cpu")
        )
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return dict(zip(keys, t.tolist(), strict=False))


def broadcast_buffers(module: torch.nn.Module, *, src: int = 0) -> None:
    """Copy every buffer (e.g. BatchNorm running statistics) of ``module`` from rank ``src`` to all processes.

    DistributedDataParallel keeps parameters in sync, but buffers updated in the last forward pass of an
    epoch differ between processes; syncing them makes evaluation and checkpoints identical on every rank.
    """
    if not is_distributed():
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=src)


def all_gather_objects(obj: Any) -> list[Any]:
    """Gather one picklable object from every process, in rank order (``[obj]`` in a single process)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, *, src: int = 0) -> Any:
    """Send ``obj`` from rank ``src`` to every process and return it (identity in a single process)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
