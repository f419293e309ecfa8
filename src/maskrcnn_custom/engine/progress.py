"""The training and evaluation loops' progress bar (:func:`maskrcnn_custom._utils.progress.progress_bar`)."""

from __future__ import annotations

from typing import Any

from .._utils.progress import progress_bar as _shared_progress_bar

__all__ = ["progress_bar"]


def progress_bar(*, total: int | None, desc: str, enabled: bool = True) -> Any:
    """A tqdm bar with ``total`` steps that disappears when done, or a silent stand-in when disabled.

    Examples:
        >>> from maskrcnn_custom.engine.progress import progress_bar
        >>> bar = progress_bar(total=3, desc="demo", enabled=False)
        >>> bar.update(1); bar.close()
    """
    return _shared_progress_bar(total=total, desc=desc, enabled=enabled, leave=False)
