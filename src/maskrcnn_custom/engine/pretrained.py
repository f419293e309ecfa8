"""The last step of :func:`maskrcnn_custom.fit`: write the trained model as a ``save_pretrained`` folder."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

__all__ = ["export_pretrained"]


def export_pretrained(
    model: nn.Module,
    directory: str | os.PathLike[str],
    *,
    metrics: Mapping[str, float] | None = None,
    recipe: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` to ``directory`` with :func:`maskrcnn_custom.save_pretrained`.

    The folder holds ``config.json``, ``model.safetensors`` and a model card with ``metrics`` and the
    training ``recipe``; :func:`maskrcnn_custom.from_pretrained` loads it.

    Examples:
        >>> import tempfile
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> from maskrcnn_custom.engine.pretrained import export_pretrained
        >>> path = export_pretrained(maskrcnn_resnet18_fpn(weights_backbone=None), tempfile.mkdtemp())
    """
    from ..hub import save_pretrained

    return save_pretrained(
        model,  # type: ignore[arg-type]
        directory,
        metrics=dict(metrics) if metrics else None,
        recipe=dict(recipe) if recipe else None,
    )
