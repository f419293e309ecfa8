"""Shape measurements of thin objects from their binary masks: :func:`measure_masks`.

Method (per mask, all in pixels; x to the right, y down, angles counter-clockwise as seen on screen):

- **Centre line**: the mask is thinned (Zhang-Suen) and the longest path through the largest skeleton
  component is kept. Thinning leaves short spurs at the ends (towards the corners of a flat end, or anywhere
  on a rounded tip), so ``sqrt(2)`` times the largest half-width is trimmed from each end of the path, and
  each end is then extended along the local direction of the path until it leaves the mask. The tips are
  where those rays leave the mask; a straight rod of length ``L`` gets length ``L`` whatever its width or
  end shape. Masks too short for a trimmed path use the principal axis through the centroid instead.
- **Length**: the arc length of the centre line (chords every few pixels of the path, so the staircase of
  a digital line does not count) plus the two end extensions.
- **Widths**: ``mean_width = area / length``; ``max_width`` is ``mean_width`` times the ratio of the largest
  to the mean local half-width along the centre line (exact Euclidean distance from each centre-line pixel to
  the background, ends excluded), so a uniform rod has ``max_width == mean_width`` and a rod that bulges to
  twice its width somewhere gets about twice its mean width.
- **Oriented box**: the minimum-area rectangle around the pixel squares (rotating calipers on the convex
  hull): centre, long and short side, angle of the long side in ``[0, 180)``.
- **Orientation**: the principal axis of the pixel second moments, in ``[0, 180)``.
- **Elongation** ``length / mean_width``; **tortuosity** ``length / distance between the tips`` (1 for a
  straight object, ``theta / (2 sin(theta / 2))`` for a circular arc of angle ``theta``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .morphology import distance_to_background, longest_path, min_area_rect, skeletonize

__all__ = ["MEASUREMENT_FIELDS", "MaskMeasurement", "measure_mask", "measure_masks"]

#: Scalar fields of :class:`MaskMeasurement`, in the order of :meth:`MaskMeasurement.to_dict` and CSV columns.
MEASUREMENT_FIELDS: tuple[str, ...] = (
    "area",
    "length",
    "mean_width",
    "max_width",
    "elongation",
    "tortuosity",
    "orientation",
    "box_cx",
    "box_cy",
    "box_length",
    "box_width",
    "box_angle",
)

_NAN = float("nan")


@dataclass(frozen=True)
class MaskMeasurement:
    """Shape measurements of one mask (pixels and degrees; see :mod:`maskrcnn_custom.measure.shapes`).

    An empty mask has ``area == 0`` and every other number ``nan`` (and an empty ``centerline``).

    Attributes:
        area: Number of mask pixels.
        length: Length along the medial axis, tip to tip.
        mean_width: ``area / length``.
        max_width: Largest width across the centre line.
        elongation: ``length / mean_width``.
        tortuosity: ``length`` over the straight distance between the tips (>= 1).
        orientation: Principal-axis angle from the second moments, in ``[0, 180)``.
        box_cx: Centre x of the minimum-area oriented box.
        box_cy: Centre y of the oriented box.
        box_length: Long side of the oriented box.
        box_width: Short side of the oriented box.
        box_angle: Angle of the box's long side, in ``[0, 180)``.
        centerline: ``float64 [K, 2]`` ``(x, y)`` points of the centre line, tip to tip: the polyline whose
            length is ``length``.

    Examples:
        >>> import numpy as np
        >>> from maskrcnn_custom.measure import measure_mask
        >>> m = np.zeros((16, 48), bool); m[6:10, 4:44] = True
        >>> r = measure_mask(m)
        >>> round(r.length, 1), round(r.mean_width, 1), r.box_angle
        (40.0, 4.0, 0.0)
    """

    area: float
    length: float
    mean_width: float
    max_width: float
    elongation: float
    tortuosity: float
    orientation: float
    box_cx: float
    box_cy: float
    box_length: float
    box_width: float
    box_angle: float
    centerline: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)), repr=False, compare=False)

    def to_dict(self, *, ndigits: int | None = 3) -> dict[str, float | None]:
        """The scalar fields as a dict (``nan`` becomes ``None``, numbers rounded to ``ndigits``).

        Examples:
            >>> import numpy as np
            >>> from maskrcnn_custom.measure import measure_mask
            >>> measure_mask(np.zeros((4, 4), bool)).to_dict()["length"] is None
            True
        """
        out: dict[str, float | None] = {}
        for name in MEASUREMENT_FIELDS:
            v = float(getattr(self, name))
            out[name] = None if not math.isfinite(v) else (round(v, ndigits) if ndigits is not None else v)
        return out


def _empty() -> MaskMeasurement:
    return MaskMeasurement(0.0, *([_NAN] * (len(MEASUREMENT_FIELDS) - 1)))


def _inside(mask: np.ndarray, point: np.ndarray) -> bool:
    h, w = mask.shape
    c, r = math.floor(point[0] + 0.5), math.floor(point[1] + 0.5)
    return 0 <= r < h and 0 <= c < w and bool(mask[r, c])


def _ray_exit(
    mask: np.ndarray, start: np.ndarray, direction: np.ndarray, *, step: float = 0.1, gap: float = 1.5
) -> float:
    """Distance from ``start`` (x, y) along ``direction`` to where the ray leaves the mask for good.

    Gaps up to ``gap`` pixels (a missing contour pixel) are crossed; the exit point is refined by bisection.
    """
    limit = float(sum(mask.shape))
    t, last_in = 0.0, 0.0
    while t < limit and t - last_in <= gap:
        t += step
        if _inside(mask, start + t * direction):
            last_in = t
    lo, hi = last_in, last_in + step
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        if _inside(mask, start + mid * direction):
            lo = mid
        else:
            hi = mid
    return hi


def _orientation(mask: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    ys, xs = np.nonzero(mask)
    cx, cy = xs.mean(), ys.mean()
    dx, dy = xs - cx, ys - cy
    mu20, mu02, mu11 = (dx * dx).mean(), (dy * dy).mean(), (dx * dy).mean()
    theta = 0.5 * math.atan2(2 * mu11, mu20 - mu02)  # in image axes (y down)
    axis = np.array([math.cos(theta), math.sin(theta)])
    angle = math.degrees(math.atan2(-axis[1], axis[0])) % 180.0
    return angle, np.array([cx, cy]), axis


def _chords(points: np.ndarray, step: int) -> np.ndarray:
    """Every ``step``-th point of a pixel path, and its last point: the polyline whose length is measured."""
    idx = np.unique(np.r_[np.arange(0, len(points), step), len(points) - 1])
    return points[idx]


def _along(points: np.ndarray, distance: float) -> int:
    """Index of the first path point at least ``distance`` (arc length) from the start."""
    if len(points) < 2:
        return 0
    cum = np.r_[0.0, np.cumsum(np.hypot(*np.diff(points, axis=0).T))]
    return int(min(np.searchsorted(cum, distance), len(points) - 1))


def measure_mask(mask: np.ndarray | torch.Tensor) -> MaskMeasurement:
    """Measure one binary mask (see :func:`measure_masks`).

    Args:
        mask: H x W array or tensor, non-zero inside the object.

    Returns:
        A :class:`MaskMeasurement` (``area == 0`` and ``nan`` elsewhere for an empty mask).

    Raises:
        ValueError: If ``mask`` is not 2-D.

    Examples:
        >>> import numpy as np
        >>> from maskrcnn_custom.measure import measure_mask
        >>> m = np.zeros((40, 40), bool); np.fill_diagonal(m[5:, 5:], True)
        >>> round(measure_mask(m).box_angle)
        135
    """
    m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be a 2-D array (H x W), got shape {m.shape}")
    m = m != 0
    area = float(m.sum())
    if area == 0:
        return _empty()
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    r0, c0 = int(rows[0]), int(cols[0])
    crop = m[r0 : rows[-1] + 1, c0 : cols[-1] + 1]
    offset = np.array([c0, r0], dtype=np.float64)
    box = min_area_rect(crop)
    if box is None:  # cannot happen for a non-empty crop
        return _empty()
    bcx, bcy, blong, bshort, bangle = box
    orientation, centroid, axis = _orientation(crop)

    path_rc = longest_path(skeletonize(crop))
    dist = distance_to_background(crop, path_rc) if len(path_rc) else np.ones(1)
    half = float(dist.max())
    path = path_rc[:, ::-1].astype(np.float64)  # (x, y)
    trim = math.sqrt(2.0) * half
    i0 = _along(path, trim)
    i1 = len(path) - 1 - _along(path[::-1], trim)
    profile = dist[i0 : i1 + 1] if i1 - i0 >= 1 else dist
    profile = profile - 0.5  # pixel-centre distance minus half a pixel: the local half-width
    if i1 - i0 >= 1:
        core = path[i0 : i1 + 1]
        reach = max(2.0 * half, 3.0)
        j0 = _along(core, reach)
        j1 = len(core) - 1 - _along(core[::-1], reach)
        d0 = core[0] - core[j0]
        d1 = core[-1] - core[j1]
        d0 /= max(np.hypot(*d0), 1e-12)
        d1 /= max(np.hypot(*d1), 1e-12)
        core = _chords(core, max(2, round(half)))
        inner = float(np.hypot(*np.diff(core, axis=0).T).sum())
    else:  # short blob: the principal axis through the centroid
        core = centroid[None]
        d0, d1 = -axis, axis
        inner = 0.0
    e0 = _ray_exit(crop, core[0], d0)
    e1 = _ray_exit(crop, core[-1], d1)
    tip0, tip1 = core[0] + e0 * d0, core[-1] + e1 * d1
    length = inner + e0 + e1
    chord = float(np.hypot(*(tip1 - tip0)))
    mean_width = area / length
    centerline = np.vstack([tip0, core, tip1]) + offset
    return MaskMeasurement(
        area=area,
        length=length,
        mean_width=mean_width,
        max_width=mean_width * max(float(profile.max() / max(profile.mean(), 1e-12)), 1.0),
        elongation=length / mean_width,
        tortuosity=max(length / chord, 1.0) if chord > 0 else _NAN,
        orientation=orientation,
        box_cx=bcx + c0,
        box_cy=bcy + r0,
        box_length=blong,
        box_width=bshort,
        box_angle=bangle,
        centerline=centerline,
    )


def measure_masks(masks: torch.Tensor | np.ndarray | Sequence[Any]) -> list[MaskMeasurement]:
    """Measure length, widths, oriented box, orientation, elongation and tortuosity of each mask.

    See :mod:`maskrcnn_custom.measure.shapes` for the method. On analytic shapes the length of a straight
    capsule is within 3 % and its width within 1 px; the length of a circular arc of radius ``r`` and
    angle ``theta`` (flat ends) is within 5 % of ``r * theta``.

    Args:
        masks: ``[N, H, W]`` binary masks (tensor or array; probabilities must be thresholded first), or a
            sequence of ``H x W`` masks.

    Returns:
        One :class:`MaskMeasurement` per mask, in order (an empty mask gives ``area == 0`` and ``nan``).

    Raises:
        ValueError: If ``masks`` is not ``[N, H, W]``.
        TypeError: If ``masks`` holds floating-point values other than 0 and 1 (unthresholded probabilities).

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.measure import measure_masks
        >>> m = torch.zeros(1, 32, 32, dtype=torch.bool); m[0, 14:18, 2:30] = True
        >>> [round(r.length) for r in measure_masks(m)]
        [28]
    """
    if isinstance(masks, (torch.Tensor, np.ndarray)):
        arr = masks.detach().cpu().numpy() if isinstance(masks, torch.Tensor) else masks
        if arr.ndim != 3:
            raise ValueError(f"masks must be [N, H, W], got shape {tuple(arr.shape)}; add a batch dimension")
        items: Sequence[Any] = list(arr)
    else:
        items = list(masks)
    for k, item in enumerate(items):
        a = np.asarray(item.detach().cpu() if isinstance(item, torch.Tensor) else item)
        if a.dtype.kind == "f" and a.size and not np.isin(a, (0.0, 1.0)).all():
            raise TypeError(
                f"masks[{k}] holds probabilities, not a binary mask; threshold it first (e.g. masks > 0.5)"
            )
    return [
        measure_mask(np.asarray(item.detach().cpu() if isinstance(item, torch.Tensor) else item))
        for item in items
    ]
