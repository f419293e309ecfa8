"""Argument checks shared by the whole library; every message names the parameter and what to pass instead.

Integers reject ``bool`` (``True`` is an ``int`` in Python but never a meaningful count). Integer checks raise
``ValueError``; number checks raise ``TypeError`` for a value that is not a number and ``ValueError`` for one
out of range.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = [
    "check_fraction",
    "check_int",
    "check_non_negative_int",
    "check_number",
    "check_optional_positive_int",
    "check_positive_int",
    "is_int",
    "is_number",
]


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (``int``, NumPy integers) and not a ``bool``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite real number (``int``, ``float``, NumPy scalars) and not a ``bool``."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


def _bound(minimum: float | None, maximum: float | None, *, min_inclusive: bool, max_inclusive: bool) -> str:
    """`` in [0, 1)``, `` >= 1``, `` < 5`` or nothing."""
    if minimum is not None and maximum is not None:
        return f" in {'[' if min_inclusive else '('}{minimum}, {maximum}{']' if max_inclusive else ')'}"
    if minimum is not None:
        return f" {'>=' if min_inclusive else '>'} {minimum}"
    if maximum is not None:
        return f" {'<=' if max_inclusive else '<'} {maximum}"
    return ""


def _suffix(hint: str) -> str:
    return f"; {hint}" if hint else ""


def check_int(
    value: Any,
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    allow_none: bool = False,
    hint: str = "",
) -> int | None:
    """Return ``value`` if it is an int in ``[minimum, maximum]`` (or ``None`` when allowed), else raise.

    Args:
        value: The argument.
        name: The parameter's name, for the message.
        minimum: Smallest allowed value (``None``: no bound).
        maximum: Largest allowed value (``None``: no bound).
        allow_none: Accept ``None``.
        hint: What to pass instead, appended to the message.

    Returns:
        ``value``.

    Raises:
        ValueError: ``"<name> must be [None or ]an int >= <minimum>, got <value>"``.

    Examples:
        >>> from maskrcnn_custom._utils.checks import check_int
        >>> check_int(3, "epochs", minimum=1)
        3
        >>> check_int(0, "epochs", minimum=1)
        Traceback (most recent call last):
        ...
        ValueError: epochs must be an int >= 1, got 0
    """
    if value is None and allow_none:
        return None
    if (
        not is_int(value)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        bound = _bound(minimum, maximum, min_inclusive=True, max_inclusive=True)
        raise ValueError(
            f"{name} must be {'None or ' if allow_none else ''}an int{bound}, got {value!r}{_suffix(hint)}"
        )
    return value


def check_positive_int(value: Any, name: str, *, hint: str = "") -> int:
    """``check_int(value, name, minimum=1)``.

    Examples:
        >>> from maskrcnn_custom._utils.checks import check_positive_int
        >>> check_positive_int(2, "batch_size")
        2
    """
    return check_int(value, name, minimum=1, hint=hint)  # type: ignore[return-value]


def check_optional_positive_int(value: Any, name: str, *, hint: str = "") -> int | None:
    """``check_int(value, name, minimum=1, allow_none=True)``.

    Examples:
        >>> from maskrcnn_custom._utils.checks import check_optional_positive_int
        >>> check_optional_positive_int(None, "max_detections") is None
        True
    """
    return check_int(value, name, minimum=1, allow_none=True, hint=hint)


def check_non_negative_int(value: Any, name: str, *, hint: str = "") -> int:
    """``check_int(value, name, minimum=0)``.

    Examples:
        >>> from maskrcnn_custom._utils.checks import check_non_negative_int
        >>> check_non_negative_int(0, "seed")
        0
    """
    return check_int(value, name, minimum=0, hint=hint)  # type: ignore[return-value]


def check_number(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    allow_none: bool = False,
    hint: str = "",
) -> float | None:
    """Return ``float(value)`` if it is a finite number within the bounds (or ``None`` when allowed).

    Args:
        value: The argument.
        name: The parameter's name.
        minimum: Lower bound (``None``: none).
        maximum: Upper bound (``None``: none).
        min_inclusive: Whether ``minimum`` itself is allowed.
        max_inclusive: Whether ``maximum`` itself is allowed.
        allow_none: Accept ``None``.
        hint: What to pass instead, appended to the message.

    Returns:
        The value as a float, or ``None``.

    Raises:
        TypeError: If it is not a finite int or float.
        ValueError: If it is out of range.

    Examples:
        >>> from maskrcnn_custom._utils.checks import check_number
        >>> check_number(0.5, "lr", minimum=0, min_inclusive=False)
        0.5
    """
    if value is None and allow_none:
        return None
    bound = _bound(minimum, maximum, min_inclusive=min_inclusive, max_inclusive=max_inclusive)
    none = " or None" if allow_none else ""
    if not is_number(value):
        raise TypeError(f"{name} must be a finite number{bound}{none}, got {value!r}{_suffix(hint)}")
    v = float(value)
    if minimum is not None and (v < minimum or (v == minimum and not min_inclusive)):
        raise ValueError(f"{name} must be{bound}{none}, got {value!r}{_suffix(hint)}")
    if maximum is not None and (v > maximum or (v == maximum and not max_inclusive)):
        raise ValueError(f"{name} must be{bound}{none}, got {value!r}{_suffix(hint)}")
    return v


def check_fraction(value: Any, name: str, *, hint: str = "0.5 is a good default") -> float:
    """A threshold in ``[0, 1)``: ``check_number(value, name, minimum=0, maximum=1, max_inclusive=False)``.

    Examples:
        >>> from maskrcnn_custom._utils.checks import check_fraction
        >>> check_fraction(0.5, "score_threshold")
        0.5
    """
    return check_number(value, name, minimum=0, maximum=1, max_inclusive=False, hint=hint)  # type: ignore[return-value]
