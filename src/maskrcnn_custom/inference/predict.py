"""``predict``: thresholded, typed Mask R-CNN inference on anything that looks like an image."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models.detection.mask_rcnn import MaskRCNN

from .inputs import ImageItem, check_images, load_image
from .precision import check_precision, reduced_precision
from .results import Prediction

__all__ = ["check_model", "inference_settings", "predict"]

logger = logging.getLogger(__name__)


def check_model(model: Any, *, name: str = "model") -> MaskRCNN:
    """Return ``model`` if it is a torchvision Mask R-CNN with a mask branch, else raise ``TypeError``.

    Args:
        model: The object to check.
        name: Name of the parameter, for the error message.

    Returns:
        The model.

    Raises:
        TypeError: If it is not a ``MaskRCNN``.

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> from maskrcnn_custom.inference import check_model
        >>> model = check_model(maskrcnn_resnet18_fpn(weights_backbone=None))
    """
    if not isinstance(model, MaskRCNN) or not model.roi_heads.has_mask():
        raise TypeError(
            f"{name} must be a torchvision MaskRCNN with a mask branch (e.g. from maskrcnn_custom.maskrcnn_resnet101_fpn "
            f"or maskrcnn_custom.from_pretrained), got {type(model).__name__}"
        )
    return model


def _check_fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a float in [0, 1), got {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}; 0.5 is a good default")
    return float(value)


def _check_positive_int(value: Any, name: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int{' or None' if allow_none else ''}, got {value!r}")
    return value


@contextlib.contextmanager
def inference_settings(
    model: MaskRCNN,
    *,
    score_threshold: float,
    max_detections: int | None = None,
    num_proposals: int | None = None,
) -> Iterator[MaskRCNN]:
    """Put ``model`` in eval mode with test-time settings for the duration of a ``with`` block.

    torchvision's ``RoIHeads`` drops detections with ``score <= roi_heads.score_thresh`` before it runs the
    mask branch, so setting that threshold to the user's one means masks are computed only for the
    detections that are kept. Everything is restored on exit, also after an exception.

    Args:
        model: The Mask R-CNN.
        score_threshold: Detections need ``score > score_threshold``.
        max_detections: Most detections per image (``roi_heads.detections_per_img``); ``None`` keeps the model's.
        num_proposals: RPN proposals kept per image after NMS (``rpn.post_nms_top_n`` at test time);
            ``None`` keeps the model's (torchvision: 1000).

    Yields:
        The model.

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> from maskrcnn_custom.inference import inference_settings
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None)
        >>> with inference_settings(model, score_threshold=0.5):
        ...     model.roi_heads.score_thresh
        0.5
        >>> model.roi_heads.score_thresh, model.training
        (0.05, True)
    """
    heads, rpn = model.roi_heads, model.rpn
    saved = (model.training, heads.score_thresh, heads.detections_per_img, dict(rpn._post_nms_top_n))
    try:
        model.eval()
        heads.score_thresh = score_threshold
        if max_detections is not None:
            heads.detections_per_img = max_detections
        if num_proposals is not None:
            rpn._post_nms_top_n = {**rpn._post_nms_top_n, "testing": num_proposals}
        yield model
    finally:
        model.train(saved[0])
        heads.score_thresh, heads.detections_per_img, rpn._post_nms_top_n = saved[1], saved[2], saved[3]


def _class_names(model: nn.Module) -> tuple[str, ...] | None:
    config = getattr(model, "config", None)
    names = getattr(config, "class_names", None)
    return None if names is None else tuple(names)


def _batches(items: Sequence[ImageItem], size: int) -> Iterator[Sequence[ImageItem]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _progress(total: int, enabled: bool, desc: str) -> Any:
    if not enabled:
        return contextlib.nullcontext(None)
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise ImportError("progress=True needs tqdm: pip install tqdm (or pass progress=False)") from exc
    return tqdm(total=total, desc=desc, unit="img")


def predict(
    model: MaskRCNN,
    images: Any,
    *,
    score_threshold: float = 0.5,
    mask_threshold: float = 0.5,
    batch_size: int = 1,
    max_detections: int | None = None,
    num_proposals: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    precision: str = "float32",
) -> list[Prediction]:
    """Segment images with a Mask R-CNN and return thresholded, typed results, one per image.

    The score threshold is applied inside the model, before the mask branch, so masks are computed only
    for the detections that are returned (plain torchvision computes them for up to 100 detections above
    0.05, which dominates CPU time). Runs under ``torch.inference_mode`` with the model in eval mode; the
    model's mode and settings are restored afterwards.

    Args:
        model: A torchvision ``MaskRCNN`` (any model this library builds or loads).
        images: One image or a list of images: ``torch.Tensor`` (``CxHxW`` / ``HxW``, float in ``[0, 1]`` or
            uint8; a 4-D ``NxCxHxW`` tensor is ``N`` images), ``numpy.ndarray`` (``HxWxC`` / ``HxW`` uint8, or
            ``CxHxW`` / ``HxW`` float in ``[0, 1]``), ``PIL.Image.Image``, or a file path. Grayscale is
            replicated to RGB and alpha is dropped. Every item is checked before inference starts.
        score_threshold: Keep detections with ``score > score_threshold``.
        mask_threshold: A pixel belongs to a mask when its probability is ``> mask_threshold``.
        batch_size: Images per forward pass.
        max_detections: Most detections per image (default: the model's ``box_detections_per_img``, 100).
        num_proposals: RPN proposals per image at test time (default: the model's, 1000). Fewer is faster;
            check on your data that the detections stay the same.
        device: Run on this device; the model is moved there (default: where the model is).
        progress: Show a tqdm progress bar.
        precision: ``"float32"`` (default) or ``"bfloat16"``: run the backbone, FPN, RPN head and RoI heads
            under bfloat16 autocast (CPU or CUDA) while anchors, box decoding, NMS, RoIAlign and mask
            pasting stay float32 (see :mod:`maskrcnn_custom.inference.precision`); results are float32.
            About 2x the matmul throughput on CPUs with AVX512-BF16 or AMX; check the accuracy on your data.

    Returns:
        One :class:`Prediction` per image, in input order, on the CPU.

    Raises:
        TypeError: If ``model`` is not a Mask R-CNN or an image has an unsupported type (its index is named).
        ValueError: For thresholds outside ``[0, 1)``, a bad ``batch_size`` or ``precision``, or an image of
            the wrong shape.
        FileNotFoundError: For an image path that does not exist.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn, predict
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None)
        >>> [p] = predict(model, torch.rand(3, 64, 64))
        >>> p.masks.dtype, p.image_size
        (torch.bool, (64, 64))
    """
    check_model(model)
    score_threshold = _check_fraction(score_threshold, "score_threshold")
    mask_threshold = _check_fraction(mask_threshold, "mask_threshold")
    _check_positive_int(batch_size, "batch_size")
    _check_positive_int(max_detections, "max_detections", allow_none=True)
    _check_positive_int(num_proposals, "num_proposals", allow_none=True)
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    check_precision(precision)
    items = check_images(images)
    if device is not None:
        model.to(torch.device(device))
    param = next(model.parameters(), None)
    run_device = param.device if param is not None else torch.device("cpu")
    names = _class_names(model)
    results: list[Prediction] = []
    with (
        inference_settings(
            model, score_threshold=score_threshold, max_detections=max_detections, num_proposals=num_proposals
        ),
        torch.inference_mode(),
        reduced_precision(model, precision, run_device.type),
        _progress(len(items), progress, "predict") as bar,
    ):
        for batch in _batches(items, batch_size):
            tensors = [load_image(item) for item in batch]
            outputs = model([t.to(run_device) for t in tensors])
            for item, tensor, out in zip(batch, tensors, outputs, strict=True):
                results.append(
                    Prediction.from_raw(
                        out["boxes"],
                        out["labels"],
                        out["scores"],
                        out["masks"],
                        image_size=tuple(tensor.shape[-2:]),
                        mask_threshold=mask_threshold,
                        class_names=names,
                        source=item.source,
                    )
                )
            if bar is not None:
                bar.update(len(batch))
    logger.debug("predicted %d images, %d detections", len(results), sum(len(r) for r in results))
    return results
