"""Fit anchor sizes and aspect ratios to the boxes of a dataset.

:func:`fit_anchors` starts from k-means in log space (box scales ``sqrt(w * h)`` split into one group of
sizes per FPN level, smallest on the finest level; box aspect ratios ``h / w`` into ``num_ratios`` groups
shared by every level), then refines sizes and ratios by coordinate search on the coverage the RPN
really gets: the share of boxes whose best anchor on the real anchor grid reaches IoU 0.7 (see
:mod:`maskrcnn_custom.anchors.coverage`). Every level gets the same number of anchors per location, as
the shared RPN head requires, so the result plugs straight into the model builders::

    fit = fit_anchors(dataset)
    model = maskrcnn_resnet101_fpn(**fit.as_kwargs())
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._utils.checks import check_int, check_optional_positive_int, check_positive_int
from .._utils.progress import progress_bar
from .coverage import AnchorCoverage, _as_boxes, anchor_coverage, best_anchor_iou

__all__ = ["RATIO_METHODS", "AnchorFit", "boxes_from_dataset", "fit_anchors", "fit_aspect_ratios"]

#: How :func:`fit_aspect_ratios` picks ratios from the boxes' ``log(h / w)``.
RATIO_METHODS = ("kmeans", "quantile")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnchorFit:
    """Fitted anchors and their coverage.

    Attributes:
        anchor_sizes: One tuple of sizes per FPN level.
        aspect_ratios: One tuple of ratios (height / width) per level (the same on every level).
        coverage: Coverage of the boxes the anchors were fitted to, on the real anchor grid.

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> from maskrcnn_custom.anchors import fit_anchors
        >>> fit = fit_anchors([[0, 0, 80, 10], [5, 5, 15, 90], [30, 30, 60, 60]])
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None, **fit.as_kwargs())
    """

    anchor_sizes: tuple[tuple[float, ...], ...]
    aspect_ratios: tuple[tuple[float, ...], ...]
    coverage: AnchorCoverage

    def as_kwargs(self) -> dict[str, tuple[tuple[float, ...], ...]]:
        """``anchor_sizes=`` and ``aspect_ratios=`` for a model builder."""
        return {"anchor_sizes": self.anchor_sizes, "aspect_ratios": self.aspect_ratios}

    def to_dict(self) -> dict[str, Any]:
        """The fit as a JSON-ready dict."""
        return {
            "anchor_sizes": [list(s) for s in self.anchor_sizes],
            "aspect_ratios": [list(r) for r in self.aspect_ratios],
            "coverage": self.coverage.to_dict(),
        }


def boxes_from_dataset(
    dataset: Any,
    *,
    min_size: int = 256,
    max_size: int = 256,
    max_images: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Collect a dataset's ground-truth boxes in the model's input coordinates.

    Each image is scaled as the model's transform scales it: by ``min(min_size / shorter side,
    max_size / longer side)`` (1 for 256 px images with the library's defaults). A dataset with an
    ``annotation_boxes()`` method (:class:`~maskrcnn_custom.data.CocoDataset`) is read from its JSON without
    decoding images or masks; any other dataset is read item by item.

    Args:
        dataset: Map-style dataset of ``(image, target)`` samples.
        min_size: The model's ``min_size``.
        max_size: The model's ``max_size``.
        max_images: Use only the first ``max_images`` images; all if None.
        progress: Show a tqdm progress bar while reading items.

    Returns:
        ``(N, 4)`` float64 XYXY boxes.

    Raises:
        ValueError: If the sizes are invalid or the dataset has no boxes.

    Examples:
        >>> from maskrcnn_custom.data import SyntheticElongatedDataset
        >>> boxes = boxes_from_dataset(SyntheticElongatedDataset(10, image_size=128))
        >>> boxes.shape[1]
        4
    """
    check_positive_int(min_size, "min_size")
    check_positive_int(max_size, "max_size")
    n = len(dataset)
    if check_optional_positive_int(max_images, "max_images") is not None:
        n = min(n, max_images)

    def scale(h: int, w: int) -> float:
        return min(min_size / min(h, w), max_size / max(h, w))

    chunks: list[np.ndarray] = []
    if hasattr(dataset, "annotation_boxes"):
        for (h, w), boxes in dataset.annotation_boxes(max_images=n):
            chunks.append(np.asarray(boxes, np.float64) * scale(h, w))
    else:
        for i in progress_bar(range(n), desc="boxes", enabled=progress, unit="img"):
            image, target = dataset[i]
            h, w = int(image.shape[-2]), int(image.shape[-1])
            b = target["boxes"]
            b = b.detach().cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
            chunks.append(b.astype(np.float64).reshape(-1, 4) * scale(h, w))
    boxes = np.concatenate(chunks) if chunks else np.zeros((0, 4))
    boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
    if len(boxes) == 0:
        raise ValueError("the dataset has no ground-truth boxes to fit anchors to")
    return boxes


