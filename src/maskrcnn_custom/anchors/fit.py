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
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._utils.checks import check_int, check_optional_positive_int, check_positive_int
from .._utils.progress import progress_bar
from .coverage import AnchorCoverage, _as_boxes, anchor_coverage, best_anchor_iou

__all__ = ["AnchorFit", "boxes_from_dataset", "fit_anchors"]

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
    free_levels: bool = True,
) -> AnchorFit:
    """Fit anchor sizes per FPN level and aspect ratios (height / width) to ground-truth boxes.

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
        free_levels: Let the refinement move each level's sizes independently (a coarse level may end
            up with smaller anchors than a finer one if that covers more boxes); False keeps sizes
            increasing from the finest level to the coarsest.

    Returns:
        The :class:`AnchorFit`.

    Raises:
        ValueError: If an argument is invalid or there are no boxes.

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
    sizes = np.exp(_kmeans_1d(log_scale, k_sizes))
    ratios = np.exp(_kmeans_1d(log_ratio, num_ratios))

    def shaped(
        sz: np.ndarray, rt: np.ndarray
    ) -> tuple[tuple[tuple[float, ...], ...], tuple[tuple[float, ...], ...]]:
        s = sz if free_levels else np.sort(sz)
        per_level = tuple(
            tuple(float(round(v, 1)) for v in s[i * sizes_per_level : (i + 1) * sizes_per_level])
            for i in range(num_levels)
        )
        r = tuple(float(round(v, 3)) for v in np.sort(rt))
        return per_level, (r,) * num_levels

    def score(sz: np.ndarray, rt: np.ndarray) -> float:
        a, r = shaped(sz, rt)
        best, _ = best_anchor_iou(sample, a, r, image_size=image_size)
        return _objective(best)

    current = score(sizes, ratios)
    if refine:
        params = np.concatenate([np.log(sizes), np.log(ratios)])
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
                        s = score(np.exp(trial[:k_sizes]), np.exp(trial[k_sizes:]))
                        if s > current + 1e-9:
                            params, current, improved = trial, s, True
                            break
        sizes, ratios = np.exp(params[:k_sizes]), np.exp(params[k_sizes:])
        logger.debug("refined anchors to objective %.4f", current)
    anchor_sizes, aspect_ratios = shaped(sizes, ratios)
    if not all(math.isfinite(v) and v > 0 for lvl in anchor_sizes for v in lvl):
        raise ValueError("anchor fitting produced invalid sizes; check that the boxes are in pixels")
    coverage = anchor_coverage(xyxy, anchor_sizes, aspect_ratios, image_size=image_size)
    return AnchorFit(anchor_sizes, aspect_ratios, coverage)
