"""Elongation bins (``<2``, ``2-4``, ``4-8``, ``>=8``) shared by evaluation and anchor coverage."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

__all__ = ["DEFAULT_ELONGATION_EDGES", "check_elongation_edges", "elongation_bin_labels"]

#: Bin edges of the default breakdown: ``<2``, ``2-4``, ``4-8``, ``>=8``.
DEFAULT_ELONGATION_EDGES: tuple[float, ...] = (2.0, 4.0, 8.0)


def _fmt(v: float) -> str:
    return f"{v:g}"


def elongation_bin_labels(edges: Sequence[float] = DEFAULT_ELONGATION_EDGES) -> list[str]:
    """Labels of the bins defined by ``edges``.

    Examples:
        >>> from maskrcnn_custom.measure import elongation_bin_labels
        >>> elongation_bin_labels((2, 4, 8))
        ['<2', '2-4', '4-8', '>=8']
    """
    edges = check_elongation_edges(edges)
    labels = [f"<{_fmt(edges[0])}"]
    labels += [f"{_fmt(lo)}-{_fmt(hi)}" for lo, hi in itertools.pairwise(edges)]
    labels.append(f">={_fmt(edges[-1])}")
    return labels


def check_elongation_edges(edges: Sequence[float]) -> tuple[float, ...]:
    """Return ``edges`` as a tuple of increasing finite floats > 1, or raise ``ValueError``.

    Examples:
        >>> from maskrcnn_custom.measure import check_elongation_edges
        >>> check_elongation_edges([2, 4])
        (2.0, 4.0)
    """
    try:
        out = tuple(float(e) for e in edges)
    except (TypeError, ValueError):
        raise ValueError(f"elongation edges must be a sequence of numbers, got {edges!r}") from None
    if (
        not out
        or any(not math.isfinite(e) or e <= 1.0 for e in out)
        or any(b <= a for a, b in itertools.pairwise(out))
    ):
        raise ValueError(
            f"elongation edges must be increasing finite numbers > 1 (elongation is >= 1), e.g. (2, 4, 8); got {edges!r}"
        )
    return out
