"""Model builders: ``maskrcnn_resnet101_fpn`` (the seed network) and its ResNet-18/34/50/152 siblings.

Every builder is one decorated function that calls :func:`_build`: without ``weights=`` its keyword arguments
become a :class:`MaskRCNNConfig` (:func:`make_config`) that :func:`build_model` turns into modules; with
``weights=`` the weights' own config is taken and only the arguments the caller actually passed are applied
on top (:func:`maskrcnn_custom.models.loading.build_with_weights`). One code path for both views.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from torchvision.models.detection.mask_rcnn import MaskRCNN

from .._utils.checks import check_int
from .._utils.sentinel import Sentinel
from ..weights.backbone import (
    BackboneWeightsLike,
    ResNet18BackboneWeights,
    ResNet34BackboneWeights,
    ResNet50BackboneWeights,
    ResNet101BackboneWeights,
    ResNet152BackboneWeights,
    load_backbone_weights,
    resolve_backbone_source,
)
from .config import (
    DEFAULT_FOREGROUND_GATE,
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
from .loading import build_with_weights
from .network import build_model
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


#: "Not given": the default of keywords whose value, when given (even equal to a default), is applied.
_UNSET: Any = Sentinel("<seed default>")


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
    mask_resolution: int = 28,
    mask_head_layers: Sequence[int] = _SEED_MASK_LAYERS,
    mask_head_norm: str = "none",
    mask_paste: str = "torchvision",
    mask_foreground_dim: int = 0,
    mask_foreground_gate: float = DEFAULT_FOREGROUND_GATE,
    fpn_out_channels: int = 256,
    box_head_dim: int = 1024,
    box_refine_steps: int = 0,
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
    check_int(
        trainable_backbone_layers,
        "trainable_backbone_layers",
        minimum=0,
        maximum=5,
        allow_none=True,
        hint="0 freezes the whole ResNet, 5 trains all of it",
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
    bb = BackboneConfig(
        name=backbone,
        norm=backbone_norm,
        trainable_layers=trainable_backbone_layers,
        out_channels=fpn_out_channels,
    )
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
        box_head=BoxHeadConfig(representation_size=box_head_dim, refine_steps=box_refine_steps),
        mask_head=MaskHeadConfig(
            conv_layers=tuple(mask_head_layers),
            hidden_dim=mask_hidden_dim,
            resolution=mask_resolution,
            norm=mask_head_norm,
            paste=mask_paste,
            foreground_dim=mask_foreground_dim,
            foreground_gate=mask_foreground_gate,
        ),
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
    """The one build path of every builder; arguments left at ``_UNSET`` were not given by the caller."""
    given = {k: v for k, v in kwargs.items() if v is not _UNSET}
    if weights is not None:
        # torchvision's order: the weights entry decides the config, explicit arguments override it.
        return build_with_weights(arch, weights, num_classes=num_classes, progress=progress, **given)
    config = make_config(
        backbone=arch, pretrained_backbone=weights_backbone is not None, num_classes=num_classes, **given
    )
    if weights_backbone is not None:
        # Check names, types and files before building anything, so a typo fails fast.
        weights_backbone = resolve_backbone_source(weights_backbone, arch=arch)
    model = build_model(config)
    if weights_backbone is not None:
        load_backbone_weights(model, weights_backbone, arch=arch, progress=progress)
    return model


@register_model()
def maskrcnn_resnet18_fpn(
    *,
    weights: Any = None,
    weights_backbone: BackboneWeightsLike = ResNet18BackboneWeights.IMAGENET1K_V1,
    num_classes: int | None = None,
    trainable_backbone_layers: int | None = _UNSET,
    anchor_sizes: Sequence[Any] = _UNSET,
    aspect_ratios: Sequence[Any] = _UNSET,
    box_roi_pool: RoIPoolConfig = _UNSET,
    mask_roi_pool: RoIPoolConfig = _UNSET,
    mask_hidden_dim: int = _UNSET,
    mask_resolution: int = _UNSET,
    progress: bool = True,
    **kwargs: Any,
) -> MaskRCNN:
    """Mask R-CNN with a ResNet-18 FPN backbone, configured like the seed network.

    The lightest member of the family: fast on a CPU, the one the tests and quick examples use.

    Every argument is that of :func:`maskrcnn_resnet101_fpn` (the seed network), with the same defaults, except
    the backbone and its default weights.

    Args:
        weights: Whole-model weights (enum member or name, Hub repo id, local folder); see
            :func:`maskrcnn_resnet101_fpn`.
        weights_backbone: ImageNet backbone weights (default ``ResNet18BackboneWeights.IMAGENET1K_V1``, torchvision's),
            an enum member, its name, a Hub repo id, a local file, or ``None`` for a random backbone.
        num_classes: Number of classes including the background (default 2, or the weights' own).
        trainable_backbone_layers: Trainable ResNet stages from the top, 0-5 (torchvision's rule by default).
        anchor_sizes: Anchor sizes per FPN level; default the seed's.
        aspect_ratios: Aspect ratios per level (or one flat tuple); default the seed's.
        box_roi_pool: RoI pooling of the box branch; default the seed's.
        mask_roi_pool: RoI pooling of the mask branch; default the seed's.
        mask_hidden_dim: Channels of the mask predictor's transposed conv; default 1500.
        mask_resolution: Side of the predicted masks: 28 (default), 56 or 112.
        progress: Show download progress.
        **kwargs: As for :func:`maskrcnn_resnet101_fpn`.

    Returns:
        A ``torchvision.models.detection.MaskRCNN`` with its config in ``model.config``.

    Raises:
        ValueError: For any invalid setting, before any module is built, naming the parameter and the fix.

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None, num_classes=3)
        >>> model.config.num_classes, model.config.backbone.name
        (3, 'resnet18')
    """
    return _build(
        "resnet18",
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
        mask_resolution=mask_resolution,
        **kwargs,
    )


@register_model()
def maskrcnn_resnet34_fpn(
    *,
    weights: Any = None,
    weights_backbone: BackboneWeightsLike = ResNet34BackboneWeights.IMAGENET1K_V1,
    num_classes: int | None = None,
    trainable_backbone_layers: int | None = _UNSET,
    anchor_sizes: Sequence[Any] = _UNSET,
    aspect_ratios: Sequence[Any] = _UNSET,
    box_roi_pool: RoIPoolConfig = _UNSET,
    mask_roi_pool: RoIPoolConfig = _UNSET,
    mask_hidden_dim: int = _UNSET,
    mask_resolution: int = _UNSET,
    progress: bool = True,
    **kwargs: Any,
) -> MaskRCNN:
    """Mask R-CNN with a ResNet-34 FPN backbone, configured like the seed network.

    A light backbone, between ResNet-18 and ResNet-50 in size.

    Every argument is that of :func:`maskrcnn_resnet101_fpn` (the seed network), with the same defaults, except
    the backbone and its default weights.

    Args:
        weights: Whole-model weights (enum member or name, Hub repo id, local folder); see
            :func:`maskrcnn_resnet101_fpn`.
        weights_backbone: ImageNet backbone weights (default ``ResNet34BackboneWeights.IMAGENET1K_V1``, torchvision's),
            an enum member, its name, a Hub repo id, a local file, or ``None`` for a random backbone.
        num_classes: Number of classes including the background (default 2, or the weights' own).
        trainable_backbone_layers: Trainable ResNet stages from the top, 0-5 (torchvision's rule by default).
        anchor_sizes: Anchor sizes per FPN level; default the seed's.
        aspect_ratios: Aspect ratios per level (or one flat tuple); default the seed's.
        box_roi_pool: RoI pooling of the box branch; default the seed's.
        mask_roi_pool: RoI pooling of the mask branch; default the seed's.
        mask_hidden_dim: Channels of the mask predictor's transposed conv; default 1500.
        mask_resolution: Side of the predicted masks: 28 (default), 56 or 112.
        progress: Show download progress.
        **kwargs: As for :func:`maskrcnn_resnet101_fpn`.

    Returns:
        A ``torchvision.models.detection.MaskRCNN`` with its config in ``model.config``.

    Raises:
        ValueError: For any invalid setting, before any module is built, naming the parameter and the fix.

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet34_fpn
        >>> model = maskrcnn_resnet34_fpn(weights_backbone=None, num_classes=3)
        >>> model.config.num_classes, model.config.backbone.name
        (3, 'resnet34')
    """
    return _build(
        "resnet34",
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
        mask_resolution=mask_resolution,
        **kwargs,
    )


@register_model()
def maskrcnn_resnet50_fpn(
    *,
    weights: Any = None,
    weights_backbone: BackboneWeightsLike = ResNet50BackboneWeights.IMAGENET1K_V1,
    num_classes: int | None = None,
    trainable_backbone_layers: int | None = _UNSET,
    anchor_sizes: Sequence[Any] = _UNSET,
    aspect_ratios: Sequence[Any] = _UNSET,
    box_roi_pool: RoIPoolConfig = _UNSET,
    mask_roi_pool: RoIPoolConfig = _UNSET,
    mask_hidden_dim: int = _UNSET,
    mask_resolution: int = _UNSET,
    progress: bool = True,
    **kwargs: Any,
) -> MaskRCNN:
    """Mask R-CNN with a ResNet-50 FPN backbone, configured like the seed network.

    The first bottleneck ResNet; also has ``IMAGENET1K_V2`` backbone weights.

    Every argument is that of :func:`maskrcnn_resnet101_fpn` (the seed network), with the same defaults, except
    the backbone and its default weights.

    Args:
        weights: Whole-model weights (enum member or name, Hub repo id, local folder); see
            :func:`maskrcnn_resnet101_fpn`.
        weights_backbone: ImageNet backbone weights (default ``ResNet50BackboneWeights.IMAGENET1K_V1``, torchvision's),
            an enum member, its name, a Hub repo id, a local file, or ``None`` for a random backbone.
        num_classes: Number of classes including the background (default 2, or the weights' own).
        trainable_backbone_layers: Trainable ResNet stages from the top, 0-5 (torchvision's rule by default).
        anchor_sizes: Anchor sizes per FPN level; default the seed's.
        aspect_ratios: Aspect ratios per level (or one flat tuple); default the seed's.
        box_roi_pool: RoI pooling of the box branch; default the seed's.
        mask_roi_pool: RoI pooling of the mask branch; default the seed's.
        mask_hidden_dim: Channels of the mask predictor's transposed conv; default 1500.
        mask_resolution: Side of the predicted masks: 28 (default), 56 or 112.
        progress: Show download progress.
        **kwargs: As for :func:`maskrcnn_resnet101_fpn`.

    Returns:
        A ``torchvision.models.detection.MaskRCNN`` with its config in ``model.config``.

    Raises:
        ValueError: For any invalid setting, before any module is built, naming the parameter and the fix.

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet50_fpn
        >>> model = maskrcnn_resnet50_fpn(weights_backbone=None, num_classes=3)
        >>> model.config.num_classes, model.config.backbone.name
        (3, 'resnet50')
    """
    return _build(
        "resnet50",
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
        mask_resolution=mask_resolution,
        **kwargs,
    )


@register_model()
def maskrcnn_resnet101_fpn(
    *,
    weights: Any = None,
    weights_backbone: BackboneWeightsLike = ResNet101BackboneWeights.IMAGENET1K_V1,
    num_classes: int | None = None,
    trainable_backbone_layers: int | None = _UNSET,
    anchor_sizes: Sequence[Any] = _UNSET,
    aspect_ratios: Sequence[Any] = _UNSET,
    box_roi_pool: RoIPoolConfig = _UNSET,
    mask_roi_pool: RoIPoolConfig = _UNSET,
    mask_hidden_dim: int = _UNSET,
    mask_resolution: int = _UNSET,
    progress: bool = True,
    **kwargs: Any,
) -> MaskRCNN:
    """Mask R-CNN with a ResNet-101 FPN backbone, configured like the seed network.

    The seed network: ``maskrcnn_resnet101_fpn(weights_backbone=None)`` is the seed's architecture, parameter for parameter.

    With default arguments the network is the seed's design: anchor sizes ``((32,), (64,), (64,), (76,), (100,))``
    with aspect ratios ``(0.25, 0.33, 1, 2, 3)`` on each of the 5 FPN levels, box RoI pool on feature map
    ``"0"`` (output 7, sampling ratio 2), mask RoI pool on ``"0"`` (output 14, sampling ratio 2),
    ``min_size = max_size = 256``, ``rpn_batch_size_per_image=512``, ``FastRCNNPredictor(1024, num_classes)``
    and ``MaskRCNNPredictor(256, 1500, num_classes)``. The output layers get small normal initial weights
    (see :func:`~maskrcnn_custom.init_output_layers`) so training from scratch stays finite.

    Args:
        weights: Whole-model weights: a :class:`~maskrcnn_custom.MaskRCNNWeights` member or its name, a Hub
            repo id (``"org/name"`` or ``"org/name@revision"``) or a local ``save_pretrained`` folder. The
            architecture then comes from the weights' ``config.json``; only the arguments you pass are applied
            on top (those that would change the architecture must agree with it), and ``weights_backbone`` is
            not used.
        weights_backbone: ImageNet backbone weights (default ``ResNet101BackboneWeights.IMAGENET1K_V1``, torchvision's),
            given as an enum member, its name, a Hub repo id, a local file, or ``None`` for a random,
            trainable-BatchNorm backbone.
        num_classes: Number of classes including the background (default 2, or the weights' own).
        trainable_backbone_layers: Trainable ResNet stages from the top, 0-5. Default (or ``None``): 3 with a
            pretrained backbone, 5 without (torchvision's rule).
        anchor_sizes: One tuple of anchor sizes per FPN level (5 levels); default the seed's.
        aspect_ratios: One tuple of aspect ratios (height / width) per level, or one flat tuple for all
            levels; default the seed's.
        box_roi_pool: RoI pooling of the box branch; default output 7 on ``"0"``.
        mask_roi_pool: RoI pooling of the mask branch; default output 14 on ``"0"``.
        mask_hidden_dim: Channels of the mask predictor's transposed conv; default 1500 (the seed's).
        mask_resolution: Side of the predicted masks: 28 (default, the seed's), 56 (for thin objects: one
            more 2x upsampling stage in the mask predictor) or 112; see ``MaskHeadConfig.resolution``.
        progress: Show download progress (huggingface_hub's progress bars).
        **kwargs: ``backbone_norm`` (``"frozen_bn"``, ``"bn"``, ``"gn"``), ``mask_head_layers`` (conv widths of
            the mask head), ``mask_head_norm`` (``"none"``, the seed's, or ``"gn"``: GroupNorm in the mask
            branch, see ``MaskHeadConfig.norm``), ``mask_paste`` (``"torchvision"``, the seed's, or ``"exact"``:
            sub-pixel mask pasting at inference, see ``MaskHeadConfig.paste``), ``mask_foreground_dim`` (0, the
            seed's, or the width of a dense foreground branch that draws the masks' edges, with
            ``mask_paste="exact"``; see ``MaskHeadConfig.foreground_dim``), ``mask_foreground_gate`` (its gate,
            default 0.3, inference only), ``box_refine_steps`` (0, the seed's, to 3:
            extra box-head passes at inference, see ``BoxHeadConfig.refine_steps``), ``fpn_out_channels``, ``box_head_dim``, ``class_names``, and
            any scalar ``torchvision.models.detection.MaskRCNN`` keyword argument by name (``min_size``, ``box_score_thresh``, ``box_detections_per_img``, ...).

    Returns:
        A ``torchvision.models.detection.MaskRCNN`` with its config in ``model.config``.

    Raises:
        ValueError: For any invalid setting, before any module is built, naming the parameter and the fix.

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet101_fpn
        >>> model = maskrcnn_resnet101_fpn(weights_backbone=None, num_classes=3)
        >>> model.config.num_classes, model.config.backbone.name
        (3, 'resnet101')
    """
    return _build(
        "resnet101",
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
        mask_resolution=mask_resolution,
        **kwargs,
    )


@register_model()
def maskrcnn_resnet152_fpn(
    *,
    weights: Any = None,
    weights_backbone: BackboneWeightsLike = ResNet152BackboneWeights.IMAGENET1K_V1,
    num_classes: int | None = None,
    trainable_backbone_layers: int | None = _UNSET,
    anchor_sizes: Sequence[Any] = _UNSET,
    aspect_ratios: Sequence[Any] = _UNSET,
    box_roi_pool: RoIPoolConfig = _UNSET,
    mask_roi_pool: RoIPoolConfig = _UNSET,
    mask_hidden_dim: int = _UNSET,
    mask_resolution: int = _UNSET,
    progress: bool = True,
    **kwargs: Any,
) -> MaskRCNN:
    """Mask R-CNN with a ResNet-152 FPN backbone, configured like the seed network.

    The deepest backbone of the family.

    Every argument is that of :func:`maskrcnn_resnet101_fpn` (the seed network), with the same defaults, except
    the backbone and its default weights.

    Args:
        weights: Whole-model weights (enum member or name, Hub repo id, local folder); see
            :func:`maskrcnn_resnet101_fpn`.
        weights_backbone: ImageNet backbone weights (default ``ResNet152BackboneWeights.IMAGENET1K_V1``, torchvision's),
            an enum member, its name, a Hub repo id, a local file, or ``None`` for a random backbone.
        num_classes: Number of classes including the background (default 2, or the weights' own).
        trainable_backbone_layers: Trainable ResNet stages from the top, 0-5 (torchvision's rule by default).
        anchor_sizes: Anchor sizes per FPN level; default the seed's.
        aspect_ratios: Aspect ratios per level (or one flat tuple); default the seed's.
        box_roi_pool: RoI pooling of the box branch; default the seed's.
        mask_roi_pool: RoI pooling of the mask branch; default the seed's.
        mask_hidden_dim: Channels of the mask predictor's transposed conv; default 1500.
        mask_resolution: Side of the predicted masks: 28 (default), 56 or 112.
        progress: Show download progress.
        **kwargs: As for :func:`maskrcnn_resnet101_fpn`.

    Returns:
        A ``torchvision.models.detection.MaskRCNN`` with its config in ``model.config``.

    Raises:
        ValueError: For any invalid setting, before any module is built, naming the parameter and the fix.

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet152_fpn
        >>> model = maskrcnn_resnet152_fpn(weights_backbone=None, num_classes=3)
        >>> model.config.num_classes, model.config.backbone.name
        (3, 'resnet152')
    """
    return _build(
        "resnet152",
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
        mask_resolution=mask_resolution,
        **kwargs,
    )
