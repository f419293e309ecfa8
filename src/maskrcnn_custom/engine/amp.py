"""Mixed precision: parse the ``amp`` argument, build the autocast context and the gradient scaler."""

from __future__ import annotations

import contextlib
from typing import Literal, Union

import torch

__all__ = ["AmpLike", "autocast", "make_grad_scaler", "resolve_amp_dtype"]

#: ``False``/``None`` (off), ``True`` (float16 on CUDA, bfloat16 elsewhere), or a dtype name.
AmpLike = Union[bool, None, Literal["float16", "fp16", "bfloat16", "bf16"], torch.dtype]

_NAMES = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def resolve_amp_dtype(amp: AmpLike, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``, or ``None`` when mixed precision is off.

    ``True`` means float16 on CUDA (with a gradient scaler, as torchvision's reference) and bfloat16 on
    other devices (CPU autocast is bfloat16-first; float16 on CPU works but is very slow).

    Raises:
        ValueError: If ``amp`` is not one of the accepted values.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.engine.amp import resolve_amp_dtype
        >>> resolve_amp_dtype("bf16", torch.device("cpu"))
        torch.bfloat16
    """
    if amp is None or amp is False:
        return None
    if amp is True:
        return torch.float16 if device.type == "cuda" else torch.bfloat16
    if isinstance(amp, torch.dtype) and amp in (torch.float16, torch.bfloat16):
        return amp
    if isinstance(amp, str) and amp.lower() in _NAMES:
        return _NAMES[amp.lower()]
    if isinstance(amp, str) and amp.lower() in ("off", "none", "no", "false", "fp32", "float32"):
        return None
    raise ValueError(f"amp must be False, True, 'float16'/'fp16' or 'bfloat16'/'bf16', got {amp!r}")


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.amp.autocast`` for ``device`` with ``dtype``, or a no-op context when ``dtype`` is ``None``."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.amp.autocast(device_type=device.type, dtype=dtype)


def make_grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler | None:
    """A ``torch.amp.GradScaler`` when training in float16 (bfloat16 and float32 need none)."""
    if dtype != torch.float16:
        return None
    return torch.amp.GradScaler(device.type)
