"""A switchable progress bar: tqdm when available and enabled, a silent stand-in otherwise."""

from __future__ import annotations

from typing import Any

__all__ = ["progress_bar"]


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(*, total: int | None, desc: str, enabled: bool = True) -> Any:
    """A tqdm bar with ``total`` steps, or a no-op object with the same methods when disabled.

    Examples:
        >>> from maskrcnn_custom.engine.progress import progress_bar
        >>> bar = progress_bar(total=3, desc="demo", enabled=False)
        >>> bar.update(1); bar.close()
    """
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm comes with huggingface_hub, but stay safe
        return _NoBar()
    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
