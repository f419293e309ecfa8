"""Tiled inference: segment images larger than the model's input size with overlapping sliding windows.

A model trained on 256 px images resizes anything larger down to 256 px, so a thin rod in a 4000 px image
shrinks below a pixel of width. :func:`predict_tiled` instead cuts the image into square tiles of the
model's own size (``tile_size``, default the model's ``min_size``), with neighbouring tiles overlapping by
``tile_overlap`` of a tile; the last tile of each row and column is flush with the image border. Every tile
goes through :func:`~maskrcnn_custom.predict` (``batch_size`` tiles per forward pass), detections are
moved to image coordinates, and an object that several tiles see is merged into one detection.

Merging is mask-aware. Two detections of the same label from two overlapping tiles are the same object
when their masks agree *inside the region both tiles see*: the IoU of the two masks restricted to that
region is at least ``merge_iou``. There both tiles looked at the same pixels, so halves of a rod cut by a
tile border, or a whole object seen twice, agree, while two parallel rods whose boxes overlap do not (box
NMS would fuse or drop them). Merged detections are clustered transitively (an object at a four-tile
corner is seen four times) but a cluster never takes two detections of the same tile. A cluster becomes
one detection: the union of its masks, the union of its boxes and its highest score.

Memory. Masks are kept cropped to their own extent while tiles are processed; only one batch of tiles
has full-tile masks at a time. The peak is about ``12 * H * W`` bytes for the image (float32 RGB), plus one
batch of tiles through the model (as :func:`~maskrcnn_custom.predict` on ``batch_size`` images of
``tile_size`` pixels, with ``4 * D * tile_size**2`` bytes of mask probabilities for ``D`` detections per
tile), plus the cropped masks (one byte per pixel of each detection's extent), plus the returned
:class:`~maskrcnn_custom.Prediction`, whose dense masks take ``N * H * W`` bytes for ``N`` detections.
Images above ``max_image_pixels`` are refused before anything is decoded, and results whose dense masks
would exceed ``max_mask_bytes`` raise before they are allocated.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torchvision.models.detection.mask_rcnn import MaskRCNN

from .._utils.checks import check_number, check_positive_int
from .._utils.progress import progress_bar
from .core import check_model, check_predict_settings, model_class_names, predict_whole
from .inputs import ImageItem, check_images, load_image
from .results import Prediction

__all__ = ["DEFAULT_MAX_IMAGE_PIXELS", "DEFAULT_MAX_MASK_BYTES", "predict_tiled", "tile_windows"]

logger = logging.getLogger(__name__)

#: Largest image :func:`predict_tiled` accepts by default (pixels): 16384 x 16384.
DEFAULT_MAX_IMAGE_PIXELS = 16384 * 16384
#: Largest dense mask tensor (``N * H * W`` bytes) :func:`predict_tiled` assembles by default: 4 GiB.
DEFAULT_MAX_MASK_BYTES = 4 * 2**30
_MIN_TILE = 32


def _check_tile_args(tile_size: Any, tile_overlap: Any) -> tuple[int, float]:
    if isinstance(tile_size, bool) or not isinstance(tile_size, int):
        raise TypeError(f"tile_size must be an int (pixels) or None, got {tile_size!r}")
    if tile_size < _MIN_TILE:
        raise ValueError(
            f"tile_size must be at least {_MIN_TILE} px (the FPN's coarsest stride), got {tile_size}; "
            "use the model's input size (the default)"
        )
    if (
        isinstance(tile_overlap, bool)
        or not isinstance(tile_overlap, (int, float))
        or not math.isfinite(tile_overlap)
    ):
        raise TypeError(f"tile_overlap must be a fraction of tile_size in [0, 1), got {tile_overlap!r}")
    if not 0.0 <= float(tile_overlap) < 1.0:
        raise ValueError(
            f"tile_overlap is a fraction of tile_size and must be in [0, 1), got {tile_overlap!r}; "
            "0.25 (a quarter of a tile) is a good default"
        )
    return tile_size, float(tile_overlap)


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    n = math.ceil((length - tile) / stride) + 1
    return sorted({min(i * stride, length - tile) for i in range(n)})


def tile_windows(
    image_size: Sequence[int], *, tile_size: int, tile_overlap: float = 0.25
) -> list[tuple[int, int, int, int]]:
    """The sliding windows :func:`predict_tiled` runs on an image, as ``(y0, x0, y1, x1)`` pixel bounds.

    Windows are ``tile_size`` square (smaller only along a side shorter than ``tile_size``), step by
    ``tile_size - floor(tile_overlap * tile_size)`` pixels, and the last one of each row and column is flush
    with the border, so the windows cover the whole image. Row-major order.

    Args:
        image_size: ``(height, width)`` of the image.
        tile_size: Side of a window in pixels (at least 32).
        tile_overlap: Overlap of neighbouring windows as a fraction of ``tile_size``, in ``[0, 1)``.

    Returns:
        The windows.

    Raises:
        ValueError: If ``tile_size`` or ``tile_overlap`` is out of range or the size is not positive.
        TypeError: If an argument has the wrong type.

    Examples:
        >>> from maskrcnn_custom.inference import tile_windows
        >>> tile_windows((100, 150), tile_size=64, tile_overlap=0.25)
        [(0, 0, 64, 64), (0, 48, 64, 112), (0, 86, 64, 150), (36, 0, 100, 64), (36, 48, 100, 112), (36, 86, 100, 150)]
    """
    tile_size, tile_overlap = _check_tile_args(tile_size, tile_overlap)
    h, w = (int(v) for v in image_size)
    if h < 1 or w < 1:
        raise ValueError(f"image_size must be positive (height, width), got {tuple(image_size)!r}")
    stride = tile_size - math.floor(tile_overlap * tile_size)
    return [
        (y, x, min(y + tile_size, h), min(x + tile_size, w))
        for y in _starts(h, tile_size, stride)
        for x in _starts(w, tile_size, stride)
    ]


@dataclass
class _Det:
    """One tile's detection in image coordinates, its mask cropped to ``(y0, x0, y1, x1)``."""

    tile: int
    label: int
    score: float
    box: np.ndarray  # float32 (4,) x1, y1, x2, y2
    bounds: tuple[int, int, int, int]
    mask: np.ndarray  # bool, shape (y1 - y0, x1 - x0)


