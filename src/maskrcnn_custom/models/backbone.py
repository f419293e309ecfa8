"""ResNet + FPN backbones with a choice of normalisation layer."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn
from torchvision.models import resnet
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.ops.misc import FrozenBatchNorm2d

from .config import BackboneConfig

__all__ = ["build_backbone", "norm_layer_for"]

#: Trainable stages, from the top, for each value of ``trainable_layers`` (torchvision's convention).
_STAGES = ("layer4", "layer3", "layer2", "layer1", "conv1")


def norm_layer_for(norm: str) -> Callable[[int], nn.Module]:
    """Return the normalisation layer factory for ``norm`` (``"frozen_bn"``, ``"bn"`` or ``"gn"``)."""
    if norm == "frozen_bn":
        return FrozenBatchNorm2d
    if norm == "bn":
        return nn.BatchNorm2d
    if norm == "gn":
        return partial(nn.GroupNorm, 32)
    raise ValueError(f"backbone norm must be 'frozen_bn', 'bn' or 'gn', got {norm!r}")


def build_backbone(config: BackboneConfig) -> BackboneWithFPN:
    """Build a randomly initialised ResNet-FPN backbone from its config.

    The module tree and parameter names are those of torchvision's ``resnet_fpn_backbone``, so state
    dicts move freely between the two.

    Args:
        config: Backbone settings (already validated).

    Returns:
        The backbone, with ``out_channels`` set and the lower stages frozen per ``trainable_layers``.
    """
    body = getattr(resnet, config.name)(weights=None, norm_layer=norm_layer_for(config.norm))
    train = list(_STAGES[: config.trainable_layers])
    if config.trainable_layers == 5:
        train.append("bn1")
    for name, parameter in body.named_parameters():
        if not any(name.startswith(stage) for stage in train):
            parameter.requires_grad_(False)
    return_layers = {f"layer{k}": str(v) for v, k in enumerate(config.returned_layers)}
    stage2_channels = body.inplanes // 8
    in_channels_list = [stage2_channels * 2 ** (i - 1) for i in config.returned_layers]
    return BackboneWithFPN(
        body, return_layers, in_channels_list, config.out_channels, extra_blocks=LastLevelMaxPool()
    )
