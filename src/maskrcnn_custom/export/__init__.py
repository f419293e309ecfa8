"""Export: ONNX files (thresholds as inputs, optional batch axis, optional int8) and an ONNX Runtime predictor."""

from .onnx import DEFAULT_OPSET, export_onnx
from .onnx_predictor import OnnxPredictor
from .quantize import FLOAT_NODE_PREFIXES, QUANTIZED_OP_TYPES, check_calibration, quantize_int8

__all__ = [
    "DEFAULT_OPSET",
    "FLOAT_NODE_PREFIXES",
    "QUANTIZED_OP_TYPES",
    "OnnxPredictor",
    "check_calibration",
    "export_onnx",
    "quantize_int8",
]
