"""Tight boxes of instance masks, in the library's box convention.

Boxes are ``XYXY`` in pixel-edge coordinates: ``x1`` = first column of the mask, ``y1`` = first row,
``x2`` = last column + 1, ``y2`` = last row + 1. ``x2 - x1`` is the mask's width in pixels, a one-pixel
mask at column 5, row 7 has the box ``(5, 7, 6, 8)``, and the COCO ``bbox`` ``[x, y, w, h]`` of the same
instance is ``[x1, y1, x2 - x1, y2 - y1]``.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

__all__ = ["masks_to_tight_boxes"]

_Array = TypeVar("_Array", np.ndarray, torch.Tensor)


def masks_to_tight_boxes(masks: _Array) -> _Array:
    """Tight ``XYXY`` boxes of binary masks, ``x2``/``y2`` exclusive (last index + 1).

    Args:
        masks: ``(N, H, W)`` numpy array or tensor, non-zero inside. An empty mask gives ``(0, 0, 0, 0)``.

    Returns:
        ``(N, 4)`` float32 boxes, of the same kind (numpy or torch, same device) as ``masks``.

    Raises:
        ValueError: If ``masks`` is not three-dimensional.

    Examples:
        >>> import numpy as np
        >>> m = np.zeros((1, 10, 10), np.uint8); m[0, 7, 5] = 1
        >>> masks_to_tight_boxes(m).tolist()
        [[5.0, 7.0, 6.0, 8.0]]
    """
    if isinstance(masks, torch.Tensor):
        if masks.ndim != 3:
            raise ValueError(f"masks must have shape (N, H, W), got {tuple(masks.shape)}")
        n, h, w = masks.shape
        boxes = torch.zeros((n, 4), dtype=torch.float32, device=masks.device)
        if n == 0 or h == 0 or w == 0:
            return boxes
        m = masks != 0
        rows = m.any(dim=2).to(torch.uint8)
        cols = m.any(dim=1).to(torch.uint8)
        has = rows.any(dim=1).bool()
        boxes[:, 0] = cols.argmax(dim=1).float()
        boxes[:, 1] = rows.argmax(dim=1).float()
        boxes[:, 2] = (w - cols.flip(1).argmax(dim=1)).float()
        boxes[:, 3] = (h - rows.flip(1).argmax(dim=1)).float()
        boxes[~has] = 0
        return boxes
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must have shape (N, H, W), got {masks.shape}")
    n, h, w = masks.shape
    out = np.zeros((n, 4), np.float32)
    if n == 0 or h == 0 or w == 0:
        return out
    rows = masks.any(axis=2)
    cols = masks.any(axis=1)
    has = rows.any(axis=1)
    out[:, 0] = cols.argmax(axis=1)
    out[:, 1] = rows.argmax(axis=1)
    out[:, 2] = w - cols[:, ::-1].argmax(axis=1)
    out[:, 3] = h - rows[:, ::-1].argmax(axis=1)
    out[~has] = 0
    return out
