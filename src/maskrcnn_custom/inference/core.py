"""What ``predict`` and ``predict_tiled`` share: the model check, test-time settings, whole-image inference."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models.detection.mask_rcnn import MaskRCNN

from .._utils.checks import check_fraction, check_optional_positive_int, check_positive_int
from .._utils.progress import progress_bar
from .inputs import ImageItem, check_images, load_image
from .precision import check_precision, reduced_precision
from .results import Prediction

__all__ = [
    "check_model",
    "check_predict_settings",
    "inference_settings",
    "model_class_names",
    "predict_whole",
]

logger = logging.getLogger("maskrcnn_custom.inference.predict")


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


def model_class_names(model: nn.Module) -> tuple[str, ...] | None:
    """The class names a model built by this library carries in ``model.config`` (``None`` if it has none).

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> from maskrcnn_custom.inference.predict import model_class_names
        >>> model_class_names(maskrcnn_resnet18_fpn(weights_backbone=None, class_names=["bg", "rod"]))
        ('bg', 'rod')
    """
    config = getattr(model, "config", None)
    names = getattr(config, "class_names", None)
    return None if names is None else tuple(names)


def _batches(items: Sequence[ImageItem], size: int) -> Iterator[Sequence[ImageItem]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def check_predict_settings(
    *,
    score_threshold: Any,
    mask_threshold: Any,
    batch_size: Any,
    max_detections: Any,
    num_proposals: Any,
    progress: Any,
    precision: Any = "float32",
) -> tuple[float, float]:
    """Check the settings ``predict`` and ``predict_tiled`` share; return the two thresholds as floats.

    Raises:
        ValueError: For a threshold outside ``[0, 1)``, a count that is not a positive int, or an unknown
            ``precision``.
        TypeError: If ``progress`` is not a bool or a threshold not a number.

    Examples:
        >>> from maskrcnn_custom.inference.core import check_predict_settings
        >>> check_predict_settings(score_threshold=0.5, mask_threshold=0, batch_size=1, max_detections=None,
        ...                        num_proposals=None, progress=False)
        (0.5, 0.0)
    """
    thresholds = (
        check_fraction(score_threshold, "score_threshold"),
        check_fraction(mask_threshold, "mask_threshold"),
    )
    check_positive_int(batch_size, "batch_size")
    check_optional_positive_int(max_detections, "max_detections")
    check_optional_positive_int(num_proposals, "num_proposals")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    check_precision(precision)
    return thresholds


def predict_whole(
    model: MaskRCNN,
    images: Any,
    *,
    score_threshold: float,
    mask_threshold: float,
    batch_size: int,
    max_detections: int | None,
    num_proposals: int | None,
    device: str | torch.device | None,
    progress: bool,
    precision: str = "float32",
) -> list[Prediction]:
    """:func:`~maskrcnn_custom.predict` without tiling: every image runs whole.

    The arguments are :func:`~maskrcnn_custom.predict`'s, all given (it is the one place that fills in the
    defaults), and are checked here.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> from maskrcnn_custom.inference.core import predict_whole
        >>> settings = dict(score_threshold=0.5, mask_threshold=0.5, batch_size=1, max_detections=None,
        ...                 num_proposals=None, device=None, progress=False)
        >>> [p] = predict_whole(maskrcnn_resnet18_fpn(weights_backbone=None), torch.rand(3, 64, 64), **settings)
        >>> p.image_size
        (64, 64)
    """
    check_model(model)
    score_threshold, mask_threshold = check_predict_settings(
        score_threshold=score_threshold,
        mask_threshold=mask_threshold,
        batch_size=batch_size,
        max_detections=max_detections,
        num_proposals=num_proposals,
        progress=progress,
        precision=precision,
    )
    items = check_images(images)
    if device is not None:
        model.to(torch.device(device))
    param = next(model.parameters(), None)
    run_device = param.device if param is not None else torch.device("cpu")
    names = model_class_names(model)
    results: list[Prediction] = []
    with (
        inference_settings(
            model, score_threshold=score_threshold, max_detections=max_detections, num_proposals=num_proposals
        ),
        torch.inference_mode(),
        reduced_precision(model, precision, run_device.type),
        progress_bar(total=len(items), desc="predict", enabled=progress, unit="img") as bar,
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
            bar.update(len(batch))
    logger.debug("predicted %d images, %d detections", len(results), sum(len(r) for r in results))
    return results
