"""What users keep from predictions: COCO results JSON (RLE), label images, instance masks, overlays.

All files are written atomically (a temporary file in the same folder, then ``os.replace``). An existing
file is never replaced unless the call passes ``overwrite=True``: without it, a ``FileExistsError`` naming the
path is raised before anything is written.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._utils.atomic import atomic_path, check_overwrite
from ..data.coco import coco_result_records, encode_rle, import_pycocotools_mask
from .results import Prediction

__all__ = [
    "draw_overlay",
    "instance_mask_files",
    "save_coco_results",
    "save_instance_masks",
    "save_label_image",
    "save_overlay",
    "to_coco_results",
]

#: Distinct colours for overlays (RGB), cycled per detection.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (220, 190, 255),
)


def to_coco_results(
    predictions: Sequence[Prediction],
    *,
    image_ids: Sequence[int] | None = None,
    category_ids: Mapping[int, int] | None = None,
    measure: bool = False,
) -> list[dict[str, Any]]:
    """Turn predictions into COCO detection results (``loadRes`` / ``COCOeval`` format) with RLE masks.

    Args:
        predictions: One prediction per image.
        image_ids: COCO image id of each prediction (default ``1, 2, ...``).
        category_ids: Model label -> COCO category id (default: the label itself).
        measure: Add ``"measurements"`` to each detection: the shape measurements of its mask
            (:meth:`MaskMeasurement.to_dict <maskrcnn_custom.measure.MaskMeasurement.to_dict>`: ``length``,
            ``mean_width``, ``max_width``, oriented box, ``orientation``, ``tortuosity``, ...).

    Returns:
        One dict per detection with ``image_id``, ``category_id``, ``bbox`` (``[x, y, w, h]``), ``score``
        and ``segmentation`` (compressed RLE with ``counts`` as a string), plus ``measurements`` when asked.

    Raises:
        ImportError: If pycocotools is missing (the ``[coco]`` extra).
        ValueError: If ``image_ids`` has the wrong length or a label has no category id.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import Prediction
        >>> from maskrcnn_custom.inference import to_coco_results
        >>> m = torch.zeros(1, 4, 4, dtype=torch.bool); m[0, 1:3, 1:3] = True
        >>> p = Prediction(torch.tensor([[1., 1., 3., 3.]]), torch.tensor([1]), torch.tensor([0.9]), m, (4, 4))
        >>> to_coco_results([p])[0]["bbox"]
        [1.0, 1.0, 2.0, 2.0]
    """
    mask_utils = import_pycocotools_mask()
    if image_ids is None:
        image_ids = list(range(1, len(predictions) + 1))
    if len(image_ids) != len(predictions):
        raise ValueError(
            f"image_ids has {len(image_ids)} entries for {len(predictions)} predictions; give one per image"
        )
    results: list[dict[str, Any]] = []
    for image_id, pred in zip(image_ids, predictions, strict=True):
        if len(pred) == 0:
            continue
        rles = encode_rle(pred.masks, mask_api=mask_utils)
        shapes = pred.measure() if measure else None
        records = coco_result_records(
            image_id,
            pred.boxes.tolist(),
            pred.labels.tolist(),
            pred.scores.tolist(),
            rles,
            category_ids=category_ids,
            decimals=(3, 5),
        )
        if shapes is not None:
            for record, shape in zip(records, shapes, strict=True):
                record["measurements"] = shape.to_dict()
        results += records
    return results


def save_coco_results(
    predictions: Sequence[Prediction],
    path: str | os.PathLike,
    *,
    image_ids: Sequence[int] | None = None,
    category_ids: Mapping[int, int] | None = None,
    measure: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write :func:`to_coco_results` as a JSON file, atomically, and return its path.

    Args:
        predictions: One prediction per image.
        path: The JSON file.
        image_ids: See :func:`to_coco_results`.
        category_ids: See :func:`to_coco_results`.
        measure: See :func:`to_coco_results`.
        overwrite: Replace an existing file at ``path``.

    Raises:
        FileExistsError: If ``path`` exists and ``overwrite`` is false (before anything is computed).

    Examples:
        >>> import torch, tempfile, os
        >>> from maskrcnn_custom import Prediction
        >>> from maskrcnn_custom.inference import save_coco_results
        >>> p = Prediction(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), torch.zeros(0),
        ...                torch.zeros(0, 4, 4, dtype=torch.bool), (4, 4))
        >>> save_coco_results([p], os.path.join(tempfile.mkdtemp(), "results.json")).name
        'results.json'
    """
    check_overwrite(path, overwrite=overwrite, what="path")
    results = to_coco_results(predictions, image_ids=image_ids, category_ids=category_ids, measure=measure)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(results))
    return Path(path)


