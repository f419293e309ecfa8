"""Deprecated alias of :mod:`maskrcnn_custom._utils.atomic` (removed in the next release)."""

from .._utils import atomic as _moved
from .._utils.atomic import *  # noqa: F403
from .._utils.deprecation import warn_moved_module

__all__ = list(_moved.__all__)

warn_moved_module("maskrcnn_custom.hub.atomic", "maskrcnn_custom._utils.atomic")
