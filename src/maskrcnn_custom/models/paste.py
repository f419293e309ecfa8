"""Pasting box-relative mask probabilities back into the image, at sub-pixel precision.

torchvision's ``paste_masks_in_image`` rounds every box to whole pixels and resizes the mask into that
integer window, while its training targets (``roi_align(..., aligned=False)`` in ``maskrcnn_loss``) sample the
ground truth half a pixel off the box. For objects a few pixels wide both errors are a large part of the
object: pasting the ground truth masks of the held-out thin objects themselves, cut at 56 px the way the loss
cuts its targets, gives a segm AP of only 0.605 with torchvision's paste (0.573 at 28 px; a finer mask does
not help) and 0.996 with :func:`paste_masks_exact` (docs/model.md, "Mask pasting").

:func:`paste_masks_exact` samples each mask at the image's pixel centres from the box's float coordinates,
shifted by the half pixel of the training targets, with bilinear interpolation (``grid_sample``), and only
on the pixels the box covers. :class:`ExactPasteTransform` is torchvision's ``GeneralizedRCNNTransform`` with that paste;
``mask_paste="exact"`` in a builder installs it. Training is unchanged: only inference output differs, so it
also suits weights trained with torchvision's paste.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes, resize_keypoints

from .foreground import FOREGROUND_KEY, gate_masks

__all__ = ["TARGET_OFFSET", "ExactPasteTransform", "paste_masks_exact"]

#: Pixels by which torchvision's mask targets (``roi_align`` with ``aligned=False``) sample the ground truth
#: off the box, towards larger coordinates: the mask a model learns covers ``box + 0.5``.
TARGET_OFFSET = 0.5


def _grid(x0: Tensor, y0: Tensor, x1: Tensor, y1: Tensor, xs: Tensor, ys: Tensor) -> Tensor:
    """Sampling grid (N, len(ys), len(xs), 2) of pixel centres ``xs``/``ys`` in box-relative [-1, 1] units."""
    gx = (xs[None, :] - x0[:, None]) / (x1 - x0).clamp(min=1e-6)[:, None] * 2 - 1
    gy = (ys[None, :] - y0[:, None]) / (y1 - y0).clamp(min=1e-6)[:, None] * 2 - 1
    n, h, w = gx.shape[0], gy.shape[1], gx.shape[1]
    return torch.stack([gx[:, None, :].expand(n, h, w), gy[:, :, None].expand(n, h, w)], dim=3)


def _paste_full(
    probs: Tensor,
    span: tuple[Tensor, Tensor, Tensor, Tensor],
    window: tuple[Tensor, Tensor, Tensor, Tensor],
    image_size: Any,
) -> Tensor:
    """One ``grid_sample`` of every mask over the whole image (the traceable path; memory ``N x H x W``)."""
    h, w = image_size
    xs = torch.arange(w, dtype=torch.float32, device=probs.device) + 0.5
    ys = torch.arange(h, dtype=torch.float32, device=probs.device) + 0.5
    wx0, wy0, wx1, wy1 = window
    # the pixels whose square meets the window, as the eager path's
    cols = (xs[None, :] >= wx0.floor()[:, None]) & (xs[None, :] < wx1.ceil()[:, None]) & (wx1 > wx0)[:, None]
    rows = (ys[None, :] >= wy0.floor()[:, None]) & (ys[None, :] < wy1.ceil()[:, None]) & (wy1 > wy0)[:, None]
    grid = _grid(*span, xs, ys)
    out = F.grid_sample(probs, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out * (rows[:, None, :, None] & cols[:, None, None, :]).to(out.dtype)


def paste_masks_exact(
    masks: Tensor,
    boxes: Tensor,
    image_size: tuple[int, int],
    *,
    offset: float | tuple[float, float] = TARGET_OFFSET,
) -> Tensor:
    """Paste ``N x 1 x M x M`` box-relative mask probabilities into ``N x 1 x H x W`` image masks.

    The mask covers the box shifted by ``offset`` (float coordinates). Each output pixel whose square meets the
    box or the shifted box takes the bilinear interpolation of the mask at the pixel's centre, clamped to the
    mask's extent (so the strip of the box that the shifted targets never sampled takes the mask's edge value,
    and a 2 px wide object keeps both rows); every other pixel is 0. Eager calls paste each
    mask only inside its box (memory grows with the boxes, not with ``N x H x W``); under tracing (ONNX export)
    one vectorised ``grid_sample`` over the whole image is used, with the same values.

    Args:
        masks: ``(N, 1, M, M)`` probabilities (any float dtype; the result has the same).
        boxes: ``(N, 4)`` boxes ``(x0, y0, x1, y1)`` in the output image's pixels.
        image_size: ``(H, W)`` of the output.
        offset: Shift of the masks relative to the boxes in output pixels, one value or ``(x, y)``;
            :data:`TARGET_OFFSET` for models trained with torchvision's mask targets, 0 for masks that cover the
            box exactly.

    Returns:
        ``(N, 1, H, W)`` probabilities.

    Raises:
        ValueError: If ``masks`` is not ``(N, 1, M, M)``, ``boxes`` not ``(N, 4)``, or ``image_size`` not two
            positive ints.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.models.paste import paste_masks_exact
        >>> out = paste_masks_exact(torch.ones(1, 1, 4, 4), torch.tensor([[2.0, 1.0, 6.0, 3.0]]), (5, 8), offset=0)
        >>> out[0, 0].gt(0.5).int().tolist()
        [[0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]]
    """
    if masks.dim() != 4 or masks.shape[1] != 1:
        raise ValueError(f"masks must be (N, 1, M, M) mask probabilities, got shape {tuple(masks.shape)}")
    if boxes.dim() != 2 or boxes.shape[1] != 4 or boxes.shape[0] != masks.shape[0]:
        raise ValueError(
            f"boxes must be (N, 4) with N = {masks.shape[0]} (one per mask), got shape {tuple(boxes.shape)}"
        )
    if len(image_size) != 2:
        raise ValueError(f"image_size must be (height, width) of positive ints, got {image_size!r}")
    tracing = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
    ox, oy = (offset, offset) if isinstance(offset, (int, float)) else offset
    dtype = masks.dtype
    probs = masks.float()
    b = boxes.float()
    # the mask spans the shifted box; it is pasted on the pixels meeting the box or the shifted box, so the
    # strip between the two (which the targets never sampled) takes the mask's edge value
    span = (b[:, 0] + ox, b[:, 1] + oy, b[:, 2] + ox, b[:, 3] + oy)
    window = (
        torch.minimum(b[:, 0], span[0]),
        torch.minimum(b[:, 1], span[1]),
        torch.maximum(b[:, 2], span[2]),
        torch.maximum(b[:, 3], span[3]),
    )
    n = masks.shape[0]
    if tracing:  # sizes may be traced tensors (dynamic ONNX axes): no Python ints, no per-box loop
        return _paste_full(probs, span, window, image_size).to(dtype)
    h, w = int(image_size[0]), int(image_size[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"image_size must be (height, width) of positive ints, got {image_size!r}")
    out = probs.new_zeros((n, 1, h, w))
    windows = torch.stack(window, dim=1).tolist()
    for i, ((wx0, wy0, wx1, wy1), (sx0, sy0, sx1, sy1)) in enumerate(
        zip(windows, torch.stack(span, dim=1).tolist(), strict=True)
    ):
        c0, c1 = max(0, math.floor(wx0)), min(w, math.ceil(wx1))
        r0, r1 = max(0, math.floor(wy0)), min(h, math.ceil(wy1))
        if c1 <= c0 or r1 <= r0 or sx1 <= sx0 or sy1 <= sy0:
            continue
        xs = torch.arange(c0, c1, dtype=torch.float32, device=masks.device) + 0.5
        ys = torch.arange(r0, r1, dtype=torch.float32, device=masks.device) + 0.5
        grid = _grid(*(t[i : i + 1] for t in span), xs, ys)
        out[i : i + 1, :, r0:r1, c0:c1] = F.grid_sample(
            probs[i : i + 1], grid, mode="bilinear", padding_mode="border", align_corners=False
        )
    return out.to(dtype)


class ExactPasteTransform(GeneralizedRCNNTransform):
    """torchvision's ``GeneralizedRCNNTransform`` whose ``postprocess`` pastes masks with :func:`paste_masks_exact`.

    Normalisation, resizing, batching and box / keypoint post-processing are torchvision's. The half-pixel
    target offset is in the resized image the model saw, so it is scaled to the original image with the boxes.

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None, min_size=64, max_size=64, mask_paste="exact")
        >>> type(model.transform).__name__
        'ExactPasteTransform'
    """

    #: With a dense foreground branch (``mask_foreground_dim > 0``): the RoI-mask probability above which a pasted
    #: mask pixel takes the image's foreground probability (:func:`~maskrcnn_custom.models.foreground.gate_masks`);
    #: ``None`` without one.
    foreground_gate: float | None = None

    @classmethod
    def like(cls, transform: GeneralizedRCNNTransform) -> ExactPasteTransform:
        """A copy of ``transform``'s settings (sizes, mean, std, divisibility) with the exact paste.

        Examples:
            >>> from torchvision.models.detection.transform import GeneralizedRCNNTransform
            >>> t = ExactPasteTransform.like(GeneralizedRCNNTransform(64, 64, [0.5] * 3, [0.2] * 3))
            >>> t.min_size, t.max_size
            ((64,), 64)
        """
        kwargs: dict[str, Any] = {"_skip_resize": transform._skip_resize}
        out = cls(
            transform.min_size,
            transform.max_size,
            list(transform.image_mean),
            list(transform.image_std),
            size_divisible=transform.size_divisible,
            fixed_size=transform.fixed_size,
            **kwargs,
        )
        out.foreground_gate = getattr(transform, "foreground_gate", None)
        return out

    def postprocess(
        self,
        result: list[dict[str, Tensor]],
        image_shapes: list[tuple[int, int]],
        original_image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        """Boxes resized to the original images and masks pasted there (eval mode only, as torchvision's).

        With a foreground branch, each image's foreground probabilities (``FOREGROUND_KEY`` in its detections)
        are resized to the original image and gate its pasted masks
        (:func:`~maskrcnn_custom.models.foreground.gate_masks`); the key is removed.
        """
        if self.training:
            return result
        for i, (pred, im_s, o_im_s) in enumerate(
            zip(result, image_shapes, original_image_sizes, strict=True)
        ):
            foreground = pred.pop(FOREGROUND_KEY, None)
            boxes = resize_boxes(pred["boxes"], im_s, o_im_s)
            result[i]["boxes"] = boxes
            if "masks" in pred:
                offset = (TARGET_OFFSET * o_im_s[1] / im_s[1], TARGET_OFFSET * o_im_s[0] / im_s[0])
                masks = paste_masks_exact(pred["masks"], boxes, o_im_s, offset=offset)
                if foreground is not None:
                    # under tracing the sizes are the graph's inputs: always resize (the identity at equal sizes)
                    tracing = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
                    if tracing or tuple(foreground.shape[-2:]) != tuple(o_im_s):
                        foreground = F.interpolate(
                            foreground[None], size=o_im_s, mode="bilinear", align_corners=False
                        )[0]
                    gate = 0.5 if self.foreground_gate is None else self.foreground_gate
                    masks = gate_masks(masks, foreground, gate)
                result[i]["masks"] = masks
            if "keypoints" in pred:
                result[i]["keypoints"] = resize_keypoints(pred["keypoints"], im_s, o_im_s)
        return result