def _crop_detections(pred: Prediction, tile: int, window: tuple[int, int, int, int]) -> list[_Det]:
    ty, tx = window[0], window[1]
    out = []
    masks = pred.masks.numpy()
    for k in range(len(pred)):
        m = masks[k]
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        if len(rows):
            y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        else:
            y0 = y1 = x0 = x1 = 0
        box = pred.boxes[k].numpy().astype(np.float32) + np.array([tx, ty, tx, ty], np.float32)
        out.append(
            _Det(
                tile=tile,
                label=int(pred.labels[k]),
                score=float(pred.scores[k]),
                box=box,
                bounds=(y0 + ty, x0 + tx, y1 + ty, x1 + tx),
                mask=np.ascontiguousarray(m[y0:y1, x0:x1]),
            )
        )
    return out


def _intersect(a: Sequence[int], b: Sequence[int]) -> tuple[int, int, int, int] | None:
    y0, x0, y1, x1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (y0, x0, y1, x1) if y1 > y0 and x1 > x0 else None


def _mask_in(det: _Det, region: tuple[int, int, int, int]) -> np.ndarray:
    """``det``'s mask on ``region`` (zeros where the crop does not reach)."""
    y0, x0, y1, x1 = region
    out = np.zeros((y1 - y0, x1 - x0), bool)
    inner = _intersect(det.bounds, region)
    if inner is not None:
        iy0, ix0, iy1, ix1 = inner
        by, bx = det.bounds[0], det.bounds[1]
        out[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = det.mask[iy0 - by : iy1 - by, ix0 - bx : ix1 - bx]
    return out


def _shared_iou(a: _Det, b: _Det, shared: tuple[int, int, int, int]) -> float:
    """IoU of the two masks inside ``shared`` (the region both tiles see)."""
    region = _intersect(shared, (min(a.bounds[0], b.bounds[0]), min(a.bounds[1], b.bounds[1]),
                                 max(a.bounds[2], b.bounds[2]), max(a.bounds[3], b.bounds[3])))  # fmt: skip
    if region is None:
        return 0.0
    ma, mb = _mask_in(a, region), _mask_in(b, region)
    union = int(np.count_nonzero(ma | mb))
    return int(np.count_nonzero(ma & mb)) / union if union else 0.0


def _merge(dets: list[_Det], windows: list[tuple[int, int, int, int]], merge_iou: float) -> list[list[int]]:
    """Clusters of detection indices: same label, overlapping tiles, masks agreeing where both tiles look."""
    by_tile: dict[int, list[int]] = {}
    for i, d in enumerate(dets):
        by_tile.setdefault(d.tile, []).append(i)
    win = np.asarray(windows, np.int64).reshape(-1, 4)
    pairs: list[tuple[float, int, int]] = []
    for t in sorted(by_tile):
        # Tiles after t that overlap it (vectorised: images can have thousands of tiles).
        later = np.arange(t + 1, len(win))
        w = win[t + 1 :]
        hit = (np.minimum(w[:, 2], win[t, 2]) > np.maximum(w[:, 0], win[t, 0])) & (
            np.minimum(w[:, 3], win[t, 3]) > np.maximum(w[:, 1], win[t, 1])
        )
        for u in later[hit].tolist():
            if u not in by_tile:
                continue
            shared = _intersect(windows[t], windows[u])
            for i in by_tile[t]:
                a = dets[i]
                if _intersect(a.bounds, shared) is None:  # type: ignore[arg-type]
                    continue
                for j in by_tile[u]:
                    b = dets[j]
                    if a.label != b.label or _intersect(a.bounds, b.bounds) is None:
                        continue
                    iou = _shared_iou(a, b, shared)  # type: ignore[arg-type]
                    if iou >= merge_iou:
                        pairs.append((iou, i, j))
    parent = list(range(len(dets)))
    tiles = [{d.tile} for d in dets]

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for _, i, j in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
        ri, rj = root(i), root(j)
        if ri != rj and not (tiles[ri] & tiles[rj]):  # one detection per tile in a cluster
            parent[rj] = ri
            tiles[ri] |= tiles[rj]
    clusters: dict[int, list[int]] = {}
    for i in range(len(dets)):
        clusters.setdefault(root(i), []).append(i)
    return list(clusters.values())


def _fuse(members: list[_Det]) -> _Det:
    if len(members) == 1:
        return members[0]
    nonempty = [d for d in members if d.mask.size]
    if nonempty:
        y0 = min(d.bounds[0] for d in nonempty)
        x0 = min(d.bounds[1] for d in nonempty)
        y1 = max(d.bounds[2] for d in nonempty)
        x1 = max(d.bounds[3] for d in nonempty)
        mask = np.zeros((y1 - y0, x1 - x0), bool)
        for d in nonempty:
            by, bx, ey, ex = d.bounds
            mask[by - y0 : ey - y0, bx - x0 : ex - x0] |= d.mask
        bounds = (y0, x0, y1, x1)
    else:
        mask, bounds = members[0].mask, members[0].bounds
    boxes = np.stack([d.box for d in members])
    box = np.concatenate([boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)]).astype(np.float32)
    return _Det(members[0].tile, members[0].label, max(d.score for d in members), box, bounds, mask)


