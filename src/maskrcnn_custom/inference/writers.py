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
    "PALETTE",
    "draw_comparison",
    "draw_overlay",
    "instance_mask_files",
    "match_colours",
    "save_coco_results",
    "save_instance_masks",
    "save_label_image",
    "save_overlay",
    "target_prediction",
    "to_coco_results",
]

#: Clearly distinct colours for overlays (RGB), cycled per detection (a subset of Sasha Trubetskoy's list).
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


def _as_rgb_uint8(image: torch.Tensor) -> torch.Tensor:
    """``image`` (``HxW``, ``1xHxW`` or ``3xHxW``, float in ``[0, 1]`` or uint8) as a ``3xHxW`` uint8 CPU tensor."""
    img = image if image.dtype == torch.uint8 else (image.clamp(0, 1) * 255).round().to(torch.uint8)
    if img.dim() == 2:
        img = img.unsqueeze(0)
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    return img[:3].contiguous().cpu()


def _upscale(tensor: torch.Tensor, scale: int) -> torch.Tensor:
    """Nearest-neighbour upscaling of the last two dimensions by an integer factor."""
    if scale == 1:
        return tensor
    return tensor.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)


def _text_colour(background: Sequence[int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``background`` (relative luminance)."""
    r, g, b = background[:3]
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def _draw_captions(
    img: torch.Tensor,
    boxes: torch.Tensor,
    captions: Sequence[str],
    colors: Sequence[tuple[int, int, int]],
    *,
    font_size: int,
) -> torch.Tensor:
    """Caption each box where the caption fits: above its top-left corner, else just inside it, else below it.

    Captions are placed in the given order (highest score first); one that would leave the image or overlap a
    caption already placed is skipped, so the picture never shows clipped or stacked text.
    """
    from PIL import Image, ImageDraw

    from .._utils.drawing import font, text_size

    pil = Image.fromarray(img.permute(1, 2, 0).numpy())
    draw = ImageDraw.Draw(pil)
    typeface = font(font_size)
    width, height = pil.size
    placed: list[tuple[float, float, float, float]] = []
    for (x1, y1, _, y2), text, colour in zip(boxes.tolist(), captions, colors, strict=True):
        tw, th = text_size(draw, text, typeface)
        w, h = tw + 6, th + 4
        for left, top in ((x1, y1 - h), (x1, y1 + 1), (x1, y2 + 1)):
            rect = (left, top, left + w, top + h)
            inside = rect[0] >= 0 and rect[1] >= 0 and rect[2] <= width and rect[3] <= height
            free = all(
                rect[2] <= o[0] or o[2] <= rect[0] or rect[3] <= o[1] or o[3] <= rect[1] for o in placed
            )
            if inside and free:
                placed.append(rect)
                draw.rectangle((rect[0], rect[1], rect[2] - 1, rect[3] - 1), fill=colour)
                draw.text((left + 3, top + 2), text, fill=_text_colour(colour), font=typeface, anchor="lt")
                break
    return torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1).contiguous()


def _check_overlay_arguments(alpha: Any, width: Any, scale: Any, score_threshold: Any) -> None:
    from .._utils.checks import check_fraction, check_int, check_number

    check_number(alpha, "alpha", minimum=0, maximum=1, hint="0.5 shows the image through the masks")
    check_int(width, "width", minimum=0, maximum=16, hint="1 or 2 px keep thin objects visible")
    check_int(scale, "scale", minimum=1, maximum=32, hint="2 turns a 256 px image into 512 px")
    if score_threshold is not None:
        check_fraction(score_threshold, "score_threshold")


def draw_overlay(
    image: torch.Tensor,
    prediction: Prediction,
    *,
    alpha: float = 0.5,
    boxes: bool = True,
    labels: bool = True,
    width: int = 1,
    score_threshold: float | None = None,
    scale: int = 1,
    colors: Sequence[tuple[int, int, int]] | None = None,
    font_size: int = 13,
) -> torch.Tensor:
    """Draw filled, semi-transparent masks, thin boxes and score captions that fit on an image.

    Each detection gets its own colour of :data:`PALETTE` (12 clearly distinct colours, cycled); where masks
    overlap, the pixel takes the colour of the higher-scoring detection. Captions (``"<class> <score>"``) are
    placed from the highest score down, above the box, else just inside it, else below it; a caption that would
    leave the picture or overlap one already drawn is left out.

    Args:
        image: The image as predicted on: ``3xHxW`` float in ``[0, 1]`` or uint8 (use
            :func:`~maskrcnn_custom.inference.load_image` for files).
        prediction: Its prediction.
        alpha: Mask opacity in ``[0, 1]``.
        boxes: Draw the boxes.
        labels: Caption boxes with the class name (or label) and score.
        width: Box line width in pixels of the output picture (0 draws no box lines).
        score_threshold: Draw only the detections with ``score > score_threshold`` (as
            :func:`~maskrcnn_custom.predict` keeps them); ``None`` draws every detection.
        scale: Integer nearest-neighbour upscaling of the picture (masks and boxes with it), e.g. 2 to show a
            256 px image at 512 px so that thin objects stay visible.
        colors: One RGB colour per detection of ``prediction`` (before the threshold), instead of the palette.
        font_size: Caption font size in pixels.

    Returns:
        A ``uint8`` ``3 x (H * scale) x (W * scale)`` tensor.

    Raises:
        ValueError: If ``image`` does not have the prediction's size, or an argument is out of range, or
            ``colors`` does not have one colour per detection.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import Prediction
        >>> from maskrcnn_custom.inference import draw_overlay
        >>> p = Prediction(torch.tensor([[1., 1., 6., 6.]]), torch.tensor([1]), torch.tensor([0.9]),
        ...                torch.ones(1, 8, 8, dtype=torch.bool), (8, 8))
        >>> draw_overlay(torch.zeros(3, 8, 8), p, scale=4).shape
        torch.Size([3, 32, 32])
    """
    from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

    _check_overlay_arguments(alpha, width, scale, score_threshold)
    img = _as_rgb_uint8(image)
    if tuple(img.shape[-2:]) != tuple(prediction.image_size):
        raise ValueError(
            f"image is {tuple(img.shape[-2:])} but the prediction is for {prediction.image_size}; pass the image "
            "that was predicted on"
        )
    if colors is None:
        colors = [PALETTE[k % len(PALETTE)] for k in range(len(prediction))]
    elif len(colors) != len(prediction):
        raise ValueError(
            f"colors has {len(colors)} entries for {len(prediction)} detections; give one RGB tuple per detection"
        )
    if score_threshold is not None:
        keep = (prediction.scores > score_threshold).tolist()
        colors = [c for c, k in zip(colors, keep, strict=True) if k]
        prediction = prediction.filter(score_threshold=score_threshold)
    img = _upscale(img, scale)
    if len(prediction) == 0:
        return img
    colors = [tuple(int(v) for v in c) for c in colors]
    # torchvision blacks out overlaps; paint them in the colour of the best detection instead
    ids = _upscale(torch.from_numpy(prediction.label_image().astype(np.int32)), scale)
    disjoint = ids[None] == torch.arange(1, len(prediction) + 1, dtype=torch.int32)[:, None, None]
    img = draw_segmentation_masks(img, disjoint, alpha=alpha, colors=colors)
    scaled_boxes = prediction.boxes.float() * scale
    if boxes and width > 0:
        # x2/y2 are one past the last pixel: the outline's right/bottom edge is the last pixel of the object
        outline = scaled_boxes - torch.tensor([0.0, 0.0, 1.0, 1.0])
        img = draw_bounding_boxes(img, outline.clamp(min=0), colors=colors, width=width)
    if labels:
        names = prediction.names or [str(i) for i in prediction.labels.tolist()]
        captions = [f"{n} {s:.2f}" for n, s in zip(names, prediction.scores.tolist(), strict=True)]
        order = torch.argsort(prediction.scores, descending=True, stable=True).tolist()
        img = _draw_captions(
            img,
            scaled_boxes[order],
            [captions[k] for k in order],
            [colors[k] for k in order],
            font_size=font_size,
        )
    return img


def target_prediction(target: Mapping[str, Any], *, image_size: Sequence[int]) -> Prediction:
    """A ground-truth target (``boxes``, ``labels``, ``masks``) as a :class:`Prediction` with scores 1.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.inference.writers import target_prediction
        >>> t = {"boxes": torch.tensor([[0., 0., 2., 2.]]), "labels": torch.tensor([1]),
        ...      "masks": torch.ones(1, 4, 4, dtype=torch.uint8)}
        >>> len(target_prediction(t, image_size=(4, 4)))
        1
    """
    for key in ("boxes", "labels", "masks"):
        if key not in target:
            raise ValueError(f"target lacks {key!r}; pass a target with boxes, labels and masks")
    n = len(target["boxes"])
    return Prediction(
        boxes=torch.as_tensor(target["boxes"]).float().reshape(n, 4),
        labels=torch.as_tensor(target["labels"]).long(),
        scores=torch.ones(n),
        masks=torch.as_tensor(target["masks"]).bool(),
        image_size=(int(image_size[0]), int(image_size[1])),
    )


def match_colours(
    truth: Prediction, prediction: Prediction, *, iou_threshold: float = 0.5
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]], int]:
    """Colours for a ground truth / prediction pair: a detection takes the colour of the object it matches.

    Detections are matched greedily from the highest score down to the unmatched object of highest mask IoU,
    if that IoU is at least ``iou_threshold``; unmatched detections take palette colours no object uses.

    Returns:
        ``(truth colours, prediction colours, number of matched detections)``.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import Prediction
        >>> from maskrcnn_custom.inference.writers import PALETTE, match_colours
        >>> m = torch.zeros(1, 4, 4, dtype=torch.bool); m[0, :2] = True
        >>> p = Prediction(torch.tensor([[0., 0., 4., 2.]]), torch.tensor([1]), torch.tensor([0.9]), m, (4, 4))
        >>> truth_colours, pred_colours, matched = match_colours(p, p)
        >>> pred_colours == truth_colours == [PALETTE[0]], matched
        (True, 1)
    """
    truth_colours = [PALETTE[k % len(PALETTE)] for k in range(len(truth))]
    spare = [c for c in PALETTE if c not in truth_colours] or list(PALETTE)
    pred_colours: list[tuple[int, int, int]] = [spare[0]] * len(prediction)
    matched = 0
    if len(truth) and len(prediction):
        p = prediction.masks.flatten(1).float()
        g = truth.masks.flatten(1).float()
        inter = p @ g.T
        union = p.sum(1, keepdim=True) + g.sum(1)[None] - inter
        iou = inter / union.clamp(min=1)
    used: set[int] = set()
    next_spare = 0
    for k in torch.argsort(prediction.scores, descending=True, stable=True).tolist():
        best = -1
        if len(truth):
            ranked = [j for j in torch.argsort(iou[k], descending=True).tolist() if j not in used]
            if ranked and float(iou[k, ranked[0]]) >= iou_threshold:
                best = ranked[0]
        if best >= 0:
            used.add(best)
            pred_colours[k] = truth_colours[best]
            matched += 1
        else:
            pred_colours[k] = spare[next_spare % len(spare)]
            next_spare += 1
    return truth_colours, pred_colours, matched


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def draw_comparison(
    image: torch.Tensor,
    target: Mapping[str, Any],
    prediction: Prediction,
    *,
    score_threshold: float = 0.5,
    min_panel_size: int = 512,
    alpha: float = 0.5,
    width: int = 1,
) -> torch.Tensor:
    """Ground truth and prediction side by side, each panel upscaled to at least ``min_panel_size`` pixels.

    The left panel shows the target's objects, the right one the detections with ``score > score_threshold``;
    each has a header with its counts (``"ground truth: 5 objects"``, ``"prediction: 4 detections with score >
    0.5"``). Masks are filled in distinct semi-transparent colours, boxes are 1-2 px outlines, and a detection
    that matches an object (mask IoU >= 0.5) has that object's colour, so the same colour on both sides means
    the same object; a footer says so and how many detections matched. The image is upscaled with nearest
    neighbours by the smallest integer factor that makes both sides at least ``min_panel_size``.

    Args:
        image: The image (``3xHxW`` float in ``[0, 1]`` or uint8).
        target: Its ground truth, with ``boxes`` (XYXY), ``labels`` and ``masks`` (``NxHxW``).
        prediction: The model's prediction on ``image``.
        score_threshold: Detections with ``score > score_threshold`` are drawn and counted.
        min_panel_size: Smallest side of each panel in pixels (at most 4096).
        alpha: Mask opacity.
        width: Box outline width in pixels.

    Returns:
        A ``uint8`` ``3 x H' x W'`` tensor: two headed panels on a white background, and a footer.

    Raises:
        ValueError: If the image, target and prediction sizes disagree, or an argument is out of range.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import Prediction
        >>> from maskrcnn_custom.inference import draw_comparison
        >>> m = torch.zeros(1, 64, 64, dtype=torch.bool); m[0, 10:50, 30:34] = True
        >>> t = {"boxes": torch.tensor([[30., 10., 34., 50.]]), "labels": torch.tensor([1]), "masks": m}
        >>> p = Prediction(t["boxes"], t["labels"], torch.tensor([0.9]), m, (64, 64))
        >>> picture = draw_comparison(torch.zeros(3, 64, 64), t, p)
        >>> picture.shape[1] >= 512 and picture.shape[2] >= 2 * 512
        True
    """
    from PIL import Image, ImageDraw

    from .._utils.checks import check_int
    from .._utils.drawing import font, text_size

    check_int(min_panel_size, "min_panel_size", minimum=1, maximum=4096, hint="512 suits a screen")
    _check_overlay_arguments(alpha, width, 1, score_threshold)
    img = _as_rgb_uint8(image)
    h, w = int(img.shape[-2]), int(img.shape[-1])
    truth = target_prediction(target, image_size=(h, w))
    if tuple(truth.masks.shape[-2:]) != (h, w) and len(truth):
        raise ValueError(f"target masks are {tuple(truth.masks.shape[-2:])} but the image is {(h, w)}")
    shown = prediction.filter(score_threshold=score_threshold)
    truth_colours, pred_colours, matched = match_colours(truth, shown)
    scale = max(1, -(-min_panel_size // min(h, w)))
    left = draw_overlay(img, truth, labels=False, width=width, alpha=alpha, scale=scale, colors=truth_colours)
    right = draw_overlay(img, shown, width=width, alpha=alpha, scale=scale, colors=pred_colours)
    ph, pw = int(left.shape[-2]), int(left.shape[-1])
    header, gap, footer, margin = 34, 16, 30, 8
    canvas = Image.new("RGB", (2 * pw + gap + 2 * margin, header + ph + footer + margin), "white")
    canvas.paste(Image.fromarray(left.permute(1, 2, 0).numpy()), (margin, header))
    canvas.paste(Image.fromarray(right.permute(1, 2, 0).numpy()), (margin + pw + gap, header))
    draw = ImageDraw.Draw(canvas)
    big, small = font(18), font(14)
    titles = (
        f"ground truth: {_plural(len(truth), 'object')}",
        f"prediction: {_plural(len(shown), 'detection')} with score > {score_threshold:g}",
    )
    for i, title in enumerate(titles):
        x = margin + i * (pw + gap)
        draw.rectangle((x, 2, x + pw - 1, header - 4), fill=(236, 236, 236))
        draw.text((x + 8, header // 2 - 1), title, fill="black", font=big, anchor="lm")
    note = (
        f"same colour = same object ({matched} of {len(shown)} detections match an object with mask IoU >= 0.5); "
        f"shown {scale}x"
    )
    if text_size(draw, note, small)[0] > canvas.width - 2 * margin:
        note = f"same colour = same object: {matched} of {len(shown)} match; {scale}x"
    draw.text((margin, header + ph + footer // 2), note, fill=(60, 60, 60), font=small, anchor="lm")
    return torch.from_numpy(np.asarray(canvas).copy()).permute(2, 0, 1).contiguous()


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
