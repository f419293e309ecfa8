"""Deprecated alias of :mod:`maskrcnn_custom.weights.source` (removed in the next release)."""

from .._utils.deprecation import warn_moved_module
from ..weights import source as _moved
from ..weights.source import *  # noqa: F403

__all__ = list(_moved.__all__)

warn_moved_module("maskrcnn_custom.hub.source", "maskrcnn_custom.weights.source")
