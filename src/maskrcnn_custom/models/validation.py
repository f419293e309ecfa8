"""Checks of a :class:`MaskRCNNConfig` made before any module is built.

torchvision discovers most mistakes only at the first forward pass, with messages that do not say what to
change (``AssertionError`` from ``torch._assert``, ``RuntimeError: shape '[335835, -1]' is invalid``,
``IndexError``). Every rule here raises a ``ValueError`` (or ``TypeError``) that names the builder
parameter and the fix.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from torchvision.models.detection.faster_rcnn import FasterRCNN
from torchvision.models.detection.mask_rcnn import MaskRCNN

from .._utils.checks import check_int, is_int, is_number
from .config import BACKBONE_NAMES, NORM_LAYERS, MaskRCNNConfig, RoIPoolConfig, check_mask_resolution

__all__ = ["DETECTOR_KWARGS", "STRUCTURAL_KWARGS", "validate_config"]

#: ``MaskRCNN`` arguments the library builds itself, with the builder parameter to use instead.
STRUCTURAL_KWARGS: dict[str, str] = {
    "backbone": "the builder's backbone choice (e.g. maskrcnn_resnet50_fpn) or BackboneConfig",
    "rpn_anchor_generator": "anchor_sizes= and aspect_ratios=",
    "rpn_head": "anchor_sizes= and aspect_ratios= (the RPN head follows the anchors)",
    "box_roi_pool": "box_roi_pool=RoIPoolConfig(...)",
    "box_head": "box_head=BoxHeadConfig(...)",
    "box_predictor": "num_classes=",
    "mask_roi_pool": "mask_roi_pool=RoIPoolConfig(...)",
    "mask_head": "mask_head_layers= (conv widths) and mask_hidden_dim=",
    "mask_predictor": "num_classes= and mask_hidden_dim=",
}

_EXPLICIT = ("num_classes", "min_size", "max_size", "rpn_batch_size_per_image")


def _detector_kwargs() -> frozenset[str]:
    names: set[str] = set()
    for cls in (MaskRCNN, FasterRCNN):
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
    # Keyword arguments FasterRCNN forwards to GeneralizedRCNNTransform.
    names.update({"size_divisible", "fixed_size"})
    return frozenset(names - set(STRUCTURAL_KWARGS) - set(_EXPLICIT))


#: Scalar ``MaskRCNN`` keyword arguments accepted through the builders' ``**kwargs``.
DETECTOR_KWARGS: frozenset[str] = _detector_kwargs()


def check_detector_kwargs(kwargs: Mapping[str, Any]) -> None:
    """Reject keyword arguments that ``MaskRCNN`` does not take, or that the builder owns."""
    for key, value in kwargs.items():
        if key in STRUCTURAL_KWARGS:
            raise ValueError(
                f"{key}= is built by maskrcnn-custom from its config and cannot be passed as a keyword "
                f"argument; use {STRUCTURAL_KWARGS[key]} instead."
            )
        if key not in DETECTOR_KWARGS:
            close = difflib.get_close_matches(key, sorted(DETECTOR_KWARGS | set(_EXPLICIT)), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(
                f"unknown keyword argument {key}= for Mask R-CNN.{hint} Accepted extra keyword arguments are "
                f"the scalar options of torchvision.models.detection.MaskRCNN: {', '.join(sorted(DETECTOR_KWARGS))}."
            )
        if not _json_value(value):
            raise TypeError(
                f"{key}= must be a number, string, bool, None or a list/tuple of those so the model config can "
                f"be saved as JSON; got {type(value).__name__}."
            )


def _json_value(value: Any) -> bool:
    if value is None or isinstance(value, (bool, str)) or is_number(value):
        return True
    if isinstance(value, (list, tuple)):
        return all(_json_value(v) for v in value)
    return False


def _check_pool(pool: Any, name: str, featmaps: tuple[str, ...]) -> None:
    if not isinstance(pool, RoIPoolConfig):
        raise TypeError(
            f"{name} must be a RoIPoolConfig (e.g. RoIPoolConfig(featmap_names=('0',), output_size=7, "
            f"sampling_ratio=2)), got {type(pool).__name__}"
        )
    names = pool.featmap_names
    if isinstance(names, str) or not isinstance(names, tuple) or not names:
        raise ValueError(
            f"{name}.featmap_names must be a non-empty tuple of feature-map names, got {names!r}"
        )
    missing = [n for n in names if n not in featmaps]
    if missing:
        raise ValueError(
            f"{name}.featmap_names has {missing}, which the backbone does not return; "
            f"choose among {list(featmaps)} (e.g. featmap_names=('0',))."
        )
    size = pool.output_size
    sizes = (size,) if not isinstance(size, tuple) else size
    if len(sizes) not in (1, 2) or not all(is_int(s) and s > 0 for s in sizes):
        raise ValueError(f"{name}.output_size must be a positive int or a (height, width) pair, got {size!r}")
    if not is_int(pool.sampling_ratio) or pool.sampling_ratio < 0:
        raise ValueError(
            f"{name}.sampling_ratio must be an int >= 0 (0 lets RoIAlign choose adaptively), "
            f"got {pool.sampling_ratio!r}"
        )


def validate_config(config: MaskRCNNConfig) -> None:
    """Check a config for every mistake that torchvision would only report at forward time.

    Args:
        config: The config to check.

    Raises:
        ValueError: Naming the builder parameter at fault and the fix.
        TypeError: If a part of the config has the wrong type.

    Examples:
        >>> from maskrcnn_custom import MaskRCNNConfig, validate_config
        >>> validate_config(MaskRCNNConfig())  # the seed network is valid
    """
    if not isinstance(config, MaskRCNNConfig):
        raise TypeError(f"config must be a MaskRCNNConfig, got {type(config).__name__}")

    # Classes.
    if not is_int(config.num_classes) or config.num_classes < 2:
        raise ValueError(
            f"num_classes must be an int >= 2 (your object classes plus the background), got {config.num_classes!r}"
        )
    if config.class_names is not None:
        if len(config.class_names) != config.num_classes or not all(
            isinstance(n, str) for n in config.class_names
        ):
            raise ValueError(
                f"class_names must hold num_classes={config.num_classes} strings, background first "
                f"(e.g. ('__background__', 'fibre')), got {config.class_names!r}"
            )

    # Backbone.
    bb = config.backbone
    if bb.name not in BACKBONE_NAMES:
        close = difflib.get_close_matches(str(bb.name), BACKBONE_NAMES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"backbone name must be one of {list(BACKBONE_NAMES)}, got {bb.name!r}.{hint}")
    if bb.norm not in NORM_LAYERS:
        raise ValueError(
            f"backbone norm must be one of {list(NORM_LAYERS)} ('frozen_bn' for pretrained backbones, 'bn' or 'gn' "
            f"to train from scratch), got {bb.norm!r}"
        )
    check_int(
        bb.trainable_layers,
        "trainable_backbone_layers",
        minimum=0,
        maximum=5,
        hint="0 freezes the whole ResNet, 5 trains all of it",
    )
    rl = bb.returned_layers
    if (
        not isinstance(rl, tuple)
        or not rl
        or not all(is_int(i) and 1 <= i <= 4 for i in rl)
        or list(rl) != sorted(set(rl))
    ):
        raise ValueError(
            f"backbone returned_layers must be increasing ResNet stages in 1..4, e.g. (1, 2, 3, 4), got {rl!r}"
        )
    if not is_int(bb.out_channels) or bb.out_channels <= 0:
        raise ValueError(f"backbone out_channels must be a positive int, got {bb.out_channels!r}")
    featmaps = bb.featmap_names

    # Anchors.
    sizes, ratios = config.anchors.sizes, config.anchors.aspect_ratios
    if len(sizes) != len(featmaps):
        raise ValueError(
            f"anchor_sizes has {len(sizes)} levels but the backbone returns {len(featmaps)} feature maps "
            f"{list(featmaps)}; give one tuple of sizes per feature map, e.g. ((32,), (64,), (128,), (256,), (512,))."
        )
    if len(ratios) != len(featmaps):
        raise ValueError(
            f"aspect_ratios has {len(ratios)} levels but the backbone returns {len(featmaps)} feature maps; give one "
            f"tuple per level, or a flat tuple such as (0.5, 1.0, 2.0) to use it on every level."
        )
    for i, level in enumerate(sizes):
        if not level or not all(is_number(s) and s > 0 for s in level):
            raise ValueError(f"anchor_sizes[{i}] must hold positive numbers, got {level!r}")
    for i, level in enumerate(ratios):
        if not level or not all(is_number(r) and r > 0 for r in level):
            raise ValueError(f"aspect_ratios[{i}] must hold positive numbers (height / width), got {level!r}")
    per_level = config.anchors.num_anchors_per_location
    if len(set(per_level)) != 1:
        raise ValueError(
            "every FPN level must have the same number of anchors per location (len(anchor_sizes[i]) * "
            f"len(aspect_ratios[i])), because one RPN head is shared by all levels; got {list(per_level)}. "
            "Give each level the same number of sizes and of ratios."
        )

    # RoI pools and heads.
    _check_pool(config.box_roi_pool, "box_roi_pool", featmaps)
    _check_pool(config.mask_roi_pool, "mask_roi_pool", featmaps)
    rep = config.box_head.representation_size
    if not is_int(rep) or rep <= 0:
        raise ValueError(f"box_head.representation_size must be a positive int, got {rep!r}")
    mh = config.mask_head
    if (
        not isinstance(mh.conv_layers, tuple)
        or not mh.conv_layers
        or not all(is_int(c) and c > 0 for c in mh.conv_layers)
    ):
        raise ValueError(
            f"mask_head_layers must be a non-empty tuple of positive ints, got {mh.conv_layers!r}"
        )
    if not is_int(mh.dilation) or mh.dilation < 1:
        raise ValueError(f"mask head dilation must be an int >= 1, got {mh.dilation!r}")
    if not is_int(mh.hidden_dim) or mh.hidden_dim <= 0:
        raise ValueError(f"mask_hidden_dim must be a positive int, got {mh.hidden_dim!r}")
    check_mask_resolution(config)  # mask_head.resolution against the mask pool (models/config.py)

    # Image sizes and sampling.
    mins = config.min_size if isinstance(config.min_size, tuple) else (config.min_size,)
    if not mins or not all(is_int(m) and m > 0 for m in mins):
        raise ValueError(f"min_size must be a positive int (or a tuple of them), got {config.min_size!r}")
    if not is_int(config.max_size) or config.max_size < max(mins):
        raise ValueError(f"max_size must be an int >= min_size ({max(mins)}), got {config.max_size!r}")
    if not is_int(config.rpn_batch_size_per_image) or config.rpn_batch_size_per_image <= 0:
        raise ValueError(
            f"rpn_batch_size_per_image must be a positive int, got {config.rpn_batch_size_per_image!r}"
        )
    check_detector_kwargs(config.detector_kwargs)
    for key in ("image_mean", "image_std"):
        value = config.detector_kwargs.get(key)
        if value is not None and (not isinstance(value, (list, tuple)) or len(value) != 3):
            raise ValueError(f"{key}= must be 3 numbers (one per RGB channel), got {value!r}")
