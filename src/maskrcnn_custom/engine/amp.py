"""Mixed precision: parse the ``amp`` argument, build the autocast context and the gradient scaler."""

from __future__ import annotations

import contextlib
from typing import Literal, Union

import torch

__all__ = ["AmpLike", "autocast", "cpu_has_native_bf16", "make_grad_scaler", "resolve_amp_dtype"]

#: ``False``/``None`` (off), ``True`` (float16 on CUDA, bfloat16 elsewhere), ``"auto"`` (float16 on CUDA,
#: bfloat16 on a CPU with native bfloat16 instructions, else off), or a dtype name.
AmpLike = Union[bool, None, Literal["auto", "float16", "fp16", "bfloat16", "bf16"], torch.dtype]

_NAMES = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX), as oneDNN reports it.

    Without such instructions bfloat16 autocast is emulated and slower than float32, so ``amp="auto"``
    stays in float32 there.

    Examples:
        >>> from maskrcnn_custom.engine.amp import cpu_has_native_bf16
        >>> isinstance(cpu_has_native_bf16(), bool)
        True
    """
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(probe()) if probe is not None and torch.backends.mkldnn.is_available() else False
    except RuntimeError:  # a build without oneDNN's probe
        return False


def resolve_amp_dtype(amp: AmpLike, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``, or ``None`` when mixed precision is off.

    ``True`` means float16 on CUDA (with a gradient scaler, as torchvision's reference) and bfloat16 on
    other devices (CPU autocast is bfloat16-first; float16 on CPU works but is very slow). ``"auto"`` means
    float16 on CUDA, bfloat16 on a CPU that computes it in hardware (:func:`cpu_has_native_bf16`), and
    float32 (``None``) anywhere else.

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
    if isinstance(amp, str) and amp.lower() == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None
    if isinstance(amp, torch.dtype) and amp in (torch.float16, torch.bfloat16):
        return amp
    if isinstance(amp, str) and amp.lower() in _NAMES:
        return _NAMES[amp.lower()]
    if isinstance(amp, str) and amp.lower() in ("off", "none", "no", "false", "fp32", "float32"):
        return None
    raise ValueError(f"amp must be False, True, 'auto', 'float16'/'fp16' or 'bfloat16'/'bf16', got {amp!r}")


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
