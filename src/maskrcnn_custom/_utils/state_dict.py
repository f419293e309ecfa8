"""How a state dict fits a model: missing keys, unexpected keys, shape mismatches, in one report."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["StateDictReport", "compare_state_dicts"]


def _show(items: tuple[str, ...], limit: int) -> str:
    return f"{list(items[:limit])}{' ...' if len(items) > limit else ''} ({len(items)})"


@dataclass(frozen=True)
class StateDictReport:
    """The differences between a state dict read from a file and the one a model expects.

    Attributes:
        missing: Keys the model has and the file lacks (sorted).
        unexpected: Keys the file has and the model lacks (sorted).
        shapes: ``"key: file (a, b) vs model (c, d)"`` for every shared key whose shape differs (sorted).
    """

    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    shapes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether the file fits the model exactly."""
        return not (self.missing or self.unexpected or self.shapes)

    def describe(self, *, limit: int = 20) -> str:
        """``"missing keys [...] (n), unexpected keys [...] (n), shape mismatches [...] (n)"``, lists cut at ``limit``."""
        return (
            f"missing keys {_show(self.missing, limit)}, unexpected keys {_show(self.unexpected, limit)}, "
            f"shape mismatches {_show(self.shapes, limit)}"
        )


def compare_state_dicts(
    state: Mapping[str, Any], target: Mapping[str, Any], *, ignore_missing: Collection[str] = ()
) -> StateDictReport:
    """Compare ``state`` (read from a file) with ``target`` (``model.state_dict()``).

    Args:
        state: The state dict to load (values have ``.shape``).
        target: The model's own state dict.
        ignore_missing: Keys of ``target`` that ``state`` may lack (e.g. re-initialised layers).

    Returns:
        The report; ``report.ok`` is true when the two fit exactly.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom._utils.state_dict import compare_state_dicts
        >>> r = compare_state_dicts({"a": torch.zeros(2), "b": torch.zeros(1)}, {"a": torch.zeros(3), "c": torch.zeros(1)})
        >>> r.missing, r.unexpected, r.shapes
        (('c',), ('b',), ('a: file (2,) vs model (3,)',))
    """
    ignored = set(ignore_missing)
    missing = tuple(sorted(set(target) - set(state) - ignored))
    unexpected = tuple(sorted(set(state) - set(target)))
    shapes = tuple(
        sorted(
            f"{k}: file {tuple(state[k].shape)} vs model {tuple(target[k].shape)}"
            for k in set(state) & set(target)
            if state[k].shape != target[k].shape
        )
    )
    return StateDictReport(missing=missing, unexpected=unexpected, shapes=shapes)
