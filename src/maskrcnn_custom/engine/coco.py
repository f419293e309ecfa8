"""COCO conversion and evaluation: targets -> COCO ground truth, predictions -> COCO results, COCOeval.

The backend is pycocotools (the ``[coco]`` extra) or, when installed and requested, faster-coco-eval,
which implements the same protocol.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch

from .._utils.optional import install_hint, require
from ..data.coco import coco_result_records, encode_rle

__all__ = [
    "STAT_NAMES",
    "CocoBackend",
    "build_coco_gt",
    "coco_api",
    "load_coco_results",
    "predictions_to_coco",
    "run_cocoeval",
    "stats_to_dict",
    "target_to_coco",
]

logger = logging.getLogger(__name__)

CocoBackend = Literal["auto", "pycocotools", "faster_coco_eval"]

#: Names of the 12 numbers of ``COCOeval.stats``, in order.
STAT_NAMES: tuple[str, ...] = (
    "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
)  # fmt: skip


def coco_api(backend: CocoBackend = "auto") -> tuple[Any, Any, Any]:
    """Return ``(COCO, COCOeval, mask_utils)`` of the chosen backend.

    ``"auto"`` prefers pycocotools (the reference implementation) and falls back to faster-coco-eval.

    Raises:
        ImportError: If the backend is not installed, naming the extra to install.
        ValueError: If ``backend`` is unknown.

    Examples:
        >>> from maskrcnn_custom.engine.coco import coco_api
        >>> COCO, COCOeval, mask_utils = coco_api("pycocotools")
    """
    if backend not in ("auto", "pycocotools", "faster_coco_eval"):
        raise ValueError(f"backend must be 'auto', 'pycocotools' or 'faster_coco_eval', got {backend!r}")
    if backend in ("auto", "pycocotools"):
        try:
            mask_utils = require("pycocotools.mask", extra="coco", purpose="COCO evaluation")
            coco = require("pycocotools.coco", extra="coco", purpose="COCO evaluation")
            cocoeval = require("pycocotools.cocoeval", extra="coco", purpose="COCO evaluation")
            return coco.COCO, cocoeval.COCOeval, mask_utils
        except ImportError:
            if backend == "pycocotools":
                raise
    try:
        from faster_coco_eval import COCO, COCOeval_faster
        from faster_coco_eval.core import mask as mask_utils
    except ImportError:
        raise ImportError(
            f"COCO evaluation needs pycocotools ({install_hint('coco')}) or faster-coco-eval "
            "(pip install faster-coco-eval)"
        ) from None
    return COCO, COCOeval_faster, mask_utils


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"target[{name!r}] must hold one number, got shape {tuple(value.shape)}")
        value = value.item()
    return int(value)


def target_to_coco(
    target: Mapping[str, Any], *, height: int, width: int, backend: CocoBackend = "auto"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Convert one torchvision-style target into a COCO image record and annotation records.

    Boxes (XYXY) become XYWH, masks become RLE, ``area`` is taken from the target when present (the
    dataset's own, e.g. the COCO annotation's) and otherwise from the mask (or box) area, ``iscrowd``
    defaults to 0. Annotation ids are left for :func:`build_coco_gt` to assign.

    Args:
        target: Dict with ``image_id``, ``boxes`` (N x 4, XYXY), ``labels`` (N) and optionally ``masks``
            (N x H x W), ``area``, ``iscrowd``.
        height: Image height in pixels (of the image given to the model).
        width: Image width.
        backend: COCO backend used for RLE encoding.

    Returns:
        ``(image_record, annotations)``.

    Raises:
        ValueError: If ``image_id``, ``boxes`` or ``labels`` is missing or shapes disagree.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.engine.coco import target_to_coco
        >>> m = torch.zeros(1, 8, 8, dtype=torch.uint8); m[0, 2:4, 1:7] = 1
        >>> t = {"image_id": 3, "boxes": torch.tensor([[1.0, 2.0, 7.0, 4.0]]), "labels": torch.tensor([1]), "masks": m}
        >>> img, anns = target_to_coco(t, height=8, width=8)
        >>> anns[0]["bbox"], anns[0]["area"]
        ([1.0, 2.0, 6.0, 2.0], 12.0)
    """
    for key in ("image_id", "boxes", "labels"):
        if key not in target:
            raise ValueError(f"evaluation needs target[{key!r}] (torchvision's target format); it is missing")
    _, _, mask_utils = coco_api(backend)
    image_id = _as_int(target["image_id"], "image_id")
    boxes = torch.as_tensor(target["boxes"], dtype=torch.float64).reshape(-1, 4).cpu()
    labels = torch.as_tensor(target["labels"]).reshape(-1).cpu()
    n = boxes.shape[0]
    if labels.shape[0] != n:
        raise ValueError(f"target has {n} boxes but {labels.shape[0]} labels (image_id={image_id})")
    masks = target.get("masks")
    rles: list[dict[str, Any]] | None = None
    mask_areas = None
    if masks is not None:
        m = torch.as_tensor(masks).cpu()
        if m.ndim != 3 or m.shape[0] != n:
            raise ValueError(
                f"target['masks'] must be N x H x W with N={n}, got {tuple(m.shape)} (image_id={image_id})"
            )
        m_np = (m > 0).numpy().astype(np.uint8)
        rles = encode_rle(m_np, mask_api=mask_utils)
        mask_areas = m_np.reshape(n, -1).sum(1).astype(np.float64)
    area = target.get("area")
    iscrowd = target.get("iscrowd")
    xywh = boxes.clone()
    xywh[:, 2:] -= xywh[:, :2]
    annotations = []
    for i in range(n):
        if area is not None:
            a = float(torch.as_tensor(area).reshape(-1)[i])
        elif mask_areas is not None:
            a = float(mask_areas[i])
        else:
            a = float(xywh[i, 2] * xywh[i, 3])
        ann: dict[str, Any] = {
            "image_id": image_id,
            "bbox": [float(v) for v in xywh[i].tolist()],
            "category_id": int(labels[i]),
            "area": a,
            "iscrowd": int(torch.as_tensor(iscrowd).reshape(-1)[i]) if iscrowd is not None else 0,
        }
        if rles is not None:
            ann["segmentation"] = rles[i]
        annotations.append(ann)
    return {"id": image_id, "height": int(height), "width": int(width)}, annotations


