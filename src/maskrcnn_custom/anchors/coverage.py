"""How well a set of anchors covers a set of ground-truth boxes, measured the way the RPN matches them.

The RPN labels an anchor positive when its IoU with a ground-truth box reaches 0.7 (and, as a fallback,
gives every box its best anchor even below that). A box whose best anchor stays under 0.7 therefore gets
a single low-quality positive instead of several good ones and is learnt poorly. :func:`anchor_coverage`
reports, for any anchor setting, the share of boxes whose best anchor reaches IoU 0.7 and 0.5.

IoUs are computed against the anchors torchvision really generates, not against idealised shapes:

* anchor shapes come from torchvision's own ``AnchorGenerator`` (``h = size * sqrt(ratio)``,
  ``w = size / sqrt(ratio)``, corners rounded), one level per FPN feature map;
* anchors sit on each level's grid: centres at ``(j * stride, i * stride)`` for the feature map's
  ``(i, j)``, with the feature-map sizes and strides of a ResNet-FPN on an image of ``image_size`` padded
  to a multiple of 32 (strides 4, 8, 16, 32, 64 at 256 px).

For one anchor shape the intersection with a box is a product of a non-increasing function of the
horizontal and of the vertical centre distance, so the best anchor of that shape is the grid point
nearest to the box centre along each axis. The exact best IoU over all anchors is thus computed from
``N x levels x anchors-per-location`` candidates, without materialising the tens of thousands of anchors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator

from ..measure.elongation_bins import DEFAULT_ELONGATION_EDGES, check_elongation_edges, elongation_bin_labels

__all__ = [
    "TORCHVISION_ANCHOR_SIZES",
    "TORCHVISION_ASPECT_RATIOS",
    "AnchorCoverage",
    "ElongationBinCoverage",
    "anchor_coverage",
    "anchor_grid",
    "best_anchor_iou",
    "box_elongation",
    "cell_anchors",
]

#: Anchor settings of torchvision's ``maskrcnn_resnet50_fpn``.
TORCHVISION_ANCHOR_SIZES: tuple[tuple[float, ...], ...] = ((32,), (64,), (128,), (256,), (512,))
TORCHVISION_ASPECT_RATIOS: tuple[tuple[float, ...], ...] = ((0.5, 1.0, 2.0),) * 5


@dataclass(frozen=True)
class ElongationBinCoverage:
    """Coverage of the boxes whose elongation ``max(w, h) / min(w, h)`` falls in ``[low, high)``.

    Attributes:
        label: The bin's label, e.g. ``"2-4"`` or ``">=8"``.
        low: Lower edge (included).
        high: Upper edge (excluded; ``math.inf`` for the last bin).
        count: Number of boxes in the bin.
        mean_best_iou: Mean best anchor IoU of those boxes (NaN for an empty bin).
        iou_0_5: Share of those boxes whose best anchor reaches IoU 0.5 (NaN for an empty bin).
        iou_0_7: Share of those boxes whose best anchor reaches IoU 0.7 (NaN for an empty bin).
    """

    label: str
    low: float
    high: float
    count: int
    mean_best_iou: float
    iou_0_5: float
    iou_0_7: float

    def to_dict(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict (``None`` for an infinite edge and for an empty bin's figures)."""
        out = asdict(self)
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in out.items()}