def _save_png(array: np.ndarray, path: str | os.PathLike) -> Path:
    """Write ``array`` as a PNG at ``path``, atomically (the caller checked ``overwrite``)."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
    return Path(path)


def save_label_image(prediction: Prediction, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write :meth:`Prediction.label_image` as a 16-bit grayscale PNG (0 = background, k = detection k-1).

    Raises:
        FileExistsError: If ``path`` exists and ``overwrite`` is false.

    Examples:
        >>> import torch, tempfile, os
        >>> from maskrcnn_custom import Prediction
        >>> from maskrcnn_custom.inference import save_label_image
        >>> p = Prediction(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), torch.zeros(0),
        ...                torch.zeros(0, 4, 4, dtype=torch.bool), (4, 4))
        >>> save_label_image(p, os.path.join(tempfile.mkdtemp(), "labels.png")).suffix
        '.png'
    """
    check_overwrite(path, overwrite=overwrite, what="path")
    return _save_png(prediction.label_image(), path)


def save_instance_masks(
    prediction: Prediction, directory: str | os.PathLike, *, stem: str = "mask", overwrite: bool = False
) -> list[Path]:
    """Write one 8-bit PNG per detection (255 inside the mask) as ``{stem}_{k:03d}.png`` and return the paths.

    The files of ``stem`` in ``directory`` are one set: with ``overwrite=True`` the masks of a previous call
    with the same ``stem`` are replaced, and those beyond this prediction's number of detections removed.

    Raises:
        FileExistsError: If ``directory`` already holds masks of ``stem`` and ``overwrite`` is false (before
            any file is written).

    Examples:
        >>> import torch, tempfile
        >>> from maskrcnn_custom import Prediction
        >>> from maskrcnn_custom.inference import save_instance_masks
        >>> p = Prediction(torch.zeros(1, 4), torch.tensor([1]), torch.tensor([0.9]),
        ...                torch.ones(1, 4, 4, dtype=torch.bool), (4, 4))
        >>> [f.name for f in save_instance_masks(p, tempfile.mkdtemp(), stem="img")]
        ['img_000.png']
    """
    directory = Path(directory)
    previous = instance_mask_files(directory, stem)
    check_overwrite(previous[:1], overwrite=overwrite, what=f"masks of stem {stem!r}")
    masks = prediction.masks.numpy()
    written = [
        _save_png(masks[k].astype(np.uint8) * 255, directory / f"{stem}_{k:03d}.png")
        for k in range(len(prediction))
    ]
    for stale in set(previous) - set(written):
        stale.unlink(missing_ok=True)
    return written


def instance_mask_files(directory: str | os.PathLike, stem: str) -> list[Path]:
    """The ``{stem}_{k:03d}.png`` files :func:`save_instance_masks` wrote in ``directory``, sorted.

    Examples:
        >>> import tempfile
        >>> from maskrcnn_custom.inference.writers import instance_mask_files
        >>> instance_mask_files(tempfile.mkdtemp(), "img")
        []
    """
    folder = Path(directory)
    if not folder.is_dir():
        return []
    pattern = re.compile(re.escape(stem) + r"_\d{3,}\.png")
    return sorted(p for p in folder.iterdir() if pattern.fullmatch(p.name))


