"""Convert old ``torch.save(model.state_dict())`` checkpoints (the seed recipe's) into ``save_pretrained`` folders.

The seed network is torchvision's ``resnet_fpn_backbone("resnet101")`` with
``FrozenBatchNorm2d`` (hence no ``num_batches_tracked`` keys), the seed's anchors and RoI pools and a
1500-channel mask predictor: exactly ``maskrcnn_resnet101_fpn(weights_backbone=None,
backbone_norm="frozen_bn")``. The checkpoint is read with ``torch.load(weights_only=True)`` only (no arbitrary
code can run), every key and shape is checked against that model, and the result is saved as safetensors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .._utils.hashing import sha256_file
from .._utils.state_dict import compare_state_dicts
from ..models.builder import build_model, make_config
from ..models.config import MaskRCNNConfig
from ..weights.backbone import read_state_dict_file
from .pretrained import save_pretrained

__all__ = ["convert_checkpoint"]

logger = logging.getLogger(__name__)

_CLS_KEY = "roi_heads.box_predictor.cls_score.weight"


def _strip_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a ``module.`` prefix that ``DataParallel`` / ``DistributedDataParallel`` put on every key."""
    if state and all(k.startswith("module.") for k in state):
        logger.info("stripping the 'module.' prefix (checkpoint saved from a DataParallel model)")
        return {k[len("module.") :]: v for k, v in state.items()}
    return state


def convert_checkpoint(
    pth_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    config: MaskRCNNConfig | None = None,
    arch: str = "resnet101",
    num_classes: int | None = None,
    backbone_norm: str = "frozen_bn",
    class_names: Sequence[str] | None = None,
    metrics: Mapping[str, float] | None = None,
    **builder_kwargs: Any,
) -> Path:
    """Convert a seed-style ``.pth`` state dict into a ``save_pretrained`` folder (safetensors).

    Args:
        pth_path: The checkpoint, a ``torch.save(model.state_dict())`` file (a ``{"model": state_dict}``
            training checkpoint works too). It is read with ``torch.load(weights_only=True)``.
        out_dir: Folder to write ``config.json``, ``model.safetensors`` and ``README.md`` to.
        config: The exact :class:`MaskRCNNConfig` of the checkpoint's model. When omitted, the seed's
            architecture is assumed: ``make_config(backbone=arch, backbone_norm=backbone_norm, ...)``.
        arch: Backbone of the checkpoint when ``config`` is omitted (seed: ``"resnet101"``).
        num_classes: Number of classes including the background; default: read from the checkpoint's
            box predictor.
        backbone_norm: Normalisation of the checkpoint's ResNet: ``"frozen_bn"`` (the seed's, no
            ``num_batches_tracked`` keys) or ``"bn"`` (trainable BatchNorm, with those keys).
        class_names: Names of the classes, background first, stored in ``config.json``.
        metrics: Evaluation results to record in the model card.
        **builder_kwargs: Other builder arguments describing a non-seed architecture (``anchor_sizes``,
            ``aspect_ratios``, ``mask_hidden_dim``, ...), when ``config`` is omitted.

    Returns:
        The output folder, loadable with :func:`from_pretrained`.

    Raises:
        FileNotFoundError: If ``pth_path`` does not exist.
        ValueError: If the file is not a state dict (e.g. a pickled model object), or any key is missing or
            unexpected, or any shape differs from the model (every offender is listed), or arguments clash.

    Examples:
        >>> from maskrcnn_custom import convert_checkpoint, from_pretrained  # doctest: +SKIP
        >>> folder = convert_checkpoint("maskrcnn_seed.pth", "maskrcnn_seed")  # doctest: +SKIP
        >>> model = from_pretrained(folder)  # doctest: +SKIP
    """
    path = Path(pth_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"pth_path={str(path)!r} does not exist; pass the .pth file torch.save wrote")
    if config is not None:
        if not isinstance(config, MaskRCNNConfig):
            raise TypeError(f"config must be a MaskRCNNConfig or None, got {type(config).__name__}")
        clash = [
            name
            for name, value, default in (
                ("arch", arch, "resnet101"),
                ("backbone_norm", backbone_norm, "frozen_bn"),
            )
            if value != default
        ] + sorted(builder_kwargs)
        if clash:
            raise ValueError(
                f"config= already describes the architecture; drop {', '.join(clash)}= (or drop config=)"
            )
        if num_classes is not None and num_classes != config.num_classes:
            raise ValueError(
                f"num_classes={num_classes} contradicts config.num_classes={config.num_classes}; give one of them"
            )

    state = _strip_prefix(read_state_dict_file(path))
    if _CLS_KEY not in state:
        raise ValueError(
            f"{str(path)!r} is not a Mask R-CNN state dict: it has no {_CLS_KEY!r} key "
            f"(first keys: {sorted(state)[:5]}). Pass the file written by torch.save(model.state_dict())"
        )
    found = int(state[_CLS_KEY].shape[0])
    if config is None:
        if num_classes is not None and num_classes != found:
            raise ValueError(
                f"num_classes={num_classes} but the checkpoint's box predictor has {found} classes "
                f"({_CLS_KEY} has shape {tuple(state[_CLS_KEY].shape)}); pass num_classes={found} or omit it"
            )
        config = make_config(
            backbone=arch,
            pretrained_backbone=True,  # the seed's backbone setup: FrozenBatchNorm2d, 3 trainable stages
            backbone_norm=backbone_norm,
            num_classes=found,
            class_names=class_names,
            **builder_kwargs,
        )
    elif class_names is not None:
        config = config.replace(class_names=tuple(class_names))

    model = build_model(config)
    target = model.state_dict()
    report = compare_state_dicts(state, target)
    if not report.ok:
        hint = ""
        if (
            any(k.endswith("num_batches_tracked") for k in report.unexpected)
            and config.backbone.norm == "frozen_bn"
        ):
            hint = " The checkpoint has num_batches_tracked keys: its backbone used BatchNorm2d, pass backbone_norm='bn'."
        elif any(k.endswith("num_batches_tracked") for k in report.missing):
            hint = " The checkpoint has no num_batches_tracked keys: its backbone used FrozenBatchNorm2d, pass backbone_norm='frozen_bn'."
        raise ValueError(
            f"{str(path)!r} does not match a {config.backbone.name} Mask R-CNN with backbone norm "
            f"{config.backbone.norm!r}: {report.describe(limit=20)}.{hint} Pass arch=, backbone_norm= and the "
            "builder arguments the checkpoint was made with, or config=."
        )
    model.load_state_dict(state, strict=True)
    digest = sha256_file(path)
    out = save_pretrained(
        model,
        out_dir,
        metrics=metrics,
        notes=f"Converted from `{path.name}` (SHA-256 `{digest}`) with maskrcnn-custom's convert_checkpoint.",
    )
    logger.info("converted %s (%d tensors) to %s", path, len(state), out)
    return out
