"""From config to modules: :func:`build_model` turns a :class:`MaskRCNNConfig` into a torchvision ``MaskRCNN``."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from torch import nn
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNN, MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import AnchorGenerator, RPNHead
from torchvision.ops import MultiScaleRoIAlign

from .backbone import build_backbone
from .config import MaskRCNNConfig, RoIPoolConfig, mask_upsampling_stages
from .foreground import ForegroundHead, ForegroundRoIHeads
from .init import init_output_layers
from .paste import ExactPasteTransform
from .refine import RefiningRoIHeads
from .validation import validate_config

__all__ = ["MASK_UPSAMPLING_CHANNELS", "HighResMaskPredictor", "build_model", "head_group_norm"]

#: Channels of each extra 2x stage of a :class:`HighResMaskPredictor` (at most the mask head's width and
#: ``mask_hidden_dim``). The stage refines a mask rather than adding features: 64 channels cost a fraction of
#: the seed's 1500-wide transposed conv feeding them, where 256 would more than double the mask branch.
MASK_UPSAMPLING_CHANNELS = 64


#: Most groups of :func:`head_group_norm` (as in the GroupNorm paper and detectron2's GN heads).
_MAX_GROUPS = 32


def head_group_norm(channels: int) -> nn.GroupNorm:
    """The GroupNorm of a mask branch with ``mask_head_norm="gn"``: 32 groups, fewer for narrow layers.

    The number of groups is the largest of 32, 16, ..., 1 that divides ``channels`` and leaves at least 4
    channels per group (128 channels: 32 groups, 64: 16, 1500: 4).

    Examples:
        >>> from maskrcnn_custom.models.network import head_group_norm
        >>> head_group_norm(128).num_groups, head_group_norm(64).num_groups, head_group_norm(1500).num_groups
        (32, 16, 4)
    """
    groups = _MAX_GROUPS
    while groups > 1 and (channels % groups or channels // groups < 4):
        groups //= 2
    return nn.GroupNorm(groups, channels)


def _pool(config: RoIPoolConfig) -> MultiScaleRoIAlign:
    return MultiScaleRoIAlign(
        featmap_names=list(config.featmap_names),
        output_size=config.output_size if isinstance(config.output_size, int) else list(config.output_size),
        sampling_ratio=config.sampling_ratio,
    )


class HighResMaskPredictor(nn.Sequential):
    """A mask predictor as torchvision's ``MaskRCNNPredictor``, with ``stages`` more 2x upsampling steps.

    ``conv5_mask`` (2x2 transposed conv, stride 2, to ``dim_reduced`` channels) and ReLU as torchvision's,
    then per stage ``upsample{i}``: a 2x2 transposed conv, stride 2, to ``stage_channels`` channels, and a
    ReLU, then the 1x1 ``mask_fcn_logits``. A ``P x P`` pooled RoI gives ``2 * P * 2**stages`` square logits;
    torchvision's ``maskrcnn_loss`` cuts its targets at the logits' size and ``paste_masks_in_image`` pastes
    any size, so nothing else changes.

    Args:
        in_channels: Channels of the mask head's output.
        dim_reduced: Channels of ``conv5_mask`` (``mask_head.hidden_dim``).
        num_classes: Number of classes including the background.
        stages: Extra 2x stages (1: 56 px masks from a pool of 14).
        stage_channels: Channels of the extra stages; :func:`build_model` uses the smaller of the mask head's
            width and ``dim_reduced`` (256 for the seed network). The first stage's cost grows with
            ``dim_reduced * stage_channels``.
        norm_layer: A normalisation layer factory (channels -> module), e.g. :func:`head_group_norm`, put
            after each transposed conv (``norm``, ``norm{i}``; the convs then have no bias), or None.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.models.network import HighResMaskPredictor
        >>> HighResMaskPredictor(256, 64, 2, stages=1, stage_channels=32)(torch.rand(3, 256, 14, 14)).shape
        torch.Size([3, 2, 56, 56])
    """

    def __init__(
        self,
        in_channels: int,
        dim_reduced: int,
        num_classes: int,
        *,
        stages: int,
        stage_channels: int,
        norm_layer: Callable[[int], nn.Module] | None = None,
    ) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            [("conv5_mask", nn.ConvTranspose2d(in_channels, dim_reduced, 2, 2, 0, bias=norm_layer is None))]
        )
        if norm_layer is not None:
            layers["norm"] = norm_layer(dim_reduced)
        layers["relu"] = nn.ReLU(inplace=True)
        channels = dim_reduced
        for i in range(1, stages + 1):
            layers[f"upsample{i}"] = nn.ConvTranspose2d(
                channels, stage_channels, 2, 2, 0, bias=norm_layer is None
            )
            if norm_layer is not None:
                layers[f"norm{i}"] = norm_layer(stage_channels)
            layers[f"relu{i}"] = nn.ReLU(inplace=True)
            channels = stage_channels
        layers["mask_fcn_logits"] = nn.Conv2d(channels, num_classes, 1, 1, 0)
        super().__init__(layers)
        for name, param in self.named_parameters():  # torchvision's initialisation of MaskRCNNPredictor
            if "weight" in name and param.dim() > 1:  # GroupNorm keeps its ones and zeros
                nn.init.kaiming_normal_(param, mode="fan_out", nonlinearity="relu")


def _mask_predictor(config: MaskRCNNConfig) -> nn.Module:
    """The mask predictor: torchvision's at ``2 * P`` (the seed's 28 px), else a :class:`HighResMaskPredictor`."""
    width, hidden = config.mask_head.conv_layers[-1], config.mask_head.hidden_dim
    stages = mask_upsampling_stages(config)
    norm = _mask_norm_layer(config)
    if stages == 0 and norm is None:
        return MaskRCNNPredictor(width, hidden, config.num_classes)
    channels = min(MASK_UPSAMPLING_CHANNELS, width, hidden)
    return HighResMaskPredictor(
        width, hidden, config.num_classes, stages=stages, stage_channels=channels, norm_layer=norm
    )


def _mask_norm_layer(config: MaskRCNNConfig) -> Callable[[int], nn.Module] | None:
    return head_group_norm if config.mask_head.norm == "gn" else None


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
        mask_head=MaskRCNNHeads(
            out, list(mask_layers), config.mask_head.dilation, norm_layer=_mask_norm_layer(config)
        ),
        mask_predictor=_mask_predictor(config),
        **dict(config.detector_kwargs),
    )
    if config.mask_head.paste == "exact":
        model.transform = ExactPasteTransform.like(model.transform)
    if config.mask_head.foreground_dim:
        level = config.backbone.featmap_names[0]
        stride = 2 ** (1 + config.backbone.returned_layers[0])  # ResNet stage k has stride 2**(k+1)
        head = ForegroundHead(out, config.mask_head.foreground_dim, stride=stride, norm_layer=head_group_norm)
        heads = ForegroundRoIHeads.like_heads(
            model.roi_heads, head, refine_steps=config.box_head.refine_steps, featmap_name=level
        )
        heads.attach(model.backbone)
        model.roi_heads = heads
        model.transform.foreground_gate = config.mask_head.foreground_gate
    elif config.box_head.refine_steps:
        model.roi_heads = RefiningRoIHeads.like(model.roi_heads, config.box_head.refine_steps)
    init_output_layers(model)
    model.config = config
    return model