def draw_overlay(
    image: torch.Tensor,
    prediction: Prediction,
    *,
    alpha: float = 0.5,
    boxes: bool = True,
    labels: bool = True,
    width: int = 1,
) -> torch.Tensor:
    """Draw masks (``torchvision.utils.draw_segmentation_masks``) and boxes with captions on an image.

    Where masks overlap, the pixel takes the colour of the higher-scoring detection.

    Args:
        image: The image as predicted on: ``3xHxW`` float in ``[0, 1]`` or uint8 (use
            :func:`~maskrcnn_custom.inference.load_image` for files).
        prediction: Its prediction.
        alpha: Mask opacity.
        boxes: Draw the boxes.
        labels: Caption boxes with the class name (or label) and score.
        width: Box line width.

    Returns:
        A ``uint8`` ``3xHxW`` tensor.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import Prediction
        >>> from maskrcnn_custom.inference import draw_overlay
        >>> p = Prediction(torch.tensor([[1., 1., 6., 6.]]), torch.tensor([1]), torch.tensor([0.9]),
        ...                torch.ones(1, 8, 8, dtype=torch.bool), (8, 8))
        >>> draw_overlay(torch.zeros(3, 8, 8), p).dtype
        torch.uint8
    """
    from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

    img = image if image.dtype == torch.uint8 else (image.clamp(0, 1) * 255).round().to(torch.uint8)
    if img.dim() == 2:
        img = img.unsqueeze(0)
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    img = img[:3].contiguous().cpu()
    if tuple(img.shape[-2:]) != tuple(prediction.image_size):
        raise ValueError(
            f"image is {tuple(img.shape[-2:])} but the prediction is for {prediction.image_size}; pass the image "
            "that was predicted on"
        )
    if len(prediction) == 0:
        return img
    colors = [PALETTE[k % len(PALETTE)] for k in range(len(prediction))]
    # torchvision blacks out overlaps; paint them in the colour of the best detection instead
    ids = torch.from_numpy(prediction.label_image().astype(np.int32))
    disjoint = ids[None] == torch.arange(1, len(prediction) + 1, dtype=torch.int32)[:, None, None]
    img = draw_segmentation_masks(img, disjoint, alpha=alpha, colors=colors)
    if boxes:
        captions = None
        if labels:
            names = prediction.names or [str(i) for i in prediction.labels.tolist()]
            captions = [f"{n} {s:.2f}" for n, s in zip(names, prediction.scores.tolist(), strict=True)]
        img = draw_bounding_boxes(img, prediction.boxes, labels=captions, colors=colors, width=width)
    return img


def save_overlay(
    image: torch.Tensor,
    prediction: Prediction,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    **kwargs: Any,
) -> Path:
    """Write :func:`draw_overlay` as a PNG (or any format Pillow infers from the suffix), atomically.

    Args:
        image: See :func:`draw_overlay`.
        prediction: Its prediction.
        path: The image file.
        overwrite: Replace an existing file at ``path``.
        **kwargs: Passed to :func:`draw_overlay`.

    Raises:
        FileExistsError: If ``path`` exists and ``overwrite`` is false (before anything is drawn).

    Examples:
        >>> import torch, tempfile, os
        >>> from maskrcnn_custom import Prediction
        >>> from maskrcnn_custom.inference import save_overlay
        >>> p = Prediction(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), torch.zeros(0),
        ...                torch.zeros(0, 8, 8, dtype=torch.bool), (8, 8))
        >>> save_overlay(torch.zeros(3, 8, 8), p, os.path.join(tempfile.mkdtemp(), "o.png")).name
        'o.png'
    """
    check_overwrite(path, overwrite=overwrite, what="path")
    img = draw_overlay(image, prediction, **kwargs)
    return _save_png(img.permute(1, 2, 0).numpy(), path)
