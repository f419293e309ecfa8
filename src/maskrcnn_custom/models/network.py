"""From config to modules: :func:`build_model` turns a :class:`MaskRCNNConfig` into a torchvision ``MaskRCNN``."""

from __future__ import annotations

from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNN, MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import AnchorGenerator, RPNHead
from torchvision.ops import MultiScaleRoIAlign

from .backbone import build_backbone
from .config import MaskRCNNConfig, RoIPoolConfig
from .init import init_output_layers
from .validation import validate_config

__all__ = ["build_model"]


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
