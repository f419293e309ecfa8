"""Checks of a :class:`MaskRCNNConfig` made before any module is built.

torchvision discovers most mistakes only at the first forward pass, with messages that do not say what to
change (``AssertionError`` from ``torch._assert``, ``RuntimeError: shape '[335835, -1]' is invalid``,
``IndexError``). Every rule here raises a ``ValueError`` (or ``TypeError``) that names the builder
parameter and the fix.
"""

from __future__ import annotations

import difflib
import inspect
import itertools
from collections.abc import Mapping
from typing import Any

from torchvision.models.detection.faster_rcnn import FasterRCNN
from torchvision.models.detection.mask_rcnn import MaskRCNN

from .._utils.checks import check_int, check_number, is_int, is_number
from .config import (
    BACKBONE_NAMES,
    DEFAULT_FOREGROUND_GATE,
    MASK_HEAD_NORMS,
    MASK_PASTE_MODES,
    MAX_BOX_REFINE_STEPS,
    NORM_LAYERS,
    MaskRCNNConfig,
    RoIPoolConfig,
    check_mask_resolution,
)

__all__ = ["CONFIG_LIMITS", "DETECTOR_KWARGS", "MAX_HEAD_PARAMETERS", "STRUCTURAL_KWARGS", "validate_config"]

#: Upper bounds of the config's sizes and counts. A ``config.json`` is untrusted input: these caps keep a
#: hostile one from allocating gigabytes (or running for minutes) before anything fails. Each is far above
#: what a Mask R-CNN for small images needs; the message of a value above its cap names the cap.
CONFIG_LIMITS: Mapping[str, int] = {
    "num_classes": 10_000,
    "out_channels": 1024,
    "anchors_per_location": 64,
    "anchor_size": 4096,
    "pool_output_size": 64,
    "sampling_ratio": 16,
    "representation_size": 8192,
    "mask_head_layers": 16,
    "mask_conv_width": 2048,
    "mask_dilation": 8,
    "mask_hidden_dim": 4096,
    "image_size": 4096,
    "min_size_scales": 32,
    "batch_size_per_image": 16_384,
    "nms_top_n": 100_000,
    "detections_per_img": 10_000,
    "size_divisible": 256,
    "class_name_length": 256,
}
#: Largest number of parameters the RoI heads may have (about 1 GiB in float32); the box head's first
#: layer (``out_channels * pool height * pool width * representation_size``) dominates.
MAX_HEAD_PARAMETERS = 1 << 28

_FRACTION_KWARGS = (
    "rpn_nms_thresh",
    "rpn_fg_iou_thresh",
    "rpn_bg_iou_thresh",
    "rpn_positive_fraction",
    "rpn_score_thresh",
    "box_score_thresh",
    "box_nms_thresh",
    "box_fg_iou_thresh",
    "box_bg_iou_thresh",
    "box_positive_fraction",
)
_COUNT_KWARGS = {
    "rpn_pre_nms_top_n_train": "nms_top_n",
    "rpn_pre_nms_top_n_test": "nms_top_n",
    "rpn_post_nms_top_n_train": "nms_top_n",
    "rpn_post_nms_top_n_test": "nms_top_n",
    "box_detections_per_img": "detections_per_img",
    "box_batch_size_per_image": "batch_size_per_image",
    "size_divisible": "size_divisible",
}

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
        _check_detector_value(key, value)
    for fg, bg in (("rpn_fg_iou_thresh", "rpn_bg_iou_thresh"), ("box_fg_iou_thresh", "box_bg_iou_thresh")):
        if fg in kwargs and bg in kwargs and kwargs[bg] > kwargs[fg]:
            raise ValueError(
                f"{bg}={kwargs[bg]!r} must not exceed {fg}={kwargs[fg]!r} (torchvision's Matcher requires "
                "low <= high); lower the first or raise the second"
            )


def _cap(key: str) -> int:
    return CONFIG_LIMITS[key]


def _check_positive(value: Any, name: str, cap_key: str) -> None:
    cap = _cap(cap_key)
    if not is_int(value) or not 0 < value <= cap:
        raise ValueError(
            f"{name} must be a positive int <= {cap} (the cap keeps memory bounded), got {value!r}"
        )


