"""The last step of :func:`maskrcnn_custom.fit`: write the trained model as a ``save_pretrained`` folder."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from torch import nn

from .metrics_log import atomic_write_text

__all__ = ["export_pretrained"]

logger = logging.getLogger(__name__)


def export_pretrained(
    model: nn.Module, directory: str | os.PathLike[str], *, metrics: Mapping[str, float] | None = None
) -> Path:
    """Write ``model`` to ``directory`` as a ``save_pretrained`` folder, loadable with ``from_pretrained``.

    The folder holds ``config.json``, ``model.safetensors`` and a model card.

    Until the Hub module provides ``save_pretrained``, a minimal folder (``config.json`` and
    ``model.safetensors``) is written instead.

    Example:
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> from maskrcnn_custom.engine.pretrained import export_pretrained
        >>> import tempfile
        >>> path = export_pretrained(maskrcnn_resnet18_fpn(weights_backbone=None), tempfile.mkdtemp())
    """
    directory = Path(directory)
    try:
        from ..hub import save_pretrained  # type: ignore[attr-defined]
    except ImportError:
        save_pretrained = None
    if save_pretrained is not None:
        save_pretrained(model, directory, metrics=dict(metrics) if metrics else None)
        return directory
    from safetensors.torch import save_file

    config = getattr(model, "config", None)
    if config is None:
        raise ValueError(
            "the model has no .config (build it with a maskrcnn_custom builder) so it cannot be exported"
        )
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = directory / ".model.safetensors.tmp"
    save_file(state, str(tmp))
    os.replace(tmp, directory / "model.safetensors")
    atomic_write_text(directory / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
    logger.info("wrote %s (config.json, model.safetensors)", directory)
    return directory
