"""Export a Mask R-CNN to ONNX with the score and mask thresholds as run-time inputs.

The graph takes one image and two scalars and returns the thresholded detections:

========================  ==================  ==========================================================
name                      type and shape      meaning
========================  ==================  ==========================================================
``image`` (input)         float32 [3, H, W]   RGB in [0, 1]; ``H`` and ``W`` are dynamic axes
``score_threshold`` (in)  float32 []          keep detections with ``score > score_threshold``; applied
                                              before the mask head, as in :func:`~maskrcnn_custom.predict`
``mask_threshold`` (in)   float32 []          a pixel is in a mask when its probability is above it
``boxes`` (output)        float32 [N, 4]      ``x1, y1, x2, y2`` in input pixels; ``N`` is dynamic
``labels`` (output)       int64 [N]           class indices
``scores`` (output)       float32 [N]         class scores, decreasing
``masks`` (output)        bool [N, H, W]      binary masks at the input size
========================  ==================  ==========================================================

The model's resize to ``min_size``/``max_size`` is part of the graph, so any image size works.

**Batches** (``export_onnx(..., batch_size=N)`` with ``N > 1``): torchvision's detection post-processing
loops over the images of a batch in Python, which the tracing exporter unrolls, so a file holds one fixed
batch size. Such a graph takes ``images`` float32 ``[N, 3, H, W]`` (``H`` and ``W`` dynamic, one size for
the whole batch) instead of ``image``, returns the detections of all ``N`` images concatenated in image
order, and one more output, ``detections_per_image`` int64 ``[N]``, that splits them (0 for an image
without detections). :class:`~maskrcnn_custom.export.OnnxPredictor` groups consecutive images of the same
size into batches and pads the last one with blank images whose outputs it drops. A batch-1 file (the
default) runs a list of images one by one.

**int8** (``export_onnx(..., quantize="int8", calibration=images)``): see
:mod:`maskrcnn_custom.export.quantize`.

The export uses PyTorch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``), which
handles torchvision's detection models; the ``torch.export``-based default of PyTorch >= 2.9 does not
support their data-dependent shapes. PyTorch still ships that exporter (checked with 2.14) but marks
TorchScript deprecated; its warnings are silenced here.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models.detection.mask_rcnn import MaskRCNN

from .._utils.atomic import atomic_path, check_overwrite
from .._utils.checks import check_int, check_optional_positive_int, check_positive_int
from .._utils.optional import require
from .._version import __version__
from ..inference.core import check_model, inference_settings, model_class_names
from .quantize import check_calibration, quantize_int8

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "export_onnx", "require_onnx"]

logger = logging.getLogger(__name__)

#: Default ONNX opset (ONNX Runtime >= 1.14 runs it).
DEFAULT_OPSET = 17
#: Oldest opset with GridSample, which the sub-pixel mask paste (``mask_paste="exact"``) exports to.
EXACT_PASTE_MIN_OPSET = 16
#: Oldest opset torchvision's detection ops (RoIAlign, NMS) export to.
MIN_OPSET = 11
#: Inputs and outputs of the exported graph.
INPUT_NAMES = ("image", "score_threshold", "mask_threshold")
OUTPUT_NAMES = ("boxes", "labels", "scores", "masks")
#: Inputs and outputs of a graph exported with ``batch_size > 1``.
BATCH_INPUT_NAMES = ("images", "score_threshold", "mask_threshold")
BATCH_OUTPUT_NAMES = (*OUTPUT_NAMES, "detections_per_image")
DYNAMIC_AXES = {
    "image": {1: "height", 2: "width"},
    "boxes": {0: "detections"},
    "labels": {0: "detections"},
    "scores": {0: "detections"},
    "masks": {0: "detections", 1: "height", 2: "width"},
}
BATCH_DYNAMIC_AXES = {**DYNAMIC_AXES, "images": {2: "height", 3: "width"}}
BATCH_DYNAMIC_AXES.pop("image")


def require_onnx(what: str = "ONNX export") -> Any:
    """Import and return the ``onnx`` package, or raise an ImportError naming the ``[onnx]`` extra."""
    return require("onnx", extra="onnx", purpose=what)


class _ThresholdedMaskRCNN(nn.Module):
    """One image and two thresholds in, thresholded detections out (the traced graph)."""

    def __init__(self, model: MaskRCNN) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, image: torch.Tensor, score_threshold: torch.Tensor, mask_threshold: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        # A tensor threshold is traced as a graph input, so RoIHeads filters by it before the mask head.
        self.model.roi_heads.score_thresh = score_threshold
        out = self.model([image])[0]
        return out["boxes"], out["labels"], out["scores"], out["masks"][:, 0] > mask_threshold


class _BatchedThresholdedMaskRCNN(_ThresholdedMaskRCNN):
    """``N`` images in, their detections concatenated plus the count per image out (the traced graph)."""

    def forward(  # type: ignore[override]
        self, images: torch.Tensor, score_threshold: torch.Tensor, mask_threshold: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        self.model.roi_heads.score_thresh = score_threshold
        outs = self.model(list(images.unbind(0)))
        # _shape_as_tensor keeps each count a traced value (len() would freeze the example's counts).
        counts = torch.stack([torch._shape_as_tensor(o["scores"])[0] for o in outs])
        return (
            torch.cat([o["boxes"] for o in outs]),
            torch.cat([o["labels"] for o in outs]),
            torch.cat([o["scores"] for o in outs]),
            torch.cat([o["masks"][:, 0] for o in outs]) > mask_threshold,
            counts,
        )


def export_onnx(
    model: MaskRCNN,
    path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    image_size: int = 256,
    max_detections: int | None = None,
    num_proposals: int | None = None,
    check: bool = True,
    batch_size: int = 1,
    quantize: str | None = None,
    calibration: Any = None,
    overwrite: bool = False,
) -> Path:
    """Export ``model`` to an ONNX file that :class:`~maskrcnn_custom.export.OnnxPredictor` runs.

    The score and mask thresholds are inputs of the graph (see the module docs for the full signature),
    so one file serves every threshold; image height and width are dynamic. ``max_detections`` and
    ``num_proposals`` are fixed in the graph. The model's class names, config and the library version are
    stored in the file's metadata. The file is written atomically.

    Args:
        model: A torchvision ``MaskRCNN``; it is left as it was (mode and settings restored).
        path: Output ``.onnx`` file.
        opset: ONNX opset, at least 11 (RoIAlign); default 17.
        image_size: Side of the square example image the graph is traced with.
        max_detections: Most detections per image (default: the model's ``box_detections_per_img``).
        num_proposals: RPN proposals per image (default: the model's test-time ``rpn_post_nms_top_n``).
        check: Run ``onnx.checker`` on the result.
        batch_size: Images per run of the graph, fixed in the file (see the module docs); 1 (default) keeps
            the one-image signature.
        quantize: ``None`` (float32, default) or ``"int8"``: ONNX Runtime static quantization calibrated on
            ``calibration`` (see :mod:`maskrcnn_custom.export.quantize` for which layers stay float).
        calibration: With ``quantize="int8"``: a handful (1-64) of representative images (tensors, arrays,
            PIL images, paths, or ``(image, target)`` dataset items), checked before the export starts.
        overwrite: Replace an existing file at ``path`` (refused without it, before the export starts).

    Returns:
        The path of the ONNX file.

    Raises:
        TypeError: If ``model`` is not a Mask R-CNN.
        ValueError: For an opset below 11 (16 with ``mask_paste="exact"``), a bad size or ``batch_size``, an unknown ``quantize``, or empty,
            misshapen or non-finite ``calibration`` images.
        ImportError: Without the ``[onnx]`` extra.
        FileExistsError: If ``path`` exists and ``overwrite`` is false.

    Examples:
        >>> import os, tempfile
        >>> from maskrcnn_custom import export_onnx, maskrcnn_resnet18_fpn
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None, mask_hidden_dim=16)
        >>> export_onnx(model, os.path.join(tempfile.mkdtemp(), "model.onnx"), image_size=64).suffix
        '.onnx'
    """
    check_model(model)
    check_int(opset, "opset", minimum=MIN_OPSET, hint=f"RoIAlign needs it; default {DEFAULT_OPSET}")
    config = getattr(model, "config", None)
    if config is not None and config.mask_head.paste == "exact" and opset < EXACT_PASTE_MIN_OPSET:
        raise ValueError(
            f"opset must be at least {EXACT_PASTE_MIN_OPSET} for a model with mask_paste='exact' (its paste is "
            f"a GridSample), got {opset}; pass opset={DEFAULT_OPSET}, or build the model with mask_paste='torchvision'"
        )
    check_positive_int(image_size, "image_size")
    check_optional_positive_int(max_detections, "max_detections")
    check_optional_positive_int(num_proposals, "num_proposals")
    check_positive_int(batch_size, "batch_size")
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
    if quantize is None and calibration is not None:
        raise ValueError("calibration is only used with quantize='int8'; pass quantize='int8' or drop it")
    calibration_images = check_calibration(calibration) if quantize == "int8" else None
    check_overwrite(path, overwrite=overwrite, what="path")
    onnx = require_onnx()
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    shape = (3, image_size, image_size) if batch_size == 1 else (batch_size, 3, image_size, image_size)
    example = (
        torch.rand(*shape, generator=torch.Generator().manual_seed(0)).to(device),
        torch.tensor(0.5, device=device),
        torch.tensor(0.5, device=device),
    )
    batched = batch_size > 1
    wrapper = (_BatchedThresholdedMaskRCNN if batched else _ThresholdedMaskRCNN)(model)
    with (
        inference_settings(
            model, score_threshold=0.5, max_detections=max_detections, num_proposals=num_proposals
        ),
        atomic_path(path) as tmp,
    ):
        with warnings.catch_warnings():
            for category in (torch.jit.TracerWarning, FutureWarning, UserWarning):
                warnings.simplefilter("ignore", category)
            # The TorchScript-based exporter is chosen on purpose (see the module docs).
            warnings.filterwarnings(
                "ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning
            )
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
            torch.onnx.export(
                wrapper,
                example,
                str(tmp),
                dynamo=False,
                opset_version=opset,
                input_names=list(BATCH_INPUT_NAMES if batched else INPUT_NAMES),
                output_names=list(BATCH_OUTPUT_NAMES if batched else OUTPUT_NAMES),
                dynamic_axes=BATCH_DYNAMIC_AXES if batched else DYNAMIC_AXES,
                do_constant_folding=True,
            )
        proto = onnx.load(str(tmp))
        config = getattr(model, "config", None)
        meta = {
            "producer": f"maskrcnn-custom {__version__}",
            "class_names": json.dumps(list(model_class_names(model) or []))
            if model_class_names(model)
            else "",
            "config": json.dumps(config.to_dict()) if hasattr(config, "to_dict") else "",
            "max_detections": str(model.roi_heads.detections_per_img),
            "num_proposals": str(model.rpn._post_nms_top_n["testing"]),
            "batch_size": str(batch_size),
            "precision": quantize or "float32",
        }
        for key, value in meta.items():
            if value:
                entry = proto.metadata_props.add()
                entry.key, entry.value = f"maskrcnn_custom.{key}", value
        if check:
            onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        if calibration_images is not None:
            # No onnx.checker here: it rejects the quantizer's Loop bodies that read outer-scope values
            # (ONNX Runtime runs them); quantize_int8 loads the result into a session instead.
            quantize_int8(tmp, calibration_images, batch_size=batch_size)
    logger.info("exported ONNX opset %d (%s) to %s", opset, quantize or "float32", path)
    return Path(path)