def _image_hw(item: ImageItem) -> tuple[int, int]:
    """``(height, width)`` of a checked item without decoding it (file paths: header only)."""
    data = item.data
    if isinstance(data, torch.Tensor):
        return int(data.shape[-2]), int(data.shape[-1])
    if isinstance(data, np.ndarray):
        if data.ndim == 2:
            return int(data.shape[0]), int(data.shape[1])
        if data.dtype == np.uint8:  # HxWxC
            return int(data.shape[0]), int(data.shape[1])
        return int(data.shape[1]), int(data.shape[2])  # CxHxW float
    from PIL import Image

    if isinstance(data, Image.Image):
        return int(data.height), int(data.width)
    with Image.open(data) as im:
        return int(im.height), int(im.width)


def _assemble(
    dets: list[_Det], hw: tuple[int, int], item: ImageItem, names: Any, max_mask_bytes: int
) -> Prediction:
    h, w = hw
    dets = sorted(dets, key=lambda d: -d.score)
    need = len(dets) * h * w
    if need > max_mask_bytes:
        raise ValueError(
            f"image {item.index}: {len(dets)} detections of {h}x{w} px need {need / 2**30:.1f} GiB of dense "
            f"masks, above max_mask_bytes={max_mask_bytes}; raise score_threshold, lower max_detections, or "
            "raise max_mask_bytes"
        )
    masks = torch.zeros((len(dets), h, w), dtype=torch.bool)
    for k, d in enumerate(dets):
        y0, x0, y1, x1 = d.bounds
        if d.mask.size:
            masks[k, y0:y1, x0:x1] = torch.from_numpy(d.mask)
    boxes = torch.from_numpy(np.stack([d.box for d in dets])) if dets else torch.zeros((0, 4))
    return Prediction(
        boxes=boxes.to(torch.float32).reshape(-1, 4),
        labels=torch.tensor([d.label for d in dets], dtype=torch.int64),
        scores=torch.tensor([d.score for d in dets], dtype=torch.float32),
        masks=masks,
        image_size=(h, w),
        class_names=names,
        source=item.source,
    )


