"""Training checkpoints: atomic writes, random-number-generator states, exact resume.

A checkpoint is a ``torch.save`` dict of tensors and plain Python values only, so it loads with
``torch.load(weights_only=True)``: no pickled code is ever executed when resuming.
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._utils.atomic import atomic_write
from ..recipe import TrainingRecipe

__all__ = [
    "CHECKPOINT_FORMAT",
    "RESUME_FIXED_FIELDS",
    "atomic_torch_save",
    "checkpoint_recipe",
    "get_rng_state",
    "load_checkpoint",
    "set_rng_state",
]

#: Version of the checkpoint layout written by :func:`maskrcnn_custom.fit`.
CHECKPOINT_FORMAT = 1

#: Recipe fields a resumed run must keep: the restored optimiser and StepLR states hold them.
RESUME_FIXED_FIELDS: tuple[str, ...] = (
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "lr_step_size",
    "lr_gamma",
    "lr_schedule",
)

# Settings that checkpoints of earlier releases kept in "recipe" and now keep in "run".
_RUN_KEYS = ("world_size", "shuffle", "seed", "best_metric")


def get_rng_state() -> dict[str, Any]:
    """The states of Python's, NumPy's and torch's (CPU and CUDA) global generators, weights-only safe.

    Examples:
        >>> from maskrcnn_custom.engine.checkpoint import get_rng_state, set_rng_state
        >>> import torch
        >>> state = get_rng_state(); a = torch.rand(3); set_rng_state(state)
        >>> bool((torch.rand(3) == a).all())
        True
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (the legacy global generator is what users seed)
    return {
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators from :func:`get_rng_state`'s output."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            n["kind"],
            n["keys"].numpy().astype(np.uint32),
            int(n["pos"]),
            int(n["has_gauss"]),
            float(n["cached_gaussian"]),
        )
    )
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically (:func:`maskrcnn_custom._utils.atomic.atomic_write`), synced.

    The data go to a temporary file in the same folder (created if missing), are flushed to disk, then
    ``os.replace`` moves the file onto ``path``: a crash mid-write never leaves a truncated checkpoint.

    Raises:
        OSError: If the disk is full (``ENOSPC``, or torch's ``RuntimeError ... unexpected pos`` /
            ``file write failed`` that ``torch.save`` raises then); the message names ``path`` and says the
            previous file is intact, and the temporary file is removed.

    Examples:
        >>> import tempfile, os
        >>> from maskrcnn_custom.engine.checkpoint import atomic_torch_save
        >>> p = atomic_torch_save({"epoch": 1}, os.path.join(tempfile.mkdtemp(), "ckpt.pt"))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            try:
                torch.save(obj, f)
            except RuntimeError as exc:
                if not any(sign in str(exc) for sign in _TORCH_WRITE_FAILED):
                    raise
                # torch reports a short write (a full disk) this way; make it the OSError it is
                raise OSError(
                    errno.ENOSPC, f"torch.save could not write the data ({exc}); is the disk full?"
                ) from exc
            f.flush()
            os.fsync(f.fileno())

    return atomic_write(path, write)


# What torch.save's RuntimeError says when the file cannot take the data (a full disk).
_TORCH_WRITE_FAILED = ("unexpected pos", "file write failed", "No space left")


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`maskrcnn_custom.fit` (``weights_only=True``).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not such a checkpoint.

    Examples:
        >>> from maskrcnn_custom.engine.checkpoint import load_checkpoint
        >>> ckpt = load_checkpoint("runs/exp/checkpoint_last.pt")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {str(path)!r} does not exist; pass the path of a checkpoint_*.pt file"
        )
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ValueError(f"could not read checkpoint {str(path)!r}: {exc}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT or "model" not in ckpt:
        raise ValueError(
            f"{str(path)!r} is not a maskrcnn-custom training checkpoint (format {CHECKPOINT_FORMAT}); "
            "for a plain state dict use model.load_state_dict(torch.load(path, weights_only=True))"
        )
    return ckpt


def checkpoint_recipe(ckpt: Mapping[str, Any]) -> tuple[TrainingRecipe, dict[str, Any]]:
    """The training recipe and the other run settings recorded in a checkpoint from :func:`load_checkpoint`.

    Checkpoints keep the effective :class:`~maskrcnn_custom.TrainingRecipe` under ``"recipe"`` and the
    world size, AMP dtype, shuffle flag, seed and best metric under ``"run"``; earlier checkpoints kept
    both in ``"recipe"`` (with ``amp`` as the resolved dtype), which is read too.

    Raises:
        ValueError: If the recorded recipe has unknown fields or invalid values.
        TypeError: If it is not a mapping.

    Examples:
        >>> from maskrcnn_custom.engine.checkpoint import checkpoint_recipe
        >>> recipe, run = checkpoint_recipe({"recipe": {"epochs": 2, "seed": 0}})
        >>> recipe.epochs, run
        (2, {'seed': 0})
    """
    recorded = ckpt.get("recipe")
    if not isinstance(recorded, Mapping):
        raise TypeError(f"the checkpoint's 'recipe' must be a mapping, got {type(recorded).__name__}")
    recorded = dict(recorded)
    run = {k: recorded.pop(k) for k in _RUN_KEYS if k in recorded}
    run.update(ckpt.get("run") or {})
    return TrainingRecipe.from_dict(recorded), run