def _kmeans_1d(values: np.ndarray, k: int, iters: int = 50) -> np.ndarray:
    """Lloyd's k-means on a 1-D array, initialised at quantiles; returns sorted centres."""
    centres = np.quantile(values, (np.arange(k) + 0.5) / k)
    for _ in range(iters):
        assign = np.abs(values[:, None] - centres[None]).argmin(axis=1)
        new = np.array([values[assign == j].mean() if (assign == j).any() else centres[j] for j in range(k)])
        if np.allclose(new, centres):
            break
        centres = new
    return np.sort(centres)


def _log_ratio_centres(log_ratio: np.ndarray, k: int, method: str) -> np.ndarray:
    if method == "kmeans":
        return _kmeans_1d(log_ratio, k)
    return np.sort(np.quantile(log_ratio, (np.arange(k) + 0.5) / k))


def _symmetric_log_ratios(half: np.ndarray, num_ratios: int) -> np.ndarray:
    """Log ratios ``-p..., (0), p...`` from the ``num_ratios // 2`` positive half-values ``p``."""
    middle = np.zeros(num_ratios % 2)
    return np.sort(np.concatenate([-np.abs(half), middle, np.abs(half)]))


def _initial_log_ratios(log_ratio: np.ndarray, num_ratios: int, method: str, symmetric: bool) -> np.ndarray:
    """Start values of the ratio parameters: the log ratios, or their positive halves when symmetric."""
    if not symmetric:
        return _log_ratio_centres(log_ratio, num_ratios, method)
    half = num_ratios // 2
    if half == 0:
        return np.zeros(0)
    # With an odd count the ratio 1 takes the roundest group: fit one more centre and drop the smallest.
    extra = num_ratios % 2
    return _log_ratio_centres(np.abs(log_ratio), half + extra, method)[extra:]


def _check_ratio_options(num_ratios: Any, method: Any, symmetric: Any) -> None:
    if isinstance(num_ratios, bool) or not isinstance(num_ratios, int) or num_ratios < 1:
        raise ValueError(f"num_ratios must be an int >= 1, got {num_ratios!r}")
    if method not in RATIO_METHODS:
        raise ValueError(f"ratio_method must be one of {', '.join(RATIO_METHODS)}, got {method!r}")
    if not isinstance(symmetric, bool):
        raise TypeError(f"symmetric_ratios must be True or False, got {symmetric!r}")


