"""Deprecated alias of :mod:`maskrcnn_custom.weights.download` (removed in the next release)."""

from .._utils.deprecation import warn_moved_module
from ..weights import download as _moved
from ..weights.download import *  # noqa: F403

__all__ = list(_moved.__all__)

warn_moved_module("maskrcnn_custom.hub.download", "maskrcnn_custom.weights.download")
