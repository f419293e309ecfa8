"""One progress bar: tqdm when it is installed and enabled, a silent stand-in with the same methods otherwise."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["progress_bar"]


class _NoBar:
    """The part of tqdm's interface the library uses, doing nothing (also a context manager and iterable)."""

    def __init__(self, iterable: Iterable[Any] | None = None) -> None:
        self._iterable = iterable

    def __iter__(self) -> Any:
        return iter(self._iterable if self._iterable is not None else ())

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str,
    enabled: bool = True,
    unit: str = "it",
    leave: bool = True,
) -> Any:
    """A tqdm bar (over ``iterable``, or with ``total`` steps), or a silent stand-in.

    The stand-in is used when ``enabled`` is false or tqdm is not installed; it has tqdm's ``update``,
    ``set_postfix``, ``close``, iteration and ``with`` support, so callers never branch on it.

    Args:
        iterable: Items to iterate over with a bar (optional).
        total: Number of steps (default: ``len(iterable)`` when it has one).
        desc: Label of the bar.
        enabled: ``False`` always gives the silent stand-in.
        unit: Unit shown after the count, e.g. ``"img"``.
        leave: Keep the finished bar on screen.

    Returns:
        A ``tqdm`` object or the stand-in.

    Examples:
        >>> from maskrcnn_custom._utils.progress import progress_bar
        >>> bar = progress_bar(total=3, desc="demo", enabled=False)
        >>> bar.update(1); bar.close()
        >>> list(progress_bar([1, 2], desc="demo", enabled=False))
        [1, 2]
    """
    if not enabled:
        return _NoBar(iterable)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm comes with huggingface_hub, but stay safe
        return _NoBar(iterable)
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, dynamic_ncols=True)
