"""``predict``: thresholded, typed Mask R-CNN inference on anything that looks like an image."""

from __future__ import annotations

from typing import Any

import torch
from torchvision.models.detection.mask_rcnn import MaskRCNN

from .core import check_model, inference_settings, model_class_names, predict_whole
from .results import Prediction
from .tiling import predict_tiled

__all__ = ["check_model", "inference_settings", "model_class_names", "predict"]


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
    tile_size: int | None = None,
    tile_overlap: float = 0.25,
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
        tile_size: Run tiled inference with square tiles of this many pixels (see
            :func:`~maskrcnn_custom.inference.predict_tiled`, which has more options); ``None`` (default)
            runs every image whole.
        tile_overlap: Overlap of neighbouring tiles as a fraction of ``tile_size``, in ``[0, 1)``; used only
            with ``tile_size``.
        precision: ``"float32"`` (default) or ``"bfloat16"``: run the backbone, FPN, RPN head and RoI heads
            under bfloat16 autocast (CPU or CUDA) while anchors, box decoding, NMS, RoIAlign and mask
            pasting stay float32 (see :mod:`maskrcnn_custom.inference.precision`); results are float32.
            Faster only where the hardware has bfloat16 units (AVX512-BF16 or AMX on CPU, recent GPUs);
            elsewhere it is emulated and slower. Check the accuracy on your data.

    Returns:
        One :class:`Prediction` per image, in input order, on the CPU.

    Raises:
        TypeError: If ``model`` is not a Mask R-CNN or an image has an unsupported type (its index is named).
        ValueError: For thresholds outside ``[0, 1)``, a bad ``batch_size``, or an image of the wrong shape.
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
    settings: dict[str, Any] = {
        "score_threshold": score_threshold,
        "mask_threshold": mask_threshold,
        "batch_size": batch_size,
        "max_detections": max_detections,
        "num_proposals": num_proposals,
        "device": device,
        "progress": progress,
        "precision": precision,
    }
    if tile_size is not None:  # tiled inference: delegated to predict_tiled
        return predict_tiled(model, images, tile_size=tile_size, tile_overlap=tile_overlap, **settings)
    return predict_whole(model, images, **settings)
