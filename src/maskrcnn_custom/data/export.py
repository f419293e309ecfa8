"""Deprecated alias of :mod:`maskrcnn_custom.data.coco_export` (removed in the next release)."""

from .._utils.deprecation import warn_moved_module
from .coco_export import export_coco

__all__ = ["export_coco"]

warn_moved_module("maskrcnn_custom.data.export", "maskrcnn_custom.data.coco_export")
