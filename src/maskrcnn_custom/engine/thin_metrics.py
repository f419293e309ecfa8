"""Thin-structure metrics: Boundary AP (Boundary IoU) and skeleton scores (clDice, skeleton recall).

Mask AP barely moves when a thin mask loses a pixel of width or a tip; these metrics do.

**Boundary IoU** (Cheng et al., CVPR 2021). The boundary region of a mask is the set of its pixels within
``d`` pixels of its contour, ``d = max(1, round(dilation_ratio * image diagonal))`` (``mask`` minus its
erosion by a 3x3 square ``d`` times, the image border counting as contour). For ground truth ``G`` and
prediction ``P`` with boundary regions ``G_d`` and ``P_d``::

    boundary IoU = |G_d AND P_d| / |G_d OR P_d|

**Boundary AP** is COCO's AP over IoU thresholds 0.5:0.95 with, as in the reference implementation
(boundary-iou-api), ``min(mask IoU, boundary IoU)`` as the matching score of non-crowd pairs (crowd regions
keep the mask IoU). It is reported with the 12 COCO numbers, like ``segm``.

**clDice** (Shit et al., CVPR 2021) of a matched pair: with ``S(.)`` the skeleton (Zhang-Suen thinning),
``Tprec = |S(P) ∩ G| / |S(P)|``, ``Tsens = |S(G) ∩ P| / |S(G)|`` and ``clDice = 2 Tprec Tsens /
(Tprec + Tsens)``. Predictions are matched to ground truth of the same image and category greedily by
decreasing score at mask IoU >= 0.5 (COCO's AP50 matching; at most 100 detections per image). Reported:
the means of ``clDice``, ``Tprec`` and ``Tsens`` over matched pairs, and ``recall``, the mean ``Tsens`` over
all non-crowd ground truth (0 for an object nobody found). -1 means undefined (nothing to average).
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..measure.morphology import boundary_region, skeletonize
from .coco import CocoBackend, build_coco_gt, coco_api, load_coco_results, stats_to_dict

__all__ = [
    "DEFAULT_DILATION_RATIO",
    "boundary_dilation",
    "boundary_iou",
    "boundary_metrics",
    "cl_dice",
    "skeleton_metrics",
    "thin_structure_metrics",
]

#: Boundary width as a fraction of the image diagonal, as in the Boundary IoU paper.
DEFAULT_DILATION_RATIO = 0.02


def _check_ratio(dilation_ratio: float) -> float:
    r = float(dilation_ratio)
    if not math.isfinite(r) or not 0.0 < r <= 1.0:
        raise ValueError(f"dilation_ratio must be in (0, 1] (0.02 in the paper), got {dilation_ratio!r}")
    return r


def boundary_dilation(height: int, width: int, *, dilation_ratio: float = DEFAULT_DILATION_RATIO) -> int:
    """Width ``d`` of the boundary region in pixels: ``max(1, round(dilation_ratio * diagonal))``.

    Examples:
        >>> from maskrcnn_custom.engine.thin_metrics import boundary_dilation
        >>> boundary_dilation(256, 256), boundary_dilation(20, 20)
        (7, 1)
    """
    r = _check_ratio(dilation_ratio)
    return max(1, round(r * math.hypot(int(height), int(width))))


def _np(mask: np.ndarray | torch.Tensor) -> np.ndarray:
    m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"masks must be 2-D (H x W), got shape {m.shape}")
    return m != 0


def boundary_iou(
    gt: np.ndarray | torch.Tensor,
    pred: np.ndarray | torch.Tensor,
    *,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
) -> float:
    """Boundary IoU of two binary masks of the same size (see the module docstring).

    Returns 0 when both boundary regions are empty.

    Examples:
        >>> import numpy as np
        >>> from maskrcnn_custom.engine.thin_metrics import boundary_iou
        >>> g = np.zeros((20, 20), bool); g[5:15, 5:15] = True
        >>> p = np.zeros((20, 20), bool); p[5:15, 6:16] = True
        >>> round(boundary_iou(g, p), 4)  # d = 1: two 10x10 rings of 36 px sharing 18: 18 / 54
        0.3333
    """
    g, p = _np(gt), _np(pred)
    if g.shape != p.shape:
        raise ValueError(f"gt and pred must have the same shape, got {g.shape} and {p.shape}")
    d = boundary_dilation(*g.shape, dilation_ratio=dilation_ratio)
    b = boundary_region(torch.from_numpy(np.stack([g, p])), dilation=d).numpy()
    union = int((b[0] | b[1]).sum())
    return float((b[0] & b[1]).sum() / union) if union else 0.0


def _skeleton_overlap(gt: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """``(Tprec, Tsens)`` of a pair, thinning only the union's bounding box."""
    union = gt | pred
    rows, cols = np.flatnonzero(union.any(1)), np.flatnonzero(union.any(0))
    if rows.size == 0:
        return float("nan"), float("nan")
    sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    g, p = gt[sl], pred[sl]
    sp, sg = skeletonize(p), skeletonize(g)
    tprec = float((sp & g).sum() / sp.sum()) if sp.any() else 0.0
    tsens = float((sg & p).sum() / sg.sum()) if sg.any() else 0.0
    return tprec, tsens