@dataclass(frozen=True)
class AnchorCoverage:
    """Coverage of ground-truth boxes by a set of anchors.

    Attributes:
        num_boxes: Number of ground-truth boxes measured.
        iou_0_7: Share of boxes whose best anchor reaches IoU >= 0.7 (the RPN's positive threshold).
        iou_0_5: Share of boxes whose best anchor reaches IoU >= 0.5.
        mean_best_iou: Mean over boxes of the best anchor IoU.
        level_share: Share of boxes whose best anchor lies on each FPN level.
        elongation_bins: The same figures per box-elongation bin (``[1, 2)``, ``[2, 4)``, ``[4, 8)``,
            ``[8, inf)`` by default).
    """

    num_boxes: int
    iou_0_7: float
    iou_0_5: float
    mean_best_iou: float
    level_share: tuple[float, ...]
    elongation_bins: tuple[ElongationBinCoverage, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict."""
        out = asdict(self)
        out["elongation_bins"] = [b.to_dict() for b in self.elongation_bins]
        return out

    def elongation_table(self) -> str:
        """The per-elongation-bin figures as a plain-text table.

        Examples:
            >>> from maskrcnn_custom import SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS
            >>> from maskrcnn_custom.anchors import anchor_coverage
            >>> cov = anchor_coverage([[10, 10, 90, 22]], SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS)
            >>> print(cov.elongation_table().splitlines()[0])
            elongation  boxes  mean IoU  IoU>=0.5  IoU>=0.7
        """
        lines = [f"{'elongation':<10} {'boxes':>6} {'mean IoU':>9} {'IoU>=0.5':>9} {'IoU>=0.7':>9}"]
        for b in self.elongation_bins:
            if b.count:
                figures = f"{b.mean_best_iou:>9.3f} {100 * b.iou_0_5:>8.1f}% {100 * b.iou_0_7:>8.1f}%"
            else:
                figures = f"{'-':>9} {'-':>9} {'-':>9}"
            lines.append(f"{b.label:<10} {b.count:>6} {figures}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return (
            f"IoU>=0.7: {100 * self.iou_0_7:.1f}%  IoU>=0.5: {100 * self.iou_0_5:.1f}%  "
            f"mean best IoU: {self.mean_best_iou:.3f}  ({self.num_boxes} boxes)"
        )


def box_elongation(boxes: Any) -> np.ndarray:
    """Elongation ``max(w, h) / min(w, h)`` of ``(N, 4)`` XYXY boxes (1 for a square, large for thin boxes).

    This is the elongation of the axis-aligned box; a diagonal rod has a box of elongation near 1, which is
    what matters for anchors (they are axis-aligned too).

    Args:
        boxes: ``(N, 4)`` XYXY boxes with ``x2 > x1`` and ``y2 > y1``.

    Returns:
        float64 ``(N,)`` array.

    Raises:
        ValueError: If the boxes are malformed.

    Examples:
        >>> from maskrcnn_custom.anchors import box_elongation
        >>> box_elongation([[0, 0, 40, 10], [0, 0, 5, 5]]).tolist()
        [4.0, 1.0]
    """
    boxes = _as_boxes(boxes, (1, 1), 0)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return np.maximum(w, h) / np.minimum(w, h)


def _elongation_bins(
    boxes: np.ndarray, best: np.ndarray, edges: tuple[float, ...]
) -> tuple[ElongationBinCoverage, ...]:
    elong = box_elongation(boxes)
    bounds = (1.0, *edges, math.inf)
    out = []
    for label, lo, hi in zip(elongation_bin_labels(edges), bounds[:-1], bounds[1:], strict=True):
        sel = best[(elong >= lo) & (elong < hi)]
        n = len(sel)
        nan = float("nan")
        out.append(
            ElongationBinCoverage(
                label=label,
                low=lo,
                high=hi,
                count=n,
                mean_best_iou=float(sel.mean()) if n else nan,
                iou_0_5=float((sel >= 0.5).mean()) if n else nan,
                iou_0_7=float((sel >= 0.7).mean()) if n else nan,
            )
        )
    return tuple(out)


def _level_tuples(value: Any, name: str, levels: int | None = None) -> tuple[tuple[float, ...], ...]:
    if isinstance(value, (int, float)) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"{name} must be a non-empty sequence of per-level tuples, got {value!r}")
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        if levels is None:
            raise ValueError(
                f"{name} must hold one tuple per FPN level, e.g. ((32,), (64,), ...), got {value!r}"
            )
        value = (tuple(value),) * levels
    out = []
    for i, level in enumerate(value):
        if isinstance(level, (int, float)) or not isinstance(level, Sequence) or not level:
            raise ValueError(f"{name}[{i}] must be a non-empty tuple of numbers, got {level!r}")
        if not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
            for v in level
        ):
            raise ValueError(f"{name}[{i}] must hold positive finite numbers, got {level!r}")
        out.append(tuple(float(v) for v in level))
    return tuple(out)


def cell_anchors(
    anchor_sizes: Sequence[Sequence[float]], aspect_ratios: Sequence[Sequence[float]] | Sequence[float]
) -> list[np.ndarray]:
    """Zero-centred anchors of each level exactly as torchvision's ``AnchorGenerator`` makes them.

    Args:
        anchor_sizes: One tuple of sizes per FPN level.
        aspect_ratios: One tuple of ratios (height / width) per level, or one flat tuple for every level.

    Returns:
        One ``(A, 4)`` float64 array of ``(x1, y1, x2, y2)`` offsets per level.

    Raises:
        ValueError: If the sizes or ratios are malformed or the levels disagree in number.

    Examples:
        >>> cell_anchors(((32,),) * 5, (0.25,))[0].tolist()
        [[-32.0, -8.0, 32.0, 8.0]]
    """
    sizes = _level_tuples(anchor_sizes, "anchor_sizes")
    ratios = _level_tuples(aspect_ratios, "aspect_ratios", levels=len(sizes))
    if len(ratios) != len(sizes):
        raise ValueError(
            f"aspect_ratios has {len(ratios)} levels but anchor_sizes has {len(sizes)}; give one tuple per level"
        )
    gen = AnchorGenerator(sizes, ratios)
    return [a.to(torch.float64).numpy() for a in gen.cell_anchors]


def anchor_grid(
    image_size: int | Sequence[int], *, num_levels: int = 5, size_divisible: int = 32
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Feature-map sizes and strides of a ResNet-FPN, as torchvision's ``AnchorGenerator`` sees them.

    The image is padded to a multiple of ``size_divisible``; the FPN levels have 1/4, 1/8, 1/16, 1/32 of
    that size and the extra ``pool`` level half of the last (rounded up). Strides are the padded size
    integer-divided by the feature size, as in torchvision.

    Args:
        image_size: The model's input size (after its own resizing), an int or ``(height, width)``.
        num_levels: Number of FPN levels (5 for the library's models).
        size_divisible: Padding multiple of the model's transform.

    Returns:
        ``[((grid_h, grid_w), (stride_h, stride_w)), ...]`` per level.

    Raises:
        ValueError: If ``image_size`` or ``num_levels`` is invalid.

    Examples:
        >>> grid = anchor_grid(256)
        >>> grid[0], grid[-1]
        (((64, 64), (4, 4)), ((4, 4), (64, 64)))
    """
    hw = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(hw) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in hw):
        raise ValueError(f"image_size must be a positive int or (height, width), got {image_size!r}")
    if isinstance(num_levels, bool) or not isinstance(num_levels, int) or not 1 <= num_levels <= 5:
        raise ValueError(f"num_levels must be an int in [1, 5], got {num_levels!r}")
    padded = [math.ceil(v / size_divisible) * size_divisible for v in hw]
    out = []
    for level in range(num_levels):
        if level < 4:
            feat = [max(1, p // (4 * 2**level)) for p in padded]
        else:
            feat = [math.ceil(f / 2) for f in out[-1][0]]
        strides = [p // f for p, f in zip(padded, feat, strict=True)]
        out.append(((feat[0], feat[1]), (strides[0], strides[1])))
    return out


def _as_boxes(boxes: Any, image_size: tuple[int, int], seed: int) -> np.ndarray:
    """``(N, 4)`` XYXY boxes, or ``(N, 2)`` widths/heights placed at seeded random positions in the image."""
    arr = boxes.detach().cpu().numpy() if isinstance(boxes, torch.Tensor) else np.asarray(boxes)
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 2 or arr.shape[1] not in (2, 4):
        raise ValueError(
            f"boxes must be an (N, 4) array of XYXY boxes or an (N, 2) array of (width, height), got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError("boxes is empty; anchor coverage needs at least one ground-truth box")
    if not np.isfinite(arr).all():
        raise ValueError("boxes contains NaN or infinite values")
    if arr.shape[1] == 2:
        wh = arr
        if (wh <= 0).any():
            raise ValueError("every (width, height) in boxes must be positive")
        rng = np.random.default_rng(seed)
        h, w = image_size
        cx = wh[:, 0] / 2 + rng.random(len(wh)) * np.maximum(w - wh[:, 0], 0)
        cy = wh[:, 1] / 2 + rng.random(len(wh)) * np.maximum(h - wh[:, 1], 0)
        return np.stack([cx - wh[:, 0] / 2, cy - wh[:, 1] / 2, cx + wh[:, 0] / 2, cy + wh[:, 1] / 2], axis=1)
    bad = (arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1])
    if bad.any():
        raise ValueError(
            f"boxes must be XYXY with x2 > x1 and y2 > y1; {int(bad.sum())} are not (first at row {int(bad.argmax())})"
        )
    return arr


def best_anchor_iou(
    boxes: Any,
    anchor_sizes: Sequence[Sequence[float]],
    aspect_ratios: Sequence[Sequence[float]] | Sequence[float],
    *,
    image_size: int | Sequence[int] = 256,
    grid: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Best IoU of every box with any anchor, and the FPN level of that anchor.

    Args:
        boxes: ``(N, 4)`` XYXY boxes in the model's input coordinates, or ``(N, 2)`` (width, height) pairs,
            which are placed at random positions in the image (seeded by ``seed``) when ``grid`` is true.
        anchor_sizes: One tuple of sizes per FPN level.
        aspect_ratios: One tuple of ratios (height / width) per level, or one flat tuple for every level.
        image_size: The model's input size, which fixes the anchor grid.
        grid: True (default) measures against anchors on their real grid; False uses shape-only IoU, each
            anchor centred on its box (an upper bound that ignores the stride).
        seed: Seed of the random placement of ``(N, 2)`` inputs.

    Returns:
        ``(best_iou, level)``: float64 ``(N,)`` and int64 ``(N,)`` arrays.

    Raises:
        ValueError: If an argument is malformed.

    Examples:
        >>> import numpy as np
        >>> iou, level = best_anchor_iou(np.array([[0, 0, 64, 16]]), ((32,),) * 5, (0.25, 1.0, 4.0))
        >>> float(iou[0])
        1.0
    """
    hw = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    cells = cell_anchors(anchor_sizes, aspect_ratios)
    grids = anchor_grid(hw, num_levels=len(cells))  # type: ignore[arg-type]
    b = _as_boxes(boxes, hw, seed)  # type: ignore[arg-type]
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    bcx, bcy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    area_b = bw * bh
    best = np.full(len(b), -1.0)
    level = np.zeros(len(b), np.int64)
    for lv, (cell, ((gh, gw), (sh, sw))) in enumerate(zip(cells, grids, strict=True)):
        aw = cell[:, 2] - cell[:, 0]  # (A,)
        ah = cell[:, 3] - cell[:, 1]
        if grid:
            acx_off = (cell[:, 0] + cell[:, 2]) / 2
            acy_off = (cell[:, 1] + cell[:, 3]) / 2
            # Nearest grid point along each axis, for each anchor shape: (N, A).
            jx = np.clip(np.rint((bcx[:, None] - acx_off[None]) / sw), 0, gw - 1)
            jy = np.clip(np.rint((bcy[:, None] - acy_off[None]) / sh), 0, gh - 1)
            dx = np.abs(bcx[:, None] - (jx * sw + acx_off[None]))
            dy = np.abs(bcy[:, None] - (jy * sh + acy_off[None]))
        else:
            dx = dy = np.zeros((len(b), len(cell)))
        ix = _overlap(bw, aw, dx)
        iy = _overlap(bh, ah, dy)
        inter = ix * iy
        iou = inter / (area_b[:, None] + (aw * ah)[None] - inter)
        lv_best = iou.max(axis=1)
        better = lv_best > best
        best = np.where(better, lv_best, best)
        level = np.where(better, lv, level)
    return best, level


def _overlap(box_len: np.ndarray, anchor_len: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Length of the overlap of ``[-b/2, b/2]`` and ``[d - a/2, d + a/2]`` for every box/anchor pair."""
    hb = box_len[:, None] / 2
    ha = anchor_len[None] / 2
    return np.clip(np.minimum(hb, offset + ha) - np.maximum(-hb, offset - ha), 0, None)


def anchor_coverage(
    boxes: Any,
    anchor_sizes: Sequence[Sequence[float]],
    aspect_ratios: Sequence[Sequence[float]] | Sequence[float],
    *,
    image_size: int | Sequence[int] = 256,
    grid: bool = True,
    seed: int = 0,
    elongation_edges: Sequence[float] = DEFAULT_ELONGATION_EDGES,
) -> AnchorCoverage:
    """Share of ground-truth boxes whose best anchor reaches IoU 0.7 (RPN positive) and 0.5.

    Args:
        boxes: ``(N, 4)`` XYXY boxes in the model's input coordinates (for the library's 256 px models,
            pixel coordinates of 256 x 256 images), or ``(N, 2)`` (width, height) pairs.
        anchor_sizes: One tuple of sizes per FPN level, e.g. ``maskrcnn_custom.SEED_ANCHOR_SIZES``.
        aspect_ratios: One tuple of ratios (height / width) per level, or one flat tuple for every level.
        image_size: The model's input size, which fixes the anchor grid.
        grid: Measure against anchors on their real grid (default) or shape-only, centred on each box.
        seed: Seed of the random placement of ``(N, 2)`` inputs.
        elongation_edges: Inner edges of the box-elongation bins of ``elongation_bins`` (default
            ``(2, 4, 8)``: bins ``[1, 2)``, ``[2, 4)``, ``[4, 8)``, ``[8, inf)``).

    Returns:
        The :class:`AnchorCoverage`.

    Raises:
        ValueError: If an argument is malformed.

    Examples:
        >>> from maskrcnn_custom import SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS
        >>> from maskrcnn_custom.anchors import anchor_coverage
        >>> cov = anchor_coverage([[10, 10, 90, 22]], SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS)
        >>> 0.0 <= cov.iou_0_7 <= 1.0
        True
    """
    edges = check_elongation_edges(elongation_edges)
    anchor_grid(image_size)  # validates image_size before the boxes are placed
    hw = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    xyxy = _as_boxes(boxes, hw, seed)  # type: ignore[arg-type]
    best, level = best_anchor_iou(xyxy, anchor_sizes, aspect_ratios, image_size=image_size, grid=grid)
    levels = len(cell_anchors(anchor_sizes, aspect_ratios))
    share = np.bincount(level, minlength=levels) / len(best)
    return AnchorCoverage(
        num_boxes=len(best),
        iou_0_7=float((best >= 0.7).mean()),
        iou_0_5=float((best >= 0.5).mean()),
        mean_best_iou=float(best.mean()),
        level_share=tuple(float(s) for s in share),
        elongation_bins=_elongation_bins(xyxy, best, edges),
    )