def fit_aspect_ratios(
    boxes: Any,
    *,
    num_ratios: int = 5,
    method: str = "kmeans",
    symmetric: bool = False,
) -> tuple[float, ...]:
    """Aspect ratios (height / width) that follow the boxes' shape statistics, sorted ascending.

    The ratios are ``exp`` of ``num_ratios`` centres of the boxes' ``log(h / w)``: k-means centres
    (``method="kmeans"``, initialised at quantiles) or the quantiles at ``(j + 0.5) / num_ratios``
    (``method="quantile"``). With ``symmetric=True`` every ratio ``r`` comes with ``1 / r`` (and an odd
    count includes 1), for objects that appear in any orientation; the centres are then fitted to
    ``|log(h / w)|``. This is the start of :func:`fit_anchors`, before its coverage search.

    Args:
        boxes: ``(N, 4)`` XYXY boxes or an ``(N, 2)`` array of (width, height).
        num_ratios: Number of ratios.
        method: ``"kmeans"`` or ``"quantile"``.
        symmetric: Make the set closed under ``r -> 1 / r``.

    Returns:
        ``num_ratios`` ratios, ascending, rounded to 3 decimals.

    Raises:
        ValueError: If an argument is invalid or there are no boxes.
        TypeError: If ``symmetric`` is not a bool.

    Examples:
        >>> from maskrcnn_custom.anchors import fit_aspect_ratios
        >>> fit_aspect_ratios([[0, 0, 40, 10], [0, 0, 10, 40], [0, 0, 20, 20]], num_ratios=3)
        (0.25, 1.0, 4.0)
        >>> fit_aspect_ratios([[0, 0, 40, 10], [0, 0, 40, 10]], num_ratios=2, symmetric=True)
        (0.25, 4.0)
    """
    _check_ratio_options(num_ratios, method, symmetric)
    xyxy = _as_boxes(boxes, (256, 256), 0)
    log_ratio = np.log((xyxy[:, 3] - xyxy[:, 1]) / (xyxy[:, 2] - xyxy[:, 0]))
    params = _initial_log_ratios(log_ratio, num_ratios, method, symmetric)
    logs = _symmetric_log_ratios(params, num_ratios) if symmetric else params
    return tuple(float(round(v, 3)) for v in np.sort(np.exp(logs)))


def _strictly_ascending(sizes: np.ndarray) -> np.ndarray:
    """Sorted sizes, each at least 1 % and 0.2 px above the previous one (distinct after rounding)."""
    out = np.sort(np.asarray(sizes, np.float64)).copy()
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] * 1.01, out[i - 1] + 0.2)
    return out


def _objective(best: np.ndarray) -> float:
    # Primary: share reaching the RPN's positive IoU; the smoother terms break ties and guide the search.
    return float((best >= 0.7).mean() + 0.5 * (best >= 0.5).mean() + 0.25 * best.mean())


