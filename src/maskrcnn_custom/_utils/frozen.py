"""A read-only, hashable dict for frozen dataclasses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

__all__ = ["FrozenDict", "freeze_value"]


def freeze_value(value: Any) -> Any:
    """Lists (and tuples) become tuples, recursively, so the value can be hashed."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze_value(v) for v in value)
    return value


class FrozenDict(dict):  # a dict subclass, so json.dumps and isinstance(x, dict) keep working
    """A ``dict`` that cannot be changed and can be hashed (its values are frozen with :func:`freeze_value`).

    Examples:
        >>> from maskrcnn_custom._utils.frozen import FrozenDict
        >>> d = FrozenDict({"box_score_thresh": 0.5, "sizes": [1, 2]})
        >>> d["sizes"], d == {"box_score_thresh": 0.5, "sizes": (1, 2)}, hash(d) == hash(FrozenDict(d))
        ((1, 2), True, True)
    """

    def __init__(self, data: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), /) -> None:
        super().__init__((k, freeze_value(v)) for k, v in dict(data).items())

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: str(kv[0]))))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    def _readonly(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            "this mapping is read-only (it belongs to a frozen config); build a new one with "
            "config.replace(detector_kwargs={...})"
        )

    __setitem__ = __delitem__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]
    __ior__ = _readonly  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return self