def predict_tiled(
    model: MaskRCNN,
    images: Any,
    *,
    tile_size: int | None = None,
    tile_overlap: float = 0.25,
    merge_iou: float = 0.5,
    score_threshold: float = 0.5,
    mask_threshold: float = 0.5,
    batch_size: int = 1,
    max_detections: int | None = None,
    num_proposals: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    precision: str = "float32",
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    max_mask_bytes: int = DEFAULT_MAX_MASK_BYTES,
) -> list[Prediction]:
    """Segment large images tile by tile at the model's own scale and merge objects across tile borders.

    See the module documentation for the windows, the mask-aware merge and the memory rule.

    Args:
        model: A torchvision ``MaskRCNN`` (any model this library builds or loads).
        images: One image or a list of images, as for :func:`~maskrcnn_custom.predict`.
        tile_size: Side of the square tiles in pixels, at least 32 (default: the model's ``min_size``, so
            tiles are not resized).
        tile_overlap: Overlap of neighbouring tiles as a fraction of ``tile_size``, in ``[0, 1)``. Objects
            cut by a tile border are merged only when the tiles overlap; make the overlap wider than the
            objects are thick (0.25 of 256 px is 64 px).
        merge_iou: Merge two detections of the same label from overlapping tiles when the IoU of their
            masks inside the region both tiles see is at least this, in ``(0, 1]``.
        score_threshold: Keep detections with ``score > score_threshold``.
        mask_threshold: A pixel belongs to a mask when its probability is ``> mask_threshold``.
        batch_size: Tiles per forward pass.
        max_detections: Most detections per tile (default: the model's).
        num_proposals: RPN proposals per tile at test time (default: the model's).
        device: Run on this device; the model is moved there (default: where the model is).
        progress: Show a tqdm progress bar over the tiles of all images.
        precision: ``"float32"`` or ``"bfloat16"``, as for :func:`~maskrcnn_custom.predict`.
        max_image_pixels: Refuse images with more pixels than this (checked before any image is decoded).
        max_mask_bytes: Refuse to assemble a result whose dense ``bool [N, H, W]`` masks exceed this.

    Returns:
        One :class:`~maskrcnn_custom.Prediction` per image, in input order, on the CPU, with coordinates and
        masks of the whole image, sorted by decreasing score.

    Raises:
        TypeError: If ``model`` is not a Mask R-CNN, an image has an unsupported type, or an argument has
            the wrong type.
        ValueError: For out-of-range tile or threshold arguments, an image above ``max_image_pixels``, or
            a result above ``max_mask_bytes``.
        FileNotFoundError: For an image path that does not exist.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> from maskrcnn_custom.inference import predict_tiled
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None, min_size=64, max_size=64)
        >>> [p] = predict_tiled(model, torch.rand(3, 100, 150), tile_overlap=0.25)
        >>> p.image_size, p.masks.shape[1:]
        ((100, 150), torch.Size([100, 150]))
    """
    check_model(model)
    if tile_size is None:
        tile_size = int(model.transform.min_size[-1])
    tile_size, tile_overlap = _check_tile_args(tile_size, tile_overlap)
    merge_iou = check_number(
        merge_iou, "merge_iou", minimum=0.0, maximum=1.0, min_inclusive=False, hint="0.5 is a good default"
    )
    score_threshold, mask_threshold = check_predict_settings(
        score_threshold=score_threshold,
        mask_threshold=mask_threshold,
        batch_size=batch_size,
        max_detections=max_detections,
        num_proposals=num_proposals,
        progress=progress,
        precision=precision,
    )
    check_positive_int(max_image_pixels, "max_image_pixels")
    check_positive_int(max_mask_bytes, "max_mask_bytes")
    items = check_images(images)
    sizes = [_image_hw(item) for item in items]
    for item, (h, w) in zip(items, sizes, strict=True):
        if h * w > max_image_pixels:
            raise ValueError(
                f"image {item.index} has {h}x{w} = {h * w} pixels, above max_image_pixels={max_image_pixels}; "
                "downscale it, cut it into parts, or raise max_image_pixels if the memory allows "
                "(about 12 bytes per pixel for the image alone)"
            )
    windows = [tile_windows(hw, tile_size=tile_size, tile_overlap=tile_overlap) for hw in sizes]
    names = model_class_names(model)
    settings = {
        "score_threshold": score_threshold,
        "mask_threshold": mask_threshold,
        "batch_size": batch_size,
        "max_detections": max_detections,
        "num_proposals": num_proposals,
        "device": device,
        "precision": precision,
        "progress": False,  # one bar over the tiles, below
    }
    results: list[Prediction] = []
    with progress_bar(total=sum(len(w) for w in windows), desc="tiles", enabled=progress, unit="tile") as bar:
        for item, hw, wins in zip(items, sizes, windows, strict=True):
            image = load_image(item)
            dets: list[_Det] = []
            for start in range(0, len(wins), batch_size):
                chunk = wins[start : start + batch_size]
                tiles = [image[:, y0:y1, x0:x1] for y0, x0, y1, x1 in chunk]
                preds = predict_whole(model, tiles, **settings)
                for k, (win, pred) in enumerate(zip(chunk, preds, strict=True)):
                    dets.extend(_crop_detections(pred, start + k, win))
                bar.update(len(chunk))
            del image
            clusters = _merge(dets, wins, merge_iou)
            merged = [_fuse([dets[i] for i in c]) for c in clusters]
            logger.debug("image %d: %d tiles, %d tile detections, %d merged", item.index, len(wins), len(dets),
                         len(merged))  # fmt: skip
            results.append(_assemble(merged, hw, item, names, max_mask_bytes))
    return results
