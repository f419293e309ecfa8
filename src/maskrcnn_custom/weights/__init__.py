"""Pretrained weights: ImageNet backbones (and, with the Hub module, whole models)."""

from .backbone import (
    BackboneWeights,
    ResNet18BackboneWeights,
    ResNet34BackboneWeights,
    ResNet50BackboneWeights,
    ResNet101BackboneWeights,
    ResNet152BackboneWeights,
    backbone_weights_enum,
    load_backbone_weights,
)
from .table import weights_table_markdown

__all__ = [
    "BackboneWeights",
    "ResNet18BackboneWeights",
    "ResNet34BackboneWeights",
    "ResNet50BackboneWeights",
    "ResNet101BackboneWeights",
    "ResNet152BackboneWeights",
    "backbone_weights_enum",
    "load_backbone_weights",
    "weights_table_markdown",
]
