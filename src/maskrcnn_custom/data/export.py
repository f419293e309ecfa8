"""Deprecated alias of :mod:`maskrcnn_custom.data.coco_export` (removed in the next release)."""

from .._utils.deprecation import warn_moved_module
from . import coco_export as _moved
from .coco_export import *  # noqa: F403

__all__ = list(_moved.__all__)

warn_moved_module("maskrcnn_custom.data.export", "maskrcnn_custom.data.coco_export")