def cl_dice(gt: np.ndarray | torch.Tensor, pred: np.ndarray | torch.Tensor) -> float:
    """ClDice of two binary masks: the harmonic mean of topology precision and sensitivity.

    Examples:
        >>> import numpy as np
        >>> from maskrcnn_custom.engine.thin_metrics import cl_dice
        >>> g = np.zeros((9, 30), bool); g[3:6, 2:28] = True
        >>> cl_dice(g, g)
        1.0
        >>> half = g.copy(); half[:, 15:] = False
        >>> 0.6 < cl_dice(g, half) < 0.75  # Tprec 1, Tsens about one half
        True
    """
    g, p = _np(gt), _np(pred)
    if g.shape != p.shape:
        raise ValueError(f"gt and pred must have the same shape, got {g.shape} and {p.shape}")
    tprec, tsens = _skeleton_overlap(g, p)
    return 2 * tprec * tsens / (tprec + tsens) if tprec + tsens > 0 else 0.0


def _decode(mask_utils: Any, rle: Mapping[str, Any]) -> np.ndarray:
    with warnings.catch_warnings():  # pycocotools' decode warns under NumPy 2 (copy keyword)
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(dict(rle)).astype(bool)


def _boundary_full(mask: np.ndarray, dilation: int) -> np.ndarray:
    """Boundary region of one mask, computed on its bounding box (outside it there is only background)."""
    out = np.zeros(mask.shape, dtype=np.uint8)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size:
        sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        out[sl] = boundary_region(torch.from_numpy(np.ascontiguousarray(mask[sl])), dilation=dilation).numpy()
    return out


def _boundary_eval_class(COCOeval: Any, mask_utils: Any, dilation_ratio: float) -> Any:
    class BoundaryCOCOeval(COCOeval):  # type: ignore[misc, valid-type]
        """COCOeval scoring matches by ``min(mask IoU, boundary IoU)``, as boundary-iou-api does."""

        def __init__(self, coco_gt: Any, coco_dt: Any) -> None:
            super().__init__(coco_gt, coco_dt, "segm")
            self._boundaries: dict[tuple[str, int], Any] = {}

        def _boundary(self, which: str, ann: Mapping[str, Any]) -> Any:
            key = (which, int(ann["id"]))
            if key not in self._boundaries:
                m = _decode(mask_utils, ann["segmentation"])
                d = boundary_dilation(*m.shape, dilation_ratio=dilation_ratio)
                self._boundaries[key] = mask_utils.encode(np.asfortranarray(_boundary_full(m, d)))
            return self._boundaries[key]

        def computeIoU(self, imgId: int, catId: int) -> Any:
            p = self.params
            if p.useCats:
                gt, dt = self._gts[imgId, catId], self._dts[imgId, catId]
            else:
                gt = [g for c in p.catIds for g in self._gts[imgId, c]]
                dt = [d for c in p.catIds for d in self._dts[imgId, c]]
            if len(gt) == 0 and len(dt) == 0:
                return []
            order = np.argsort([-d["score"] for d in dt], kind="mergesort")
            dt = [dt[i] for i in order][: p.maxDets[-1]]
            crowd = [int(g["iscrowd"]) for g in gt]
            mask_ious = mask_utils.iou(
                [d["segmentation"] for d in dt], [g["segmentation"] for g in gt], crowd
            )
            if len(gt) == 0 or len(dt) == 0:
                return mask_ious
            b_ious = mask_utils.iou(
                [self._boundary("dt", d) for d in dt], [self._boundary("gt", g) for g in gt], crowd
            )
            ious = np.array(mask_ious, dtype=np.float64)
            nc = np.asarray(crowd) == 0
            ious[:, nc] = np.minimum(ious[:, nc], np.asarray(b_ious)[:, nc])
            return ious

    return BoundaryCOCOeval


def boundary_metrics(
    images: Sequence[Mapping[str, Any]],
    annotations: Sequence[Mapping[str, Any]],
    results: Sequence[Mapping[str, Any]],
    *,
    category_ids: Sequence[int] | None = None,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
) -> dict[str, float]:
    """Boundary AP/AR: the 12 COCO numbers with Boundary IoU matching (see the module docstring).

    Needs pycocotools (its ``COCOeval`` is extended; faster-coco-eval cannot be).

    Examples:
        >>> import numpy as np
        >>> from pycocotools import mask as mask_utils
        >>> from maskrcnn_custom.engine.thin_metrics import boundary_metrics
        >>> m = np.zeros((32, 32), np.uint8, order="F"); m[10:14, 2:30] = 1
        >>> rle = mask_utils.encode(m); rle["counts"] = rle["counts"].decode()
        >>> gt = [{"image_id": 1, "bbox": [2, 10, 28, 4], "category_id": 1, "area": 112.0, "iscrowd": 0,
        ...        "segmentation": rle}]
        >>> dt = [dict(gt[0], score=0.9)]
        >>> round(boundary_metrics([{"id": 1, "height": 32, "width": 32}], gt, dt)["AP"], 6)
        1.0
    """
    ratio = _check_ratio(dilation_ratio)
    _, COCOeval, mask_utils = coco_api("pycocotools")
    gt = build_coco_gt(images, annotations, category_ids=category_ids, backend="pycocotools")
    dt = load_coco_results(gt, results, backend="pycocotools")
    ev = _boundary_eval_class(COCOeval, mask_utils, ratio)(gt, dt)
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return stats_to_dict(ev.stats)


