"""The weights catalogue: ImageNet backbones and whole models, their downloads and the docs table.

This package sits one layer below the model builders: it may import only ``maskrcnn_custom._utils`` and the
config layer (``maskrcnn_custom.models.config`` / ``maskrcnn_custom.models.validation``).
"""

from ._api import WeightsEnum, WeightsRecord
from .backbone import (
    BACKBONE_WEIGHTS_BY_ARCH,
    BackboneWeights,
    BackboneWeightsEnum,
    ResNet18BackboneWeights,
    ResNet34BackboneWeights,
    ResNet50BackboneWeights,
    ResNet101BackboneWeights,
    ResNet152BackboneWeights,
    backbone_weights_enum,
    load_backbone_weights,
)
from .download import hub_download
from .model import MaskRCNNWeights, ModelWeights
from .table import weights_table_markdown

__all__ = [
    "BACKBONE_WEIGHTS_BY_ARCH",
    "BackboneWeights",
    "BackboneWeightsEnum",
    "MaskRCNNWeights",
    "ModelWeights",
    "ResNet18BackboneWeights",
    "ResNet34BackboneWeights",
    "ResNet50BackboneWeights",
    "ResNet101BackboneWeights",
    "ResNet152BackboneWeights",
    "WeightsEnum",
    "WeightsRecord",
    "backbone_weights_enum",
    "hub_download",
    "load_backbone_weights",
    "weights_table_markdown",
]
