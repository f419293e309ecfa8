"""COCO evaluation of a detection model on a data loader: :func:`evaluate`."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from ..data.validate import model_num_classes, validate_batch
from .amp import AmpLike, autocast, resolve_amp_dtype
from .coco import (
    CocoBackend,
    build_coco_gt,
    coco_api,
    load_coco_results,
    predictions_to_coco,
    run_cocoeval,
    stats_to_dict,
    target_to_coco,
)
from .distributed import all_gather_objects, broadcast_object, is_main_process
from .elongation import DEFAULT_ELONGATION_EDGES, elongation_metrics
from .progress import progress_bar
from .thin_metrics import thin_structure_metrics
from .train import move_to_device

__all__ = ["coco_metrics", "evaluate"]

logger = logging.getLogger(__name__)


def coco_metrics(
    images: Sequence[dict[str, Any]],
    annotations: Sequence[dict[str, Any]],
    results: Sequence[dict[str, Any]],
    *,
    iou_types: Sequence[str] = ("bbox", "segm"),
    elongation_edges: Sequence[float] | None = DEFAULT_ELONGATION_EDGES,
    backend: CocoBackend = "auto",
    thin_metrics: bool = True,
) -> dict[str, Any]:
    """COCO metrics from COCO records (what :func:`evaluate` computes after inference).

    Categories are those of the ground truth and of the detections (a category without ground truth is
    ignored by COCOeval, as always).

    Returns:
        ``{"bbox": {...}, "segm": {...}, "segm_elongation": {...}, "num_images": n, "num_detections": n}``,
        where each of ``bbox``/``segm`` maps the 12 COCO numbers (``AP``, ``AP50``, ``AP75``, ``APs``,
        ``APm``, ``APl``, ``AR1``, ``AR10``, ``AR100``, ``ARs``, ``ARm``, ``ARl``); -1 means "undefined"
        (e.g. no small objects), as in pycocotools. With ``thin_metrics`` and ``"segm"`` in ``iou_types``,
        ``"boundary"`` (the 12 numbers with Boundary IoU matching) and ``"skeleton"`` (``clDice``, ``Tprec``,
        ``Tsens``, ``recall``, ...) are added (see :mod:`maskrcnn_custom.engine.thin_metrics`).

    Examples:
        >>> from maskrcnn_custom.engine.evaluate import coco_metrics
        >>> img = {"id": 1, "height": 10, "width": 10}
        >>> gt = [{"image_id": 1, "bbox": [1.0, 1.0, 8.0, 2.0], "category_id": 1, "area": 16.0, "iscrowd": 0}]
        >>> dt = [{"image_id": 1, "bbox": [1.0, 1.0, 8.0, 2.0], "category_id": 1, "score": 0.9}]
        >>> coco_metrics([img], gt, dt, iou_types=("bbox",), elongation_edges=None)["bbox"]["AP"]
        1.0
    """
    for t in iou_types:
        if t not in ("bbox", "segm"):
            raise ValueError(f"iou_types must contain 'bbox' and/or 'segm', got {t!r}")
    cats = sorted({a["category_id"] for a in annotations} | {r["category_id"] for r in results})
    gt = build_coco_gt(images, annotations, category_ids=cats, backend=backend)
    metrics: dict[str, Any] = {"num_images": float(len(images)), "num_detections": float(len(results))}
    for iou_type in iou_types:
        dt = load_coco_results(gt, results, backend=backend)
        ev = run_cocoeval(gt, dt, iou_type, backend=backend)  # type: ignore[arg-type]
        metrics[iou_type] = stats_to_dict(ev.stats)
    if elongation_edges is not None and "segm" in iou_types:
        metrics["segm_elongation"] = elongation_metrics(
            images, annotations, results, category_ids=cats, edges=elongation_edges, backend=backend
        )
    # --- thin-structure metrics (Boundary AP, clDice) ---
    if thin_metrics and "segm" in iou_types:
        try:
            metrics.update(
                thin_structure_metrics(images, annotations, results, category_ids=cats, backend=backend)
            )
        except ImportError:
            logger.warning("Boundary AP needs pycocotools (pip install pycocotools); thin metrics skipped")
    # --- end thin-structure metrics ---
    return metrics


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    data_loader: Iterable[Any],
    device: torch.device | str,
    *,
    amp: AmpLike = False,
    mask_threshold: float = 0.5,
    elongation_edges: Sequence[float] | None = DEFAULT_ELONGATION_EDGES,
    backend: CocoBackend = "auto",
    progress: bool = True,
    thin_metrics: bool = True,
) -> dict[str, Any]:
    """Run ``model`` on ``data_loader`` and compute COCO ``bbox`` and ``segm`` metrics.

    Ground truth is built from the loader's targets (torchvision format: boxes XYXY, labels, masks
    N x H x W, ``image_id``, optional ``area``/``iscrowd``), masks are RLE-encoded, predicted masks are
    binarised at ``mask_threshold``, and pycocotools' ``COCOeval`` (or faster-coco-eval) computes the
    standard numbers, so they equal a direct pycocotools run on the same predictions. A breakdown of
    segmentation AP/AR by object elongation is added (see :mod:`maskrcnn_custom.engine.elongation`), and,
    with ``thin_metrics``, Boundary AP and skeleton scores (see :mod:`maskrcnn_custom.engine.thin_metrics`).

    Under ``torchrun`` every process evaluates its shard of the loader (use a ``DistributedSampler``);
    records are gathered to rank 0, which computes the metrics and sends them to every process (duplicate
    ``image_id`` s from sampler padding are counted once).

    Args:
        model: A torchvision-style detection model (eval mode returns boxes/labels/scores/masks).
        data_loader: Yields ``(images, targets)``; every target needs a unique ``image_id``.
        device: Where to run the model.
        amp: Mixed precision for inference (see :func:`train_one_epoch`).
        mask_threshold: Probability above which a predicted mask pixel is foreground.
        elongation_edges: Edges of the elongation bins (``None`` skips the breakdown).
        backend: ``"auto"`` (pycocotools, else faster-coco-eval), ``"pycocotools"`` or ``"faster_coco_eval"``.
        progress: Show a progress bar (rank 0 only).
        thin_metrics: Add ``"boundary"`` (Boundary AP/AR, the 12 COCO numbers) and ``"skeleton"`` (mean
            ``clDice``, ``Tprec``, ``Tsens`` over matched pairs, skeleton ``recall``); flattened by the
            training log as ``boundary/AP``, ``skeleton/clDice``, ...

    Returns:
        ``{"bbox": {"AP": ..., "AP50": ..., ...}, "segm": {...}, "segm_elongation": {"<2": {...}, ...},
        "boundary": {...}, "skeleton": {...}, "num_images": n, "num_detections": n, "time_s": t}``.

    Raises:
        ImportError: If no COCO backend is installed (``pip install "maskrcnn-custom[coco]"``).
        ValueError: If a target lacks ``image_id``/``boxes``/``labels``, or a sample is wrong (checked by
            :func:`~maskrcnn_custom.data.validate_batch` before each forward; the message names the batch,
            the item and the field).

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import evaluate, maskrcnn_resnet18_fpn
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None, min_size=64, max_size=64)
        >>> mask = torch.zeros(1, 64, 64, dtype=torch.uint8); mask[0, 20:26, 5:60] = 1
        >>> target = {"image_id": 0, "boxes": torch.tensor([[5.0, 20.0, 60.0, 26.0]]),
        ...           "labels": torch.tensor([1]), "masks": mask}
        >>> metrics = evaluate(model, [([torch.rand(3, 64, 64)], [target])], "cpu", progress=False)
        >>> sorted(metrics["segm"])[:3]
        ['AP', 'AP50', 'AP75']
    """
    coco_api(backend)  # fail fast when no backend is installed
    if not 0.0 <= float(mask_threshold) < 1.0:
        raise ValueError(f"mask_threshold must be in [0, 1), got {mask_threshold!r}")
    device = torch.device(device)
    dtype = resolve_amp_dtype(amp, device)
    num_classes = model_num_classes(model)
    was_training = model.training
    model.eval()
    images_rec: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    start = time.perf_counter()
    try:
        total = len(data_loader)  # type: ignore[arg-type]
    except TypeError:
        total = None
    bar = progress_bar(total=total, desc="evaluate", enabled=progress and is_main_process())
    try:
        for batch, (images, targets) in enumerate(data_loader):
            # Cheap shape / dtype / range checks of the batch, before the forward (see data.validate).
            validate_batch(images, targets, batch=batch, num_classes=num_classes)
            sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
            imgs, _ = move_to_device(images, None, device)
            with autocast(device, dtype):
                outputs = model(imgs)
            for (h, w), target, output in zip(sizes, targets, outputs, strict=False):
                img_rec, img_anns = target_to_coco(target, height=h, width=w, backend=backend)
                images_rec.append(img_rec)
                anns.append(img_anns)
                out_cpu = {
                    k: v.float().cpu() if v.is_floating_point() else v.cpu() for k, v in output.items()
                }
                results.append(
                    predictions_to_coco(
                        img_rec["id"], out_cpu, mask_threshold=mask_threshold, backend=backend
                    )
                )
            bar.update(1)
    finally:
        bar.close()
        model.train(was_training)
    gathered = all_gather_objects((images_rec, anns, results))
    metrics: dict[str, Any] | None = None
    if is_main_process():
        seen: set[int] = set()
        all_images: list[dict[str, Any]] = []
        all_anns: list[dict[str, Any]] = []
        all_results: list[dict[str, Any]] = []
        for rank_images, rank_anns, rank_results in gathered:
            for img, a, r in zip(rank_images, rank_anns, rank_results, strict=False):
                if img["id"] in seen:
                    continue
                seen.add(img["id"])
                all_images.append(img)
                all_anns.extend(a)
                all_results.extend(r)
        if len(seen) != sum(len(g[0]) for g in gathered) and len(gathered) == 1:
            raise ValueError(
                "targets must carry a unique 'image_id' per image; the loader yielded duplicates "
                f"({sum(len(g[0]) for g in gathered)} images, {len(seen)} distinct ids)"
            )
        metrics = coco_metrics(
            all_images,
            all_anns,
            all_results,
            elongation_edges=elongation_edges,
            backend=backend,
            thin_metrics=thin_metrics,
        )
        metrics["time_s"] = time.perf_counter() - start
        logger.info(
            "evaluation on %d images: bbox AP %.4f, segm AP %.4f",
            len(all_images),
            metrics["bbox"]["AP"],
            metrics["segm"]["AP"],
        )
    return broadcast_object(metrics)
