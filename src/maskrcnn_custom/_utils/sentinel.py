"""Named "not given" markers for keyword defaults, so an explicit value equal to a default still counts."""

from __future__ import annotations

__all__ = ["Sentinel"]

_BY_NAME: dict[str, Sentinel] = {}


def _lookup(name: str) -> Sentinel:
    return _BY_NAME[name]


class Sentinel:
    """A unique, falsy marker with a readable ``repr``; one instance per name (also after pickling or copying).

    Examples:
        >>> from maskrcnn_custom._utils.sentinel import Sentinel
        >>> UNSET = Sentinel("<not given>")
        >>> UNSET is Sentinel("<not given>"), bool(UNSET), repr(UNSET)
        (True, False, '<not given>')
    """

    __slots__ = ("_name",)

    def __new__(cls, name: str) -> Sentinel:
        existing = _BY_NAME.get(name)
        if existing is not None:
            return existing
        self = super().__new__(cls)
        self._name = name
        _BY_NAME[name] = self
        return self

    def __repr__(self) -> str:
        return self._name

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return _lookup, (self._name,)

    def __copy__(self) -> Sentinel:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Sentinel:
        return self