def fit_anchors(
    boxes: Any,
    *,
    num_levels: int = 5,
    sizes_per_level: int = 1,
    num_ratios: int = 5,
    image_size: int = 256,
    refine: bool = True,
    max_boxes: int = 4000,
    seed: int = 0,
    ratio_method: str = "kmeans",
    symmetric_ratios: bool = False,
    free_levels: bool | None = None,
) -> AnchorFit:
    """Fit anchor sizes per FPN level and aspect ratios (height / width) to ground-truth boxes.

    Sizes always increase from the finest FPN level to the coarsest (strictly, also within a level when
    ``sizes_per_level > 1``), as the pyramid expects: small objects on the fine, small-stride levels.
    Ratios start from :func:`fit_aspect_ratios` and are refined with the sizes.

    Args:
        boxes: ``(N, 4)`` XYXY boxes in the model's input coordinates, an ``(N, 2)`` array of
            (width, height), or a dataset (read with :func:`boxes_from_dataset`).
        num_levels: FPN levels (5 for the library's models).
        sizes_per_level: Anchor sizes on each level.
        num_ratios: Aspect ratios, shared by every level. Anchors per location are
            ``sizes_per_level * num_ratios``.
        image_size: The model's input size (its ``min_size``/``max_size``), which fixes the anchor grid.
        refine: Refine the k-means start by coordinate search on the real-grid coverage.
        max_boxes: The search uses a seeded random subset of at most this many boxes (the final coverage
            is measured on all of them).
        seed: Seed of the subset and of the placement of ``(N, 2)`` inputs.
        ratio_method: Start of the ratios, ``"kmeans"`` or ``"quantile"`` (see :func:`fit_aspect_ratios`).
        symmetric_ratios: Keep the ratios closed under ``r -> 1 / r`` (also during the refinement).
        free_levels: Deprecated and ignored: sizes always increase with the level.

    Returns:
        The :class:`AnchorFit`.

    Raises:
        ValueError: If an argument is invalid or there are no boxes.
        TypeError: If ``symmetric_ratios`` is not a bool.

    Examples:
        >>> from maskrcnn_custom.anchors import fit_anchors
        >>> from maskrcnn_custom.data import SyntheticElongatedDataset
        >>> fit = fit_anchors(SyntheticElongatedDataset(200, seed=0))  # doctest: +SKIP
        >>> fit.anchor_sizes, fit.aspect_ratios, fit.coverage.iou_0_7  # doctest: +SKIP
    """
    for name, v, lo in (
        ("num_levels", num_levels, 1),
        ("sizes_per_level", sizes_per_level, 1),
        ("num_ratios", num_ratios, 1),
        ("image_size", image_size, 16),
        ("max_boxes", max_boxes, 10),
    ):
        check_int(v, name, minimum=lo)
    if num_levels > 5:
        raise ValueError(f"num_levels must be at most 5 (the FPN's levels), got {num_levels}")
    _check_ratio_options(num_ratios, ratio_method, symmetric_ratios)
    if free_levels is not None:
        warnings.warn(
            "fit_anchors(free_levels=...) is deprecated and ignored: fitted sizes always increase from the "
            "finest FPN level to the coarsest; drop the argument",
            DeprecationWarning,
            stacklevel=2,
        )
    if (
        hasattr(boxes, "__getitem__")
        and hasattr(boxes, "__len__")
        and not isinstance(boxes, (list, tuple, np.ndarray, torch.Tensor))
    ):
        boxes = boxes_from_dataset(boxes, min_size=image_size, max_size=image_size)
    xyxy = _as_boxes(boxes, (image_size, image_size), seed)
    rng = np.random.default_rng(seed)
    sample = xyxy if len(xyxy) <= max_boxes else xyxy[rng.choice(len(xyxy), max_boxes, replace=False)]

    w = sample[:, 2] - sample[:, 0]
    h = sample[:, 3] - sample[:, 1]
    log_scale = np.log(np.sqrt(w * h))
    log_ratio = np.log(h / w)
    k_sizes = num_levels * sizes_per_level
    sizes = _strictly_ascending(np.exp(_kmeans_1d(log_scale, k_sizes)))
    ratio_params = _initial_log_ratios(log_ratio, num_ratios, ratio_method, symmetric_ratios)

    def shaped(
        sz: np.ndarray, rp: np.ndarray
    ) -> tuple[tuple[tuple[float, ...], ...], tuple[tuple[float, ...], ...]]:
        per_level = tuple(
            tuple(float(round(v, 1)) for v in sz[i * sizes_per_level : (i + 1) * sizes_per_level])
            for i in range(num_levels)
        )
        logs = _symmetric_log_ratios(rp, num_ratios) if symmetric_ratios else rp
        r = tuple(float(round(v, 3)) for v in np.sort(np.exp(logs)))
        return per_level, (r,) * num_levels

    def ascending(sz: np.ndarray) -> bool:
        return bool(np.all(np.diff(np.round(sz, 1)) > 0))

    def score(sz: np.ndarray, rp: np.ndarray) -> float:
        a, r = shaped(sz, rp)
        best, _ = best_anchor_iou(sample, a, r, image_size=image_size)
        return _objective(best)

    current = score(sizes, ratio_params)
    if refine:
        params = np.concatenate([np.log(sizes), ratio_params])
        for step in (0.3, 0.15, 0.07, 0.03):
            improved = True
            rounds = 0
            while improved and rounds < 6:
                improved = False
                rounds += 1
                for j in range(len(params)):
                    for delta in (step, -step):
                        trial = params.copy()
                        trial[j] += delta
                        if j < k_sizes and not ascending(np.exp(trial[:k_sizes])):
                            continue  # a size may not pass its neighbour: levels stay ordered
                        s = score(np.exp(trial[:k_sizes]), trial[k_sizes:])
                        if s > current + 1e-9:
                            params, current, improved = trial, s, True
                            break
        sizes, ratio_params = np.exp(params[:k_sizes]), params[k_sizes:]
        logger.debug("refined anchors to objective %.4f", current)
    anchor_sizes, aspect_ratios = shaped(sizes, ratio_params)
    if not all(math.isfinite(v) and v > 0 for lvl in anchor_sizes for v in lvl):
        raise ValueError("anchor fitting produced invalid sizes; check that the boxes are in pixels")
    coverage = anchor_coverage(xyxy, anchor_sizes, aspect_ratios, image_size=image_size)
    return AnchorFit(anchor_sizes, aspect_ratios, coverage)
