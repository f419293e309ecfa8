"""Deprecated alias of :mod:`maskrcnn_custom.weights.download` (removed in the next release)."""

from .._utils.deprecation import warn_moved_module
from ..weights.download import hub_download, silent_tqdm_class

__all__ = ["hub_download", "silent_tqdm_class"]

warn_moved_module("maskrcnn_custom.hub.download", "maskrcnn_custom.weights.download")
