"""Optional dependencies: import them, or say which extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["install_hint", "require"]


def install_hint(extra: str) -> str:
    """The pip command that installs one of the library's extras, e.g. ``pip install "maskrcnn-custom[coco]"``."""
    return f'pip install "maskrcnn-custom[{extra}]"'


def require(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import and return ``module``, or raise an ``ImportError`` naming the extra that provides it.

    Args:
        module: Dotted module name, e.g. ``"pycocotools.mask"``.
        extra: The ``maskrcnn-custom[...]`` extra that installs it, e.g. ``"coco"``.
        purpose: What needs it, for the message, e.g. ``"COCO evaluation"``.

    Returns:
        The module.

    Raises:
        ImportError: If it is not installed: ``"<purpose> needs <package>, which is not installed; install it
            with pip install "maskrcnn-custom[<extra>]"``.

    Examples:
        >>> from maskrcnn_custom._utils.optional import require
        >>> require("json", extra="coco", purpose="reading COCO files").__name__
        'json'
    """
    package = module.split(".")[0]
    try:
        importlib.import_module(package)  # a blocked or missing top-level package fails here
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{purpose} needs {package}, which is not installed; install it with {install_hint(extra)}"
        ) from exc
