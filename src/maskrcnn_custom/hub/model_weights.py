"""Deprecated alias of :mod:`maskrcnn_custom.weights.model` (removed in the next release)."""

from .._utils.deprecation import warn_moved_module
from ..weights import model as _moved
from ..weights.model import *  # noqa: F403

__all__ = list(_moved.__all__)

warn_moved_module("maskrcnn_custom.hub.model_weights", "maskrcnn_custom.weights.model")