def _check_detector_value(key: str, value: Any) -> None:
    """Type and range of one ``MaskRCNN`` keyword argument (``key`` is already known to be accepted)."""
    if key in _FRACTION_KWARGS:
        check_number(value, f"{key}=", minimum=0, maximum=1, hint="a threshold or fraction in [0, 1]")
    elif key in _COUNT_KWARGS:
        cap = _cap(_COUNT_KWARGS[key])
        check_int(value, f"{key}=", minimum=1, maximum=cap, hint=f"the cap {cap} keeps memory bounded")
    elif key in ("image_mean", "image_std"):
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 3
            or not all(is_number(v) for v in value)
            or (key == "image_std" and not all(v > 0 for v in value))
        ):
            what = "positive" if key == "image_std" else "finite"
            raise ValueError(f"{key}= must be 3 numbers (one per RGB channel, {what}), got {value!r}")
    elif key == "bbox_reg_weights":
        if value is not None and (
            not isinstance(value, (list, tuple))
            or len(value) != 4
            or not all(is_number(v) and v > 0 for v in value)
        ):
            raise ValueError(
                f"bbox_reg_weights= must be None or 4 positive numbers (wx, wy, ww, wh), got {value!r}"
            )
    elif key == "fixed_size":
        cap = _cap("image_size")
        if value is not None and (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(is_int(v) and 1 <= v <= cap for v in value)
        ):
            raise ValueError(
                f"fixed_size= must be None or (height, width), two ints in [1, {cap}], got {value!r}"
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
    cap = _cap("pool_output_size")
    if len(sizes) not in (1, 2) or not all(is_int(s) and 0 < s <= cap for s in sizes):
        raise ValueError(
            f"{name}.output_size must be a positive int <= {cap} or a (height, width) pair of them, got {size!r}"
        )
    ratio_cap = _cap("sampling_ratio")
    if not is_int(pool.sampling_ratio) or not 0 <= pool.sampling_ratio <= ratio_cap:
        raise ValueError(
            f"{name}.sampling_ratio must be an int >= 0 (0 lets RoIAlign choose adaptively) and at most the cap "
            f"{ratio_cap}, got {pool.sampling_ratio!r}"
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
    check_int(
        config.num_classes, "num_classes", maximum=_cap("num_classes"), hint="the cap keeps memory bounded"
    )
    if config.class_names is not None:
        if (
            not isinstance(config.class_names, tuple)
            or len(config.class_names) != config.num_classes
            or not all(isinstance(n, str) and len(n) <= _cap("class_name_length") for n in config.class_names)
        ):
            raise ValueError(
                f"class_names must hold num_classes={config.num_classes} strings, background first "
                f"(e.g. ('__background__', 'fibre')), each at most {_cap('class_name_length')} characters, got "
                f"{_short(config.class_names)}"
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
    _check_positive(bb.out_channels, "backbone out_channels", "out_channels")
    featmaps = bb.featmap_names

    # Anchors.
    sizes, ratios = config.anchors.sizes, config.anchors.aspect_ratios
    for name, value in (("anchor_sizes", sizes), ("aspect_ratios", ratios)):
        if not isinstance(value, tuple) or not all(isinstance(level, tuple) for level in value):
            raise TypeError(f"{name} must be one tuple of numbers per feature map, got {_short(value)}")
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
        if not level or not all(is_number(s) and 0 < s <= _cap("anchor_size") for s in level):
            raise ValueError(
                f"anchor_sizes[{i}] must hold positive numbers <= {_cap('anchor_size')}, got {_short(level)}"
            )
    for i, level in enumerate(ratios):
        if not level or not all(is_number(r) and r > 0 for r in level):
            raise ValueError(
                f"aspect_ratios[{i}] must hold positive numbers (height / width), got {_short(level)}"
            )
    per_level = config.anchors.num_anchors_per_location
    if len(set(per_level)) != 1:
        raise ValueError(
            "every FPN level must have the same number of anchors per location (len(anchor_sizes[i]) * "
            f"len(aspect_ratios[i])), because one RPN head is shared by all levels; got {list(per_level)}. "
            "Give each level the same number of sizes and of ratios."
        )
    if per_level[0] > _cap("anchors_per_location"):
        raise ValueError(
            f"{per_level[0]} anchors per location (len(anchor_sizes[i]) * len(aspect_ratios[i])) exceed the cap "
            f"{_cap('anchors_per_location')}; use fewer sizes or ratios per level"
        )

    # RoI pools and heads.
    _check_pool(config.box_roi_pool, "box_roi_pool", featmaps)
    _check_pool(config.mask_roi_pool, "mask_roi_pool", featmaps)
    rep = config.box_head.representation_size
    _check_positive(rep, "box_head.representation_size", "representation_size")
    check_int(
        config.box_head.refine_steps,
        "box_refine_steps (box_head.refine_steps)",
        minimum=0,
        maximum=MAX_BOX_REFINE_STEPS,
        hint="0 is torchvision's single box regression; 1 or 2 extra box-head passes tighten the boxes at inference",
    )
    mh = config.mask_head
    width = _cap("mask_conv_width")
    if (
        not isinstance(mh.conv_layers, tuple)
        or not 1 <= len(mh.conv_layers) <= _cap("mask_head_layers")
        or not all(is_int(c) and 0 < c <= width for c in mh.conv_layers)
    ):
        raise ValueError(
            f"mask_head_layers must be a non-empty tuple of at most {_cap('mask_head_layers')} positive ints "
            f"<= {width} (the caps), got "
            f"{_short(mh.conv_layers)}"
        )
    check_int(mh.dilation, "mask head dilation", minimum=1, maximum=_cap("mask_dilation"))
    _check_positive(mh.hidden_dim, "mask_hidden_dim", "mask_hidden_dim")
    if not isinstance(mh.norm, str) or mh.norm not in MASK_HEAD_NORMS:
        raise ValueError(
            f"mask_head_norm (mask_head.norm) must be one of {list(MASK_HEAD_NORMS)}, got {_short(mh.norm)}; pass "
            "'gn' for GroupNorm in the mask branch (trains from scratch) or 'none' for torchvision's mask head"
        )
    if not isinstance(mh.paste, str) or mh.paste not in MASK_PASTE_MODES:
        raise ValueError(
            f"mask_paste (mask_head.paste) must be one of {list(MASK_PASTE_MODES)}, got {_short(mh.paste)}; pass "
            "'exact' for sub-pixel mask pasting (thin objects) or 'torchvision' for torchvision's paste"
        )
    check_int(
        mh.foreground_dim,
        "mask_foreground_dim (mask_head.foreground_dim)",
        minimum=0,
        maximum=width,
        hint="0 for no dense foreground branch (torchvision's), or e.g. 64 to draw thin objects' mask edges",
    )
    if (
        isinstance(mh.foreground_gate, bool)
        or not isinstance(mh.foreground_gate, (int, float))
        or not (0 < mh.foreground_gate < 1)
    ):
        raise ValueError(
            f"mask_foreground_gate (mask_head.foreground_gate) must be a number between 0 and 1 (exclusive), got "
            f"{_short(mh.foreground_gate)}; pass e.g. {DEFAULT_FOREGROUND_GATE}"
        )
    if mh.foreground_dim and mh.paste != "exact":
        raise ValueError(
            f"mask_foreground_dim={mh.foreground_dim} needs mask_paste='exact' (the foreground gates the masks as "
            f"they are pasted), got mask_paste={mh.paste!r}; pass mask_paste='exact' or mask_foreground_dim=0"
        )
    check_mask_resolution(config)  # mask_head.resolution against the mask pool (models/config.py)
    heads = _head_parameters(config)
    if heads > MAX_HEAD_PARAMETERS:
        raise ValueError(
            f"the RoI heads would have about {heads:,} parameters, above the cap {MAX_HEAD_PARAMETERS:,}; lower "
            "box_head.representation_size, box_roi_pool.output_size, backbone out_channels, mask_head_layers or "
            "mask_hidden_dim"
        )

    # Image sizes and sampling.
    mins = config.min_size if isinstance(config.min_size, tuple) else (config.min_size,)
    side = _cap("image_size")
    if not 1 <= len(mins) <= _cap("min_size_scales") or not all(is_int(m) and 0 < m <= side for m in mins):
        raise ValueError(
            f"min_size must be a positive int <= {side} (or a tuple of at most {_cap('min_size_scales')} of "
            f"them), got {_short(config.min_size)}"
        )
    if not is_int(config.max_size) or not max(mins) <= config.max_size <= side:
        raise ValueError(
            f"max_size must be an int >= min_size ({max(mins)}) and <= {side} (the cap), got {config.max_size!r}"
        )
    _check_positive(config.rpn_batch_size_per_image, "rpn_batch_size_per_image", "batch_size_per_image")
    if not isinstance(config.detector_kwargs, Mapping):
        raise TypeError(f"detector_kwargs must be a mapping, got {type(config.detector_kwargs).__name__}")
    check_detector_kwargs(config.detector_kwargs)


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (a hostile config may hold megabytes)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _head_parameters(config: MaskRCNNConfig) -> int:
    """Approximate parameter count of the RoI heads, computed from the (already range-checked) config."""
    c = config.backbone.out_channels
    size = config.box_roi_pool.output_size
    bh, bw = (size, size) if is_int(size) else (size[0], size[-1])
    rep = config.box_head.representation_size
    n = config.num_classes
    box = c * bh * bw * rep + rep * rep + rep * n * 5
    widths = (c, *config.mask_head.conv_layers)
    mask = sum(a * b * 9 for a, b in itertools.pairwise(widths))
    hidden = config.mask_head.hidden_dim
    mask += widths[-1] * hidden * 4 + hidden * n
    return box + mask
