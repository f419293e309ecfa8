"""Deprecation warnings for modules that moved (kept as aliases for one release)."""

from __future__ import annotations

import sys
import warnings

__all__ = ["warn_moved_module"]

_PACKAGE = __name__.split(".")[0]


def _importer() -> str:
    """``__name__`` of the module whose import statement runs the calling alias module."""
    frame = sys._getframe(2)  # 0: here, 1: warn_moved_module, 2: the alias module's body
    frame = frame.f_back
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        ("importlib", "_frozen_importlib")
    ):
        frame = frame.f_back
    return "" if frame is None else str(frame.f_globals.get("__name__", ""))


def warn_moved_module(old: str, new: str) -> None:
    """Warn (``DeprecationWarning``, attributed to the importer) that module ``old`` is now ``new``.

    Imports from inside the library itself are not warned about here: ``tests/test_layering.py`` fails on
    them instead, so users only ever see warnings about their own imports.

    Args:
        old: The deprecated module path, e.g. ``"maskrcnn_custom.hub.atomic"``.
        new: Where its names live now.
    """
    importer = _importer()
    if importer == _PACKAGE or importer.startswith(_PACKAGE + "."):
        return
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; import its names from {new} instead",
        DeprecationWarning,
        stacklevel=3,
    )
