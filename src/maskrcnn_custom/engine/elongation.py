"""Object elongation (aspect ratio of the minimum-area rectangle) and COCO metrics per elongation bin.

Custom anchors exist for long, thin objects, so the library reports how well a model does on each
elongation range, not only on COCO's small/medium/large area ranges.

Method. The elongation of a mask is ``long side / short side`` of its minimum-area enclosing rectangle
(any orientation), computed exactly with rotating calipers on the convex hull of the mask's pixel squares
(a one-pixel-wide rod of length L has elongation L, a filled square 1). Metrics per bin come from COCOeval
with its area-range mechanism re-used for elongation: in a copy of the ground truth and of the detections,
each object's ``area`` field is replaced by its elongation and the "area ranges" are the elongation bins
(half-open, ``[lo, hi)``). For each bin COCOeval therefore ignores ground truth outside the bin, ignores
detections matched to ignored ground truth, and counts an unmatched detection as a false positive only
if its own mask elongation falls in the bin: exactly how COCO treats small/medium/large objects.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..measure.elongation_bins import DEFAULT_ELONGATION_EDGES, check_elongation_edges, elongation_bin_labels
from ..measure.morphology import min_area_rect
from .coco import CocoBackend, build_coco_gt, coco_api, load_coco_results

__all__ = [
    "DEFAULT_ELONGATION_EDGES",
    "elongation_bin_labels",
    "elongation_metrics",
    "mask_elongation",
]


def mask_elongation(mask: np.ndarray) -> float:
    """Elongation of a binary mask: long / short side of its minimum-area enclosing rectangle (>= 1).

    Pixels are unit squares, so a single pixel or a filled square gives 1.0 and a straight one-pixel-wide
    rod of length L gives L. Returns ``nan`` for an empty mask.

    Args:
        mask: H x W array, non-zero inside the object.

    Examples:
        >>> import numpy as np
        >>> from maskrcnn_custom.engine.elongation import mask_elongation
        >>> m = np.zeros((32, 32), np.uint8); m[10:13, 2:26] = 1
        >>> mask_elongation(m)
        8.0
    """
    m = np.asarray(mask) != 0
    if m.ndim != 2:
        raise ValueError(f"mask must be a 2-D array (H x W), got shape {m.shape}")
    box = min_area_rect(m)
    if box is None:
        return float("nan")
    return float(box[2] / box[3])


def _box_elongation(bbox: Sequence[float]) -> float:
    w, h = float(bbox[2]), float(bbox[3])
    if min(w, h) <= 0:
        return 1.0
    return max(w, h) / min(w, h)


def _elongations(records: Sequence[Mapping[str, Any]], mask_utils: Any) -> list[float]:
    out = []
    for r in records:
        e = float("nan")
        seg = r.get("segmentation")
        if isinstance(seg, dict):
            with warnings.catch_warnings():  # pycocotools' decode warns under NumPy 2 (copy keyword)
                warnings.simplefilter("ignore", DeprecationWarning)
                decoded = mask_utils.decode(dict(seg))
            e = mask_elongation(decoded)
        out.append(e if math.isfinite(e) else _box_elongation(r["bbox"]))
    return out


def elongation_metrics(
    images: Sequence[Mapping[str, Any]],
    annotations: Sequence[Mapping[str, Any]],
    results: Sequence[Mapping[str, Any]],
    *,
    category_ids: Sequence[int] | None = None,
    edges: Sequence[float] = DEFAULT_ELONGATION_EDGES,
    backend: CocoBackend = "auto",
) -> dict[str, dict[str, float]]:
    """Segmentation AP/AR per elongation bin (see the module docstring for the method).

    Args:
        images: COCO image records.
        annotations: COCO ground-truth annotations with RLE ``segmentation``.
        results: COCO result records (detections) with RLE ``segmentation``.
        category_ids: Categories to evaluate (default: those of the ground truth).
        edges: Bin edges (increasing, > 1).
        backend: COCO backend.

    Returns:
        ``{bin_label: {"AP", "AP50", "AP75", "AR100", "num_gt"}}``; AP/AR are -1 for a bin without
        ground truth (COCO's convention for "undefined").

    Examples:
        >>> from maskrcnn_custom.engine.elongation import elongation_metrics
        >>> elongation_metrics([{"id": 1, "height": 8, "width": 8}], [], [], category_ids=[1])["<2"]["num_gt"]
        0.0
    """
    edges = check_elongation_edges(edges)
    labels = elongation_bin_labels(edges)
    _, _, mask_utils = coco_api(backend)
    gt_e = _elongations(annotations, mask_utils)
    dt_e = _elongations(results, mask_utils)
    gt = build_coco_gt(
        images,
        [dict(a, area=e) for a, e in zip(annotations, gt_e, strict=False)],
        category_ids=category_ids,
        backend=backend,
    )
    dt = load_coco_results(gt, results, backend=backend)
    for ann_id, e in zip(sorted(dt.anns), dt_e, strict=False):  # loadRes numbers detections 1..N in order
        dt.anns[ann_id]["area"] = e
    bounds = [0.0, *edges, math.inf]
    ranges = [
        [lo, float(np.nextafter(hi, -np.inf)) if math.isfinite(hi) else hi]
        for lo, hi in itertools.pairwise(bounds)
    ]
    _, COCOeval, _ = coco_api(backend)
    ev = COCOeval(gt, dt, "segm")
    ev.params.areaRng = ranges
    ev.params.areaRngLbl = labels
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"]  # T x R x K x A x M
    recall = ev.eval["recall"]  # T x K x A x M
    m = len(ev.params.maxDets) - 1
    iou = np.asarray(ev.params.iouThrs)
    t50 = int(np.argmin(np.abs(iou - 0.5)))
    t75 = int(np.argmin(np.abs(iou - 0.75)))

    def mean(x: np.ndarray) -> float:
        x = x[x > -1]
        return float(x.mean()) if x.size else -1.0

    crowd = [int(a.get("iscrowd", 0)) for a in annotations]
    out: dict[str, dict[str, float]] = {}
    for a, (label, (lo, hi)) in enumerate(zip(labels, ranges, strict=False)):
        num_gt = sum(1 for e, c in zip(gt_e, crowd, strict=False) if not c and lo <= e <= hi)
        out[label] = {
            "AP": mean(precision[:, :, :, a, m]),
            "AP50": mean(precision[t50, :, :, a, m]),
            "AP75": mean(precision[t75, :, :, a, m]),
            "AR100": mean(recall[:, :, a, m]),
            "num_gt": float(num_gt),
        }
    return out
