"""Deprecated alias of :mod:`maskrcnn_custom.weights.model` (removed in the next release)."""

from .._utils.deprecation import warn_moved_module
from ..weights.model import MaskRCNNWeights, ModelWeights

__all__ = ["MaskRCNNWeights", "ModelWeights"]

warn_moved_module("maskrcnn_custom.hub.model_weights", "maskrcnn_custom.weights.model")
