"""Whole-model weights into a model: build from the weights' config, apply explicit overrides, load strictly.

This is the one loader behind the builders' ``weights=`` and :func:`maskrcnn_custom.from_pretrained`. The
weights are located and read by :mod:`maskrcnn_custom.weights.source` (one layer below); the model is built
by :func:`maskrcnn_custom.models.network.build_model`.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torchvision.models.detection.mask_rcnn import MaskRCNN

from .._utils.checks import check_int
from .._utils.state_dict import compare_state_dicts
from ..weights.source import CONFIG_NAME, WEIGHTS_NAME, WeightsSource, locate
from .config import MaskRCNNConfig, as_level_tuples
from .network import build_model
from .validation import check_detector_kwargs, validate_config

__all__ = [
    "CLASS_DEPENDENT_PREFIXES",
    "apply_overrides",
    "build_with_weights",
    "check_num_classes",
    "load_state_into_model",
]

#: State-dict prefixes of the layers whose shape depends on ``num_classes``.
CLASS_DEPENDENT_PREFIXES: tuple[str, ...] = (
    "roi_heads.box_predictor.cls_score.",
    "roi_heads.box_predictor.bbox_pred.",
    "roi_heads.mask_predictor.mask_fcn_logits.",
)


def check_num_classes(num_classes: Any) -> None:
    """Raise unless ``num_classes`` is ``None`` or an int >= 2.

    Examples:
        >>> from maskrcnn_custom.models.loading import check_num_classes
        >>> check_num_classes(3)
    """
    check_int(
        num_classes,
        "num_classes",
        minimum=2,
        allow_none=True,
        hint="None keeps the weights' classes; otherwise count your classes plus the background",
    )


def _is_class_dependent(key: str) -> bool:
    return key.startswith(CLASS_DEPENDENT_PREFIXES)


def load_state_into_model(
    config: MaskRCNNConfig,
    state: dict[str, torch.Tensor],
    origin: str,
    *,
    num_classes: int | None = None,
    device: torch.device | None = None,
) -> MaskRCNN:
    """Build the model ``config`` describes and load ``state`` into it strictly; return it in eval mode.

    When ``num_classes`` differs from the config's, only the class-dependent layers
    (:data:`CLASS_DEPENDENT_PREFIXES`) are re-initialised and a ``UserWarning`` lists every dropped key.

    Args:
        config: The weights' config.
        state: The weights' state dict.
        origin: Where the weights came from, for messages.
        num_classes: Classes to fine-tune for (``None``: the config's).
        device: Device to move the model to (default: CPU).

    Returns:
        The model in eval mode.

    Raises:
        ValueError: If the state dict does not fit the config (every offending key is listed).

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> from maskrcnn_custom.models.loading import load_state_into_model
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None)
        >>> load_state_into_model(model.config, model.state_dict(), "a copy").training
        False
    """
    dropped: list[str] = []
    saved_classes = config.num_classes
    if num_classes is not None and num_classes != config.num_classes:
        config = config.replace(num_classes=num_classes, class_names=None)
        dropped = sorted(k for k in state if _is_class_dependent(k))
        state = {k: v for k, v in state.items() if k not in dropped}
    model = build_model(config)  # output layers get init_output_layers' small normal initialisation
    target = model.state_dict()
    fresh = {k for k in target if _is_class_dependent(k)} if dropped else set()
    report = compare_state_dicts(state, target, ignore_missing=fresh)
    if not report.ok:
        raise ValueError(
            f"the weights of {origin} do not fit the model its {CONFIG_NAME} describes: {report.describe(limit=10)}. "
            f"{CONFIG_NAME} and {WEIGHTS_NAME} do not belong together (edited, or mixed from two saves): save the "
            "model again with save_pretrained, or use the matching files"
        )
    result = model.load_state_dict(state, strict=not dropped)
    if dropped and (sorted(result.missing_keys) != sorted(fresh) or result.unexpected_keys):
        raise RuntimeError(
            f"internal error: unexpected keys after partial load: {result}"
        )  # pragma: no cover
    if dropped:
        warnings.warn(
            f"from_pretrained(num_classes={num_classes}): the weights of {origin} have {saved_classes} classes, so "
            f"the class-dependent layers were re-initialised and {len(dropped)} keys of the checkpoint were "
            f"dropped: {', '.join(dropped)}. Fine-tune the model before use.",
            UserWarning,
            stacklevel=3,
        )
    model.eval()
    if device is not None and device.type != "cpu":
        model.to(device)
    return model


def apply_overrides(config: MaskRCNNConfig, overrides: Mapping[str, Any], origin: str) -> MaskRCNNConfig:
    """Apply explicitly given builder arguments on top of a weights' config.

    Arguments that fix the architecture (anchors, RoI pools, mask head, backbone norm) must agree with the
    config; the others (``trainable_backbone_layers``, ``mask_paste``, ``mask_foreground_gate``, ``box_refine_steps``, ``class_names``, ``min_size``, ``max_size``,
    ``rpn_batch_size_per_image`` and scalar ``MaskRCNN`` options such as ``box_score_thresh``) are applied.
    Every value in ``overrides`` counts as given, also one equal to a builder default.

    Args:
        config: The weights' config.
        overrides: The builder arguments the caller passed.
        origin: Where the weights came from, for messages.

    Returns:
        The new, validated config.

    Raises:
        ValueError: If an argument contradicts the architecture or is invalid.

    Examples:
        >>> from maskrcnn_custom import make_config
        >>> from maskrcnn_custom.models.loading import apply_overrides
        >>> apply_overrides(make_config(), {"box_score_thresh": 0.5}, "here").detector_kwargs["box_score_thresh"]
        0.5
    """
    given = dict(overrides)
    levels = len(config.backbone.featmap_names)
    fixed: dict[str, tuple[Any, Any]] = {}
    if "anchor_sizes" in given:
        fixed["anchor_sizes"] = (
            as_level_tuples(given.pop("anchor_sizes"), name="anchor_sizes"),
            config.anchors.sizes,
        )
    if "aspect_ratios" in given:
        value = as_level_tuples(given.pop("aspect_ratios"), name="aspect_ratios", levels=levels)
        fixed["aspect_ratios"] = (value, config.anchors.aspect_ratios)
    for key, current in (
        ("box_roi_pool", config.box_roi_pool),
        ("mask_roi_pool", config.mask_roi_pool),
        ("mask_hidden_dim", config.mask_head.hidden_dim),
        ("mask_resolution", config.mask_head.resolution),
        ("mask_head_norm", config.mask_head.norm),
        ("mask_foreground_dim", config.mask_head.foreground_dim),
        ("backbone_norm", config.backbone.norm),
    ):
        if key in given:
            fixed[key] = (given.pop(key), current)
    if "mask_head_layers" in given:
        fixed["mask_head_layers"] = (tuple(given.pop("mask_head_layers")), config.mask_head.conv_layers)
    clashes = [f"{k}={v!r} (the weights have {w!r})" for k, (v, w) in fixed.items() if v != w]
    if clashes:
        raise ValueError(
            f"weights={origin} fix the architecture, but {', '.join(clashes)}. Drop these arguments (the "
            f"architecture comes from the weights' {CONFIG_NAME}), or build without weights="
        )
    changes: dict[str, Any] = {}
    if "trainable_backbone_layers" in given:
        n = check_int(
            given.pop("trainable_backbone_layers"),
            "trainable_backbone_layers",
            minimum=0,
            maximum=5,
            allow_none=True,
            hint="0 freezes the whole ResNet, 5 trains all of it",
        )
        if n is not None:
            changes["backbone"] = dataclasses.replace(config.backbone, trainable_layers=n)
    if "mask_paste" in given:  # inference only: no weight depends on it
        changes["mask_head"] = dataclasses.replace(config.mask_head, paste=given.pop("mask_paste"))
    if "mask_foreground_gate" in given:  # inference only: no weight depends on it
        head = changes.get("mask_head", config.mask_head)
        changes["mask_head"] = dataclasses.replace(head, foreground_gate=given.pop("mask_foreground_gate"))
    if "box_refine_steps" in given:  # inference only: no weight depends on it
        changes["box_head"] = dataclasses.replace(config.box_head, refine_steps=given.pop("box_refine_steps"))
    if "class_names" in given:
        names = given.pop("class_names")
        changes["class_names"] = None if names is None else tuple(names)
    for key in ("min_size", "max_size", "rpn_batch_size_per_image"):
        if key in given:
            value = given.pop(key)
            changes[key] = tuple(value) if isinstance(value, list) else value
    if given:
        check_detector_kwargs(given)
        changes["detector_kwargs"] = {
            **dict(config.detector_kwargs),
            **{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()},
        }
    config = config.replace(**changes) if changes else config
    validate_config(config)
    return config


def build_with_weights(
    arch: str, weights: Any, *, num_classes: int | None = None, progress: bool = True, **overrides: Any
) -> MaskRCNN:
    """Build ``maskrcnn_{arch}_fpn(weights=...)``: the model the weights describe, with the weights loaded.

    torchvision's order: resolve the weights entry, take its config, apply only the explicitly given
    ``overrides`` (:func:`apply_overrides`), build, load. Everything is checked after ``config.json`` is read
    and before ``model.safetensors`` is downloaded.

    Args:
        arch: The builder's backbone, e.g. ``"resnet101"``.
        weights: A :class:`~maskrcnn_custom.MaskRCNNWeights` member or its name, a Hub repo id, or a local
            ``save_pretrained`` folder.
        num_classes: Must be ``None`` or the weights' own number of classes.
        progress: Show download progress bars.
        **overrides: The builder arguments the caller passed explicitly.

    Returns:
        The model in eval mode.

    Raises:
        ValueError: If the weights are for another backbone, ``num_classes`` differs from theirs (use
            ``from_pretrained(..., num_classes=N)`` to fine-tune), or an argument contradicts their config.

    Examples:
        >>> import tempfile
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn, save_pretrained
        >>> folder = save_pretrained(maskrcnn_resnet18_fpn(weights_backbone=None), tempfile.mkdtemp())
        >>> maskrcnn_resnet18_fpn(weights=folder, box_score_thresh=0.5).roi_heads.score_thresh
        0.5
    """
    check_num_classes(num_classes)
    source: WeightsSource = locate(weights, what="weights")
    checksums = source.read_checksums(progress=progress)
    config = source.read_config(checksums, progress=progress)
    if config.backbone.name != arch:
        raise ValueError(
            f"weights={source.origin} are for a {config.backbone.name} backbone but maskrcnn_{arch}_fpn builds a "
            f"{arch}; call maskrcnn_{config.backbone.name}_fpn(weights=...) or from_pretrained(...) instead"
        )
    if num_classes is not None and num_classes != config.num_classes:
        raise ValueError(
            f"num_classes={num_classes} conflicts with weights={source.origin}, which have "
            f"{config.num_classes} classes. To fine-tune them for {num_classes} classes use "
            f"from_pretrained(..., num_classes={num_classes}), which re-initialises only the class-dependent layers"
        )
    config = apply_overrides(config, overrides, source.origin)
    state = source.read_state_dict(checksums, progress=progress)
    return load_state_into_model(config, state, source.origin)
