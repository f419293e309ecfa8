"""int8 static quantization of an exported Mask R-CNN with ONNX Runtime, calibrated on the user's images.

``export_onnx(model, path, quantize="int8", calibration=images)`` exports the float32 graph, then runs
``onnxruntime.quantization.quantize_static`` on it (QDQ format, int8 weights per output channel, int8
activations, MinMax calibration) with a ``CalibrationDataReader`` that feeds the calibration images through
the float graph at the export's thresholds. ONNX Runtime's CPU provider fuses the QuantizeLinear /
DequantizeLinear pairs around a quantized node into integer kernels (``QLinearConv``, ``MatMulInteger``).

What is quantized and what stays float (see ``docs/inference.md`` for the measurements behind it):

* **int8**: the convolutions of the backbone, the FPN and the RPN head (:data:`QUANTIZED_OP_TYPES`), where
  almost all of the FLOPs are.
* **float32, by op type**: everything else: RoIAlign, NMS, TopK, the anchor and box arithmetic, Resize,
  Add and the mask pasting, none of which is in :data:`QUANTIZED_OP_TYPES`.
* **float32, by name** (:data:`FLOAT_NODE_PREFIXES`): the RoI heads: the box head's two fully connected
  layers, the class-score and box-regression layers and the whole mask branch (four 3x3 convs, the
  transposed conv and the logit conv). Quantizing the mask logits is what gives masks of all 0.5 (a
  known failure of naive int8 Mask R-CNN exports); quantizing the box branch moves boxes and scores.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..inference.inputs import check_images, load_image

__all__ = ["FLOAT_NODE_PREFIXES", "QUANTIZED_OP_TYPES", "check_calibration", "quantize_int8"]

#: Op types that are quantized to int8.
QUANTIZED_OP_TYPES = ("Conv",)
#: Node-name prefixes (from the traced module paths) that stay float32 even if their op type is quantized.
FLOAT_NODE_PREFIXES = ("/model/roi_heads/",)
#: Score and mask thresholds the calibration runs use.
_CALIBRATION_THRESHOLDS = (0.05, 0.5)


def _require_quantization() -> Any:
    try:
        from onnxruntime import quantization
    except ImportError as exc:
        raise ImportError('quantize="int8" needs onnxruntime: pip install "maskrcnn-custom[onnx]"') from exc
    return quantization


def check_calibration(calibration: Any, *, name: str = "calibration") -> list[torch.Tensor]:
    """Check calibration images and return them as float ``3xHxW`` tensors in ``[0, 1]``.

    Args:
        calibration: A non-empty list of images (tensors, arrays, PIL images, paths, or ``(image, target)``
            dataset items such as those of :class:`~maskrcnn_custom.SyntheticElongatedDataset`), or a 4-D
            ``NxCxHxW`` tensor.
        name: Name of the parameter, for error messages.

    Returns:
        The images, loaded.

    Raises:
        ValueError: If ``calibration`` is missing or empty, or an image has the wrong type, dtype, shape or
            value range or contains NaN or infinite values (the message names its index).
        FileNotFoundError: For an image path that does not exist.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.export.quantize import check_calibration
        >>> [t.shape for t in check_calibration([torch.rand(3, 64, 64), (torch.rand(64, 64), {})])]
        [torch.Size([3, 64, 64]), torch.Size([3, 64, 64])]
    """
    if calibration is None:
        raise ValueError(f"{name} is required with quantize='int8': pass a handful of representative images")
    if isinstance(calibration, torch.Tensor) and calibration.dim() == 4:
        items: Sequence[Any] = list(calibration.unbind(0))
    elif isinstance(calibration, (list, tuple)):
        items = list(calibration)
    else:
        raise ValueError(
            f"{name} must be a list of images (or a 4-D NxCxHxW tensor), got {type(calibration).__name__}"
        )
    if not items:
        raise ValueError(f"{name} is empty; pass a handful (e.g. 8-32) of representative images")
    items = [i[0] if isinstance(i, tuple) and len(i) == 2 and isinstance(i[1], dict) else i for i in items]
    try:
        checked = check_images(items, name=name)
    except (TypeError, FloatingPointError) as exc:
        raise ValueError(str(exc)) from exc
    return [load_image(item) for item in checked]


def _feeds(images: list[torch.Tensor], batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    score, mask = (np.asarray(t, dtype=np.float32) for t in _CALIBRATION_THRESHOLDS)
    if batch_size == 1:
        for image in images:
            yield {"image": image.numpy(), "score_threshold": score, "mask_threshold": mask}
        return
    by_size: dict[tuple[int, int], list[torch.Tensor]] = {}
    for image in images:
        by_size.setdefault((int(image.shape[1]), int(image.shape[2])), []).append(image)
    for group in by_size.values():
        for start in range(0, len(group), batch_size):
            chunk = group[start : start + batch_size]
            chunk = [chunk[i % len(chunk)] for i in range(batch_size)]  # a short batch repeats its images
            yield {"images": torch.stack(chunk).numpy(), "score_threshold": score, "mask_threshold": mask}


def _float_nodes(model_path: Path, prefixes: Sequence[str]) -> list[str]:
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    return [n.name for n in graph.node if n.name.startswith(tuple(prefixes))]


def quantize_int8(
    path: str | os.PathLike,
    calibration: list[torch.Tensor],
    *,
    batch_size: int = 1,
    op_types: Sequence[str] = QUANTIZED_OP_TYPES,
    float_prefixes: Sequence[str] = FLOAT_NODE_PREFIXES,
) -> Path:
    """Replace the float ONNX file at ``path`` by its int8 static quantization (metadata kept).

    Args:
        path: A float32 file written by :func:`~maskrcnn_custom.export_onnx`.
        calibration: Images from :func:`check_calibration`.
        batch_size: The file's batch size.
        op_types: Op types to quantize (default :data:`QUANTIZED_OP_TYPES`).
        float_prefixes: Node-name prefixes kept in float (default :data:`FLOAT_NODE_PREFIXES`).

    Returns:
        ``path``.

    Examples:
        >>> import os, tempfile, torch
        >>> from maskrcnn_custom import export_onnx, maskrcnn_resnet18_fpn
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None, mask_hidden_dim=16)
        >>> path = export_onnx(model, os.path.join(tempfile.mkdtemp(), "m.onnx"), image_size=64,
        ...                    quantize="int8", calibration=[torch.rand(3, 64, 64)])
        >>> path.suffix
        '.onnx'
    """
    import onnx

    q = _require_quantization()
    import onnxruntime as ort

    path = Path(path)
    data = list(_feeds(calibration, batch_size))

    class _Reader(q.CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(data)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".quantize-") as work:
        out = Path(work) / "int8.onnx"
        q.quantize_static(
            str(path),
            str(out),
            _Reader(),
            quant_format=q.QuantFormat.QDQ,
            op_types_to_quantize=list(op_types),
            nodes_to_exclude=_float_nodes(path, float_prefixes),
            per_channel=True,
            activation_type=q.QuantType.QInt8,
            weight_type=q.QuantType.QInt8,
            calibrate_method=q.CalibrationMethod.MinMax,
            extra_options={"CalibTensorRangeSymmetric": False},
        )
        proto = onnx.load(str(out))
        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        del proto.metadata_props[:]
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(path))
    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # the quantized graph loads
    return path
