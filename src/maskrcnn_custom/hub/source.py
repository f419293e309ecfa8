"""Deprecated alias of :mod:`maskrcnn_custom.weights.source` (removed in the next release)."""

from .._utils.deprecation import warn_moved_module
from ..weights.source import (
    CARD_NAME,
    CONFIG_NAME,
    FORMAT_VERSION,
    LIBRARY_NAME,
    WEIGHTS_NAME,
    PretrainedLike,
    WeightsSource,
    locate,
    parse_config,
    read_weights,
)

__all__ = [
    "CARD_NAME",
    "CONFIG_NAME",
    "FORMAT_VERSION",
    "LIBRARY_NAME",
    "WEIGHTS_NAME",
    "PretrainedLike",
    "WeightsSource",
    "locate",
    "parse_config",
    "read_weights",
]

warn_moved_module("maskrcnn_custom.hub.source", "maskrcnn_custom.weights.source")
