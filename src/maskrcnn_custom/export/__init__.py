"""Export: ONNX files with thresholds as inputs, and an ONNX Runtime predictor with the ``predict`` interface."""

from .onnx import DEFAULT_OPSET, export_onnx
from .onnx_predictor import OnnxPredictor

__all__ = ["DEFAULT_OPSET", "OnnxPredictor", "export_onnx"]