def predictions_to_coco(
    image_id: int,
    output: Mapping[str, torch.Tensor],
    *,
    mask_threshold: float = 0.5,
    backend: CocoBackend = "auto",
) -> list[dict[str, Any]]:
    """Convert one image's model output into COCO result records (``bbox`` XYWH, ``score``, RLE ``segmentation``).

    Masks (``N x 1 x H x W`` probabilities, as torchvision's Mask R-CNN returns them) are binarised at
    ``mask_threshold``.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.engine.coco import predictions_to_coco
        >>> out = {"boxes": torch.tensor([[0.0, 0.0, 4.0, 2.0]]), "scores": torch.tensor([0.9]),
        ...        "labels": torch.tensor([1]), "masks": torch.ones(1, 1, 8, 8)}
        >>> predictions_to_coco(0, out)[0]["bbox"]
        [0.0, 0.0, 4.0, 2.0]
    """
    _, _, mask_utils = coco_api(backend)
    boxes = output["boxes"].detach().float().cpu().reshape(-1, 4).tolist()
    scores = output["scores"].detach().float().cpu().reshape(-1).tolist()
    labels = output["labels"].detach().cpu().reshape(-1).tolist()
    rles = None
    if "masks" in output:
        m = output["masks"].detach().cpu()
        if m.ndim == 4:
            m = m[:, 0]
        rles = encode_rle((m > mask_threshold).numpy(), mask_api=mask_utils)
    return coco_result_records(image_id, boxes, labels, scores, rles)


def build_coco_gt(
    images: Sequence[Mapping[str, Any]],
    annotations: Sequence[Mapping[str, Any]],
    *,
    category_ids: Sequence[int] | None = None,
    backend: CocoBackend = "auto",
) -> Any:
    """Build an in-memory COCO ground-truth object; annotation ids are assigned 1..N in order.

    Examples:
        >>> from maskrcnn_custom.engine.coco import build_coco_gt
        >>> gt = build_coco_gt([{"id": 1, "height": 8, "width": 8}], [], category_ids=[1])
        >>> gt.getImgIds()
        [1]
    """
    COCO, _, _ = coco_api(backend)
    anns = [dict(a, id=i + 1) for i, a in enumerate(annotations)]
    cats = sorted(set(category_ids) if category_ids is not None else {a["category_id"] for a in anns})
    gt = COCO()
    gt.dataset = {
        "images": [dict(img) for img in images],
        "annotations": anns,
        "categories": [{"id": int(c), "name": str(c)} for c in cats],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def load_coco_results(
    coco_gt: Any, results: Sequence[Mapping[str, Any]], *, backend: CocoBackend = "auto"
) -> Any:
    """``coco_gt.loadRes(results)``, also for an empty list (which pycocotools cannot load).

    With no detections every AP/AR over objects that exist is 0, as the COCO protocol gives.
    """
    COCO, _, _ = coco_api(backend)
    with contextlib.redirect_stdout(io.StringIO()):
        if len(results) > 0:
            return coco_gt.loadRes([dict(r) for r in results])
        dt = COCO()
        dt.dataset = {
            "images": list(coco_gt.dataset["images"]),
            "categories": list(coco_gt.dataset["categories"]),
            "annotations": [],
        }
        dt.createIndex()
        return dt


def stats_to_dict(stats: Sequence[float]) -> dict[str, float]:
    """Name the 12 numbers of ``COCOeval.stats`` (see :data:`STAT_NAMES`)."""
    return {name: float(v) for name, v in zip(STAT_NAMES, stats, strict=False)}


def run_cocoeval(
    coco_gt: Any, coco_dt: Any, iou_type: Literal["bbox", "segm"], *, backend: CocoBackend = "auto"
) -> Any:
    """Run ``evaluate`` / ``accumulate`` / ``summarize`` quietly (the summary goes to the DEBUG log).

    Returns:
        The ``COCOeval`` object (``.stats`` holds the 12 standard numbers, ``.eval`` the arrays).
    """
    _, COCOeval, _ = coco_api(backend)
    ev = COCOeval(coco_gt, coco_dt, iou_type)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    logger.debug("COCOeval %s:\n%s", iou_type, buf.getvalue())
    return ev
