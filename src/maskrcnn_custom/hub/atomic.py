"""Deprecated alias of :mod:`maskrcnn_custom._utils.atomic` (removed in the next release)."""

from .._utils.atomic import atomic_path, atomic_write, atomic_write_bytes, atomic_write_text
from .._utils.deprecation import warn_moved_module

__all__ = ["atomic_path", "atomic_write", "atomic_write_bytes", "atomic_write_text"]

warn_moved_module("maskrcnn_custom.hub.atomic", "maskrcnn_custom._utils.atomic")
