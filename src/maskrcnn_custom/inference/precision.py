"""Reduced-precision inference: the network's convolutions and linear layers in bfloat16, the geometry in float32.

``predict(..., precision="bfloat16")`` runs these parts of a torchvision Mask R-CNN under
``torch.autocast(dtype=torch.bfloat16)``: the backbone with its FPN, the RPN head, the box head and box
predictor, and the mask head and mask predictor. Each part's outputs are cast back to float32 as they leave
it, so everything between and after them stays float32:

* anchor generation and box decoding (torchvision's ``BoxCoder.decode`` computes in the dtype of the
  regression output, and bfloat16's 8-bit mantissa would round a box corner at 200 px to 1 px steps),
* NMS and the score threshold,
* RoIAlign (``MultiScaleRoIAlign`` reads float32 feature maps),
* the mask sigmoid and pasting the 28x28 masks into the image.

The model's weights are not changed: autocast casts them per call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torchvision.models.detection.mask_rcnn import MaskRCNN

__all__ = ["PRECISIONS", "check_precision", "reduced_precision"]

#: Values of ``predict``'s ``precision`` parameter.
PRECISIONS = ("float32", "bfloat16")
_DEVICE_TYPES = ("cpu", "cuda")


def check_precision(precision: Any, *, name: str = "precision") -> str:
    """Return ``precision`` if it is one of :data:`PRECISIONS`, else raise ``ValueError`` naming ``name``.

    Args:
        precision: ``"float32"`` or ``"bfloat16"``.
        name: Name of the parameter, for the error message.

    Returns:
        The precision.

    Raises:
        ValueError: For any other value.

    Examples:
        >>> from maskrcnn_custom.inference.precision import check_precision
        >>> check_precision("bfloat16")
        'bfloat16'
    """
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"{name} must be one of {PRECISIONS}, got {precision!r}; 'float32' is the default")
    return precision


def _to_float32(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, dict):
        return type(value)((k, _to_float32(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_to_float32(v) for v in value)
    return value


def _autocast_forward(module: nn.Module, device_type: str) -> Any:
    forward = module.forward

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            out = forward(*args, **kwargs)
        return _to_float32(out)

    return wrapped


def _network_parts(model: MaskRCNN) -> list[nn.Module]:
    heads = model.roi_heads
    return [
        model.backbone,
        model.rpn.head,
        heads.box_head,
        heads.box_predictor,
        heads.mask_head,
        heads.mask_predictor,
    ]


@contextlib.contextmanager
def reduced_precision(model: MaskRCNN, precision: str, device_type: str) -> Iterator[MaskRCNN]:
    """Run ``model``'s network parts in ``precision`` inside a ``with`` block (a no-op for ``"float32"``).

    Args:
        model: The Mask R-CNN.
        precision: One of :data:`PRECISIONS`.
        device_type: ``"cpu"`` or ``"cuda"``, where the model runs.

    Yields:
        The model; its forward methods are restored on exit, also after an exception.

    Raises:
        ValueError: For an unknown precision, or bfloat16 on a device type other than CPU or CUDA.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> from maskrcnn_custom.inference.precision import reduced_precision
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None).eval()
        >>> with reduced_precision(model, "bfloat16", "cpu"), torch.no_grad():
        ...     out = model([torch.rand(3, 64, 64)])
        >>> out[0]["boxes"].dtype
        torch.float32
    """
    check_precision(precision)
    if precision == "float32":
        yield model
        return
    if device_type not in _DEVICE_TYPES:
        raise ValueError(f"precision={precision!r} runs on {_DEVICE_TYPES} devices, not {device_type!r}")
    parts = _network_parts(model)
    patched: list[tuple[nn.Module, Any]] = []
    try:
        for part in parts:
            own = part.__dict__.get("forward")  # an instance-level forward someone set, kept as it was
            part.forward = _autocast_forward(part, device_type)  # type: ignore[method-assign]
            patched.append((part, own))
        yield model
    finally:
        for part, own in patched:
            if own is None:
                del part.forward
            else:
                part.forward = own  # type: ignore[method-assign]
