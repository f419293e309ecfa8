"""Write any detection dataset to disk in COCO format (PNG images + one annotations JSON with RLE masks).

Layout written by :func:`export_coco` (and read back by :meth:`CocoDataset.from_dir`)::

    out_dir/
        images/000000.png, 000001.png, ...   # file name = zero-padded dataset index
        annotations.json                     # COCO: images, annotations (compressed RLE), categories

Point one folder per split at it, e.g. ``datasets/train`` and ``datasets/val`` (with different seeds for
synthetic data). COCO ``image_id`` is the target's ``image_id``; annotation ids count from 1; category ids
are the labels ``1..K`` (or the original ids when exporting a :class:`CocoDataset`); ``bbox`` is
``[x1, y1, x2 - x1, y2 - y1]`` of the tight box, ``area`` the mask's pixel count.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .._utils.atomic import atomic_write_bytes, check_overwrite
from .._utils.progress import progress_bar
from .boxes import masks_to_tight_boxes
from .coco import encode_rle, import_pycocotools_mask

__all__ = ["export_coco"]

logger = logging.getLogger(__name__)


def export_coco(
    dataset: Any,
    out_dir: str | Path,
    *,
    num_images: int | None = None,
    category_names: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write a dataset's images as PNG files and its targets as a COCO annotations JSON with RLE masks.

    Args:
        dataset: Map-style dataset of ``(image, target)`` samples (float ``(3, H, W)`` images in ``[0, 1]``
            or uint8 images; targets with ``masks``, ``labels`` and ``image_id``), e.g. a
            :class:`SyntheticElongatedDataset`.
        out_dir: Folder to write ``images/`` and ``annotations.json`` into (created if needed).
        num_images: Export only the first ``num_images`` samples; all if None.
        category_names: Class names for labels ``1..K``; taken from ``dataset.category_names`` if None.
        overwrite: Replace an existing ``annotations.json`` and image files of the same names (other files
            in ``images/`` are kept). Without it, the call refuses before writing anything.
        progress: Show a tqdm progress bar.

    Returns:
        Path of the written ``annotations.json``.

    Raises:
        ValueError: If ``num_images`` is invalid, the class names are unknown, or a sample's label has no
            name.
        FileExistsError: If ``out_dir/annotations.json`` or one of the image files it would write exists and
            ``overwrite`` is false (checked before any image is generated).
        ImportError: If pycocotools is missing (``pip install "maskrcnn-custom[coco]"``).

    Examples:
        >>> from maskrcnn_custom.data import SyntheticElongatedDataset, export_coco
        >>> export_coco(SyntheticElongatedDataset(100, seed=0), "datasets/train")  # doctest: +SKIP
        PosixPath('datasets/train/annotations.json')
    """
    mask_api = import_pycocotools_mask()
    from PIL import Image

    total = len(dataset)
    if num_images is None:
        num_images = total
    if isinstance(num_images, bool) or not isinstance(num_images, int) or not 0 <= num_images <= total:
        raise ValueError(
            f"num_images must be an int in [0, {total}] (the dataset's length) or None, got {num_images!r}"
        )
    if category_names is None:
        category_names = getattr(dataset, "category_names", None)
    if category_names is None or isinstance(category_names, str) or not len(category_names):
        raise ValueError(
            "category_names must list the class names of labels 1..K (the dataset has no category_names "
            "attribute); e.g. category_names=('fibre',)"
        )
    category_ids = tuple(getattr(dataset, "category_ids", range(1, len(category_names) + 1)))
    out_dir = Path(out_dir)
    ann_path = out_dir / "annotations.json"
    image_dir = out_dir / "images"
    width = max(6, len(str(max(num_images - 1, 0))))
    if not overwrite:
        existing = set(p.name for p in image_dir.iterdir()) if image_dir.is_dir() else set()
        names = (f"{index:0{width}d}.png" for index in range(num_images))
        check_overwrite(
            [ann_path, *(image_dir / name for name in names if name in existing)], overwrite=False
        )
    image_dir.mkdir(parents=True, exist_ok=True)

    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for index in progress_bar(range(num_images), desc="export", enabled=progress, unit="img"):
        image, target = dataset[index]
        if image.dtype != torch.uint8:
            image = (image.clamp(0, 1) * 255.0).round().to(torch.uint8)
        h, w = int(image.shape[-2]), int(image.shape[-1])
        file_name = f"{index:0{width}d}.png"
        buffer = io.BytesIO()
        Image.fromarray(image.permute(1, 2, 0).contiguous().numpy()).save(
            buffer, format="PNG", compress_level=1
        )
        atomic_write_bytes(image_dir / file_name, buffer.getvalue())
        image_id = int(target.get("image_id", index))
        images.append({"id": image_id, "file_name": file_name, "width": w, "height": h})
        masks = target["masks"].to(torch.uint8).numpy()
        labels = target["labels"].tolist()
        crowd = target.get("iscrowd", torch.zeros(len(labels), dtype=torch.int64)).tolist()
        if masks.shape[0] == 0:
            continue
        rles = encode_rle(masks, mask_api=mask_api)
        boxes = masks_to_tight_boxes(masks)
        areas = masks.reshape(masks.shape[0], -1).sum(axis=1)
        for k, (rle, box, area, label) in enumerate(zip(rles, boxes, areas, labels, strict=True)):
            if not 1 <= label <= len(category_names):
                raise ValueError(
                    f"sample {index} has label {label}, but category_names only names labels 1..{len(category_names)}"
                )
            x1, y1, x2, y2 = (float(v) for v in box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(category_ids[label - 1]),
                    "segmentation": rle,
                    "area": float(area),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "iscrowd": int(crowd[k]),
                }
            )
    coco = {
        "info": {"description": "exported by maskrcnn-custom", "version": "1.0"},
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": int(cid), "name": str(name), "supercategory": "object"}
            for cid, name in zip(category_ids, category_names, strict=True)
        ],
    }
    atomic_write_bytes(ann_path, json.dumps(coco).encode("utf-8"))
    logger.info("wrote %d images and %d annotations to %s", len(images), len(annotations), out_dir)
    return ann_path
