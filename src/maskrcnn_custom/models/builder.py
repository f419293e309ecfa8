"""Model builders: ``maskrcnn_resnet101_fpn`` (the seed network) and its ResNet-18/34/50/152 siblings.

Every builder translates its keyword arguments into a :class:`MaskRCNNConfig` (:func:`make_config`), then
:func:`build_model` turns the config into modules: one code path for both views.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNN, MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import AnchorGenerator, RPNHead
from torchvision.ops import MultiScaleRoIAlign

from ..weights.backbone import (
    BackboneWeightsLike,
    backbone_weights_enum,
    load_backbone_weights,
    resolve_backbone_source,
)
from .backbone import build_backbone
from .config import (
    SEED_ANCHOR_SIZES,
    SEED_ASPECT_RATIOS,
    AnchorConfig,
    BackboneConfig,
    BoxHeadConfig,
    MaskHeadConfig,
    MaskRCNNConfig,
    RoIPoolConfig,
    as_level_tuples,
)
from .init import init_output_layers
from .registry import register_model
from .validation import check_detector_kwargs, validate_config

__all__ = [
    "build_model",
    "make_config",
    "maskrcnn_resnet18_fpn",
    "maskrcnn_resnet34_fpn",
    "maskrcnn_resnet50_fpn",
    "maskrcnn_resnet101_fpn",
    "maskrcnn_resnet152_fpn",
]

_SEED_BOX_POOL = RoIPoolConfig(featmap_names=("0",), output_size=7, sampling_ratio=2)
_SEED_MASK_POOL = RoIPoolConfig(featmap_names=("0",), output_size=14, sampling_ratio=2)
_SEED_MASK_LAYERS = (256, 256, 256, 256)


def _pool(config: RoIPoolConfig) -> MultiScaleRoIAlign:
    return MultiScaleRoIAlign(
        featmap_names=list(config.featmap_names),
        output_size=config.output_size if isinstance(config.output_size, int) else list(config.output_size),
        sampling_ratio=config.sampling_ratio,
    )


def build_model(config: MaskRCNNConfig) -> MaskRCNN:
    """Build a randomly initialised Mask R-CNN from a config (validated first).

    The returned model is a plain ``torchvision.models.detection.MaskRCNN``; it carries its config as
    ``model.config`` so it can be saved (``save_pretrained``) and rebuilt later. Every input channel count
    of the heads is derived from the config, never hard-coded.

    Args:
        config: The network description.

    Returns:
        The model, in training mode, with small normal initialisation of its output layers
        (see :func:`init_output_layers`).

    Raises:
        ValueError: If the config is invalid (before any module is built).

    Examples:
        >>> from maskrcnn_custom import MaskRCNNConfig, BackboneConfig, build_model
        >>> cfg = MaskRCNNConfig(backbone=BackboneConfig(name="resnet18"), num_classes=3)
        >>> model = build_model(cfg)
        >>> model.config == cfg
        True
    """
    validate_config(config)
    backbone = build_backbone(config.backbone)
    out = config.backbone.out_channels
    anchors = AnchorGenerator(sizes=config.anchors.sizes, aspect_ratios=config.anchors.aspect_ratios)
    rpn_head = RPNHead(out, config.anchors.num_anchors_per_location[0])
    h, w = config.box_roi_pool.output_hw
    rep = config.box_head.representation_size
    mask_layers = config.mask_head.conv_layers
    model = MaskRCNN(
        backbone,
        num_classes=None,
        min_size=config.min_size,
        max_size=config.max_size,
        rpn_anchor_generator=anchors,
        rpn_head=rpn_head,
        rpn_batch_size_per_image=config.rpn_batch_size_per_image,
        box_roi_pool=_pool(config.box_roi_pool),
        box_head=TwoMLPHead(out * h * w, rep),
        box_predictor=FastRCNNPredictor(rep, config.num_classes),
        mask_roi_pool=_pool(config.mask_roi_pool),
        mask_head=MaskRCNNHeads(out, list(mask_layers), config.mask_head.dilation),
        mask_predictor=MaskRCNNPredictor(mask_layers[-1], config.mask_head.hidden_dim, config.num_classes),
        **dict(config.detector_kwargs),
    )
    init_output_layers(model)
    model.config = config
    return model


def make_config(
    *,
    backbone: str = "resnet101",
    pretrained_backbone: bool = False,
    num_classes: int | None = None,
    trainable_backbone_layers: int | None = None,
    backbone_norm: str | None = None,
    anchor_sizes: Sequence[Any] = SEED_ANCHOR_SIZES,
    aspect_ratios: Sequence[Any] = SEED_ASPECT_RATIOS,
    box_roi_pool: RoIPoolConfig = _SEED_BOX_POOL,
    mask_roi_pool: RoIPoolConfig = _SEED_MASK_POOL,
    mask_hidden_dim: int = 1500,
    mask_head_layers: Sequence[int] = _SEED_MASK_LAYERS,
    class_names: Sequence[str] | None = None,
    **kwargs: Any,
) -> MaskRCNNConfig:
    """Translate builder keyword arguments into a validated :class:`MaskRCNNConfig`.

    ``trainable_backbone_layers=None`` follows torchvision: 3 with a pretrained backbone, 5 (everything)
    without one. ``backbone_norm=None`` chooses ``"frozen_bn"`` with a pretrained backbone and ``"bn"``
    without. Other ``MaskRCNN`` keyword arguments (``min_size``, ``box_score_thresh``, ...) pass by name.

    Returns:
        The config.

    Raises:
        ValueError: If any argument is invalid, naming it and the fix.

    Examples:
        >>> from maskrcnn_custom import make_config
        >>> make_config(num_classes=3).anchors.sizes
        ((32,), (64,), (64,), (76,), (100,))
    """
    if trainable_backbone_layers is not None and (
        isinstance(trainable_backbone_layers, bool)
        or not isinstance(trainable_backbone_layers, int)
        or not 0 <= trainable_backbone_layers <= 5
    ):
        raise ValueError(
            "trainable_backbone_layers must be None or an int in [0, 5] (0 freezes the whole ResNet, 5 trains all "
            f"of it), got {trainable_backbone_layers!r}"
        )
    if not pretrained_backbone:
        if trainable_backbone_layers not in (None, 5):
            warnings.warn(
                f"trainable_backbone_layers={trainable_backbone_layers} has no effect without a pretrained backbone; "
                "falling back to trainable_backbone_layers=5 so that all layers are trainable",
                UserWarning,
                stacklevel=3,
            )
        trainable_backbone_layers = 5
    elif trainable_backbone_layers is None:
        trainable_backbone_layers = 3
    if backbone_norm is None:
        backbone_norm = "frozen_bn" if pretrained_backbone else "bn"
    bb = BackboneConfig(name=backbone, norm=backbone_norm, trainable_layers=trainable_backbone_layers)
    levels = len(bb.featmap_names)
    for name, pool in (("box_roi_pool", box_roi_pool), ("mask_roi_pool", mask_roi_pool)):
        if not isinstance(pool, RoIPoolConfig):
            raise TypeError(
                f"{name} must be a RoIPoolConfig, e.g. RoIPoolConfig(featmap_names=('0',), output_size=7, "
                f"sampling_ratio=2); got {type(pool).__name__}"
            )
    if isinstance(mask_head_layers, (str, bytes)) or not isinstance(mask_head_layers, Sequence):
        raise TypeError(
            f"mask_head_layers must be a sequence of ints such as (256, 256, 256, 256), got {mask_head_layers!r}"
        )
    explicit = {k: kwargs.pop(k) for k in ("min_size", "max_size", "rpn_batch_size_per_image") if k in kwargs}
    if isinstance(explicit.get("min_size"), list):
        explicit["min_size"] = tuple(explicit["min_size"])
    check_detector_kwargs(kwargs)
    config = MaskRCNNConfig(
        num_classes=2 if num_classes is None else num_classes,
        backbone=bb,
        anchors=AnchorConfig(
            sizes=as_level_tuples(anchor_sizes, name="anchor_sizes"),
            aspect_ratios=as_level_tuples(aspect_ratios, name="aspect_ratios", levels=levels),
        ),
        box_roi_pool=box_roi_pool,
        mask_roi_pool=mask_roi_pool,
        box_head=BoxHeadConfig(),
        mask_head=MaskHeadConfig(conv_layers=tuple(mask_head_layers), hidden_dim=mask_hidden_dim),
        class_names=None if class_names is None else tuple(class_names),
        detector_kwargs={k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()},
        **explicit,
    )
    validate_config(config)
    return config


def _build(
    arch: str,
    *,
    weights: Any,
    weights_backbone: BackboneWeightsLike,
    num_classes: int | None,
    progress: bool,
    **kwargs: Any,
) -> MaskRCNN:
    if weights is not None:
        from ..hub.pretrained import build_with_weights

        return build_with_weights(arch, weights, num_classes=num_classes, progress=progress, **kwargs)
    config = make_config(
        backbone=arch, pretrained_backbone=weights_backbone is not None, num_classes=num_classes, **kwargs
    )
    if weights_backbone is not None:
        # Check names, types and files before building anything, so a typo fails fast.
        weights_backbone = resolve_backbone_source(weights_backbone, arch=arch)
    model = build_model(config)
    if weights_backbone is not None:
        load_backbone_weights(model, weights_backbone, arch=arch, progress=progress)
    return model


_DOC = """Mask R-CNN with a {title} FPN backbone, configured like the seed network.

    With default arguments the network is the seed's, parameter for parameter: anchor sizes
    ``((32,), (64,), (64,), (76,), (100,))`` with aspect ratios ``(0.25, 0.33, 1, 2, 3)`` on each of the
    5 FPN levels, box RoI pool on feature map ``"0"`` (output 7, sampling ratio 2), mask RoI pool on
    ``"0"`` (output 14, sampling ratio 2), ``min_size = max_size = 256``, ``rpn_batch_size_per_image=512``,
    ``FastRCNNPredictor(1024, num_classes)`` and ``MaskRCNNPredictor(256, 1500, num_classes)``. The output
    layers get small normal initial weights (see :func:`init_output_layers`) so training from scratch
    stays finite.

    Args:
        weights: Whole-model weights: a weights enum member, a Hub repo id (``"org/name"`` or
            ``"org/name@revision"``) or a local ``save_pretrained`` folder. The architecture then comes from
            the weights' ``config.json``.
        weights_backbone: ImageNet backbone weights (default ``{enum}.IMAGENET1K_V1``, torchvision's),
            given as an enum member, its name, a Hub repo id, a local file, or ``None`` for a random,
            trainable-BatchNorm backbone.
        num_classes: Number of classes including the background (default 2, or the weights' own).
        trainable_backbone_layers: Trainable ResNet stages from the top, 0-5. ``None``: 3 with a pretrained
            backbone, 5 without (torchvision's rule).
        anchor_sizes: One tuple of anchor sizes per FPN level (5 levels).
        aspect_ratios: One tuple of aspect ratios (height / width) per level, or one flat tuple for all levels.
        box_roi_pool: RoI pooling of the box branch.
        mask_roi_pool: RoI pooling of the mask branch.
        mask_hidden_dim: Channels of the mask predictor's transposed conv (seed: 1500).
        progress: Show download progress (huggingface_hub's progress bars).
        **kwargs: ``backbone_norm`` (``"frozen_bn"``, ``"bn"``, ``"gn"``), ``mask_head_layers`` (conv widths of
            the mask head), ``class_names``, and any scalar ``torchvision.models.detection.MaskRCNN`` keyword
            argument by name (``min_size``, ``box_score_thresh``, ``box_detections_per_img``, ...).

    Returns:
        A ``torchvision.models.detection.MaskRCNN`` with its config in ``model.config``.

    Raises:
        ValueError: For any invalid setting, before any module is built, naming the parameter and the fix.

    Examples:
        >>> from maskrcnn_custom import {name}
        >>> model = {name}(weights_backbone=None, num_classes=3)
        >>> model.config.num_classes
        3
"""


def _make_builder(arch: str, title: str) -> Any:
    enum_cls = backbone_weights_enum(arch)
    name = f"maskrcnn_{arch}_fpn"

    def builder(
        *,
        weights: Any = None,
        weights_backbone: BackboneWeightsLike = enum_cls.IMAGENET1K_V1,
        num_classes: int | None = None,
        trainable_backbone_layers: int | None = None,
        anchor_sizes: Sequence[Any] = SEED_ANCHOR_SIZES,
        aspect_ratios: Sequence[Any] = SEED_ASPECT_RATIOS,
        box_roi_pool: RoIPoolConfig = _SEED_BOX_POOL,
        mask_roi_pool: RoIPoolConfig = _SEED_MASK_POOL,
        mask_hidden_dim: int = 1500,
        progress: bool = True,
        **kwargs: Any,
    ) -> MaskRCNN:
        return _build(
            arch,
            weights=weights,
            weights_backbone=weights_backbone,
            num_classes=num_classes,
            progress=progress,
            trainable_backbone_layers=trainable_backbone_layers,
            anchor_sizes=anchor_sizes,
            aspect_ratios=aspect_ratios,
            box_roi_pool=box_roi_pool,
            mask_roi_pool=mask_roi_pool,
            mask_hidden_dim=mask_hidden_dim,
            **kwargs,
        )

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = _DOC.format(title=title, enum=enum_cls.__name__, name=name)
    return register_model(name)(builder)


maskrcnn_resnet18_fpn = _make_builder("resnet18", "ResNet-18 (light, for fast CPU work and tests)")
maskrcnn_resnet34_fpn = _make_builder("resnet34", "ResNet-34 (light)")
maskrcnn_resnet50_fpn = _make_builder("resnet50", "ResNet-50")
maskrcnn_resnet101_fpn = _make_builder("resnet101", "ResNet-101 (the seed network)")
maskrcnn_resnet152_fpn = _make_builder("resnet152", "ResNet-152")