def skeleton_metrics(
    annotations: Sequence[Mapping[str, Any]],
    results: Sequence[Mapping[str, Any]],
    *,
    match_iou: float = 0.5,
    max_detections: int = 100,
    backend: CocoBackend = "auto",
) -> dict[str, float]:
    """Mean clDice, topology precision/sensitivity over matched pairs, and skeleton recall over ground truth.

    Args:
        annotations: COCO ground truth with RLE ``segmentation``.
        results: COCO detections with RLE ``segmentation`` and ``score``.
        match_iou: Mask IoU at or above which a detection may match a ground-truth object.
        max_detections: Detections per image considered (highest scores first).
        backend: COCO backend for RLE decoding.

    Returns:
        ``{"clDice", "Tprec", "Tsens", "recall", "num_matched", "num_gt"}`` (-1 where undefined).

    Examples:
        >>> from maskrcnn_custom.engine.thin_metrics import skeleton_metrics
        >>> skeleton_metrics([], [])["clDice"]
        -1.0
    """
    if not 0.0 < float(match_iou) <= 1.0:
        raise ValueError(f"match_iou must be in (0, 1], got {match_iou!r}")
    _, _, mask_utils = coco_api(backend)
    gts: dict[tuple[int, int], list[Mapping[str, Any]]] = defaultdict(list)
    dts: dict[tuple[int, int], list[Mapping[str, Any]]] = defaultdict(list)
    for a in annotations:
        if not int(a.get("iscrowd", 0)) and isinstance(a.get("segmentation"), Mapping):
            gts[int(a["image_id"]), int(a["category_id"])].append(a)
    per_image: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for r in results:
        if isinstance(r.get("segmentation"), Mapping):
            per_image[int(r["image_id"])].append(r)
    for image_id, recs in per_image.items():
        for r in sorted(recs, key=lambda r: -float(r["score"]))[:max_detections]:
            dts[image_id, int(r["category_id"])].append(r)
    num_gt = sum(len(v) for v in gts.values())
    tprec, tsens, cl = [], [], []
    for key, g_list in gts.items():
        d_list = dts.get(key, [])
        if not d_list:
            continue
        ious = np.asarray(
            mask_utils.iou(
                [d["segmentation"] for d in d_list], [g["segmentation"] for g in g_list], [0] * len(g_list)
            )
        ).reshape(len(d_list), len(g_list))
        taken = np.zeros(len(g_list), dtype=bool)
        for i in range(len(d_list)):  # d_list is in decreasing score order
            cand = np.where(~taken & (ious[i] >= match_iou), ious[i], -1.0)
            j = int(cand.argmax())
            if cand[j] < 0:
                continue
            taken[j] = True
            tp, ts = _skeleton_overlap(
                _decode(mask_utils, g_list[j]["segmentation"]), _decode(mask_utils, d_list[i]["segmentation"])
            )
            tprec.append(tp)
            tsens.append(ts)
            cl.append(2 * tp * ts / (tp + ts) if tp + ts > 0 else 0.0)

    def mean(x: list[float]) -> float:
        return float(np.mean(x)) if x else -1.0

    return {
        "clDice": mean(cl),
        "Tprec": mean(tprec),
        "Tsens": mean(tsens),
        "recall": float(sum(tsens) / num_gt) if num_gt else -1.0,
        "num_matched": float(len(cl)),
        "num_gt": float(num_gt),
    }


def thin_structure_metrics(
    images: Sequence[Mapping[str, Any]],
    annotations: Sequence[Mapping[str, Any]],
    results: Sequence[Mapping[str, Any]],
    *,
    category_ids: Sequence[int] | None = None,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
    backend: CocoBackend = "auto",
) -> dict[str, dict[str, float]]:
    """``{"boundary": boundary_metrics(...), "skeleton": skeleton_metrics(...)}`` (what :func:`evaluate` adds).

    Examples:
        >>> from maskrcnn_custom.engine.thin_metrics import thin_structure_metrics
        >>> m = thin_structure_metrics([{"id": 1, "height": 8, "width": 8}], [], [], category_ids=[1])
        >>> sorted(m), m["skeleton"]["num_gt"]
        (['boundary', 'skeleton'], 0.0)
    """
    return {
        "boundary": boundary_metrics(
            images, annotations, results, category_ids=category_ids, dilation_ratio=dilation_ratio
        ),
        "skeleton": skeleton_metrics(annotations, results, backend=backend),
    }
