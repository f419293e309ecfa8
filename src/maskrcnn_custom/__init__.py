"""maskrcnn-custom: a Mask R-CNN model zoo for long, thin and oddly proportioned objects in small images.

Example:
    >>> from maskrcnn_custom import maskrcnn_resnet101_fpn
    >>> model = maskrcnn_resnet101_fpn(weights_backbone=None)  # the seed network, from scratch
"""

from ._version import __version__
from .export import OnnxPredictor, export_onnx
from .inference import Prediction, predict
from .models import (
    SEED_ANCHOR_SIZES,
    SEED_ASPECT_RATIOS,
    AnchorConfig,
    BackboneConfig,
    BoxHeadConfig,
    MaskHeadConfig,
    MaskRCNNConfig,
    RoIPoolConfig,
    build_model,
    get_model,
    get_model_builder,
    init_output_layers,
    list_models,
    make_config,
    maskrcnn_resnet18_fpn,
    maskrcnn_resnet34_fpn,
    maskrcnn_resnet50_fpn,
    maskrcnn_resnet101_fpn,
    maskrcnn_resnet152_fpn,
    register_model,
    validate_config,
)
from .weights import (
    BackboneWeights,
    ResNet18BackboneWeights,
    ResNet34BackboneWeights,
    ResNet50BackboneWeights,
    ResNet101BackboneWeights,
    ResNet152BackboneWeights,
    load_backbone_weights,
)

__all__ = [
    "SEED_ANCHOR_SIZES",
    "SEED_ASPECT_RATIOS",
    "AnchorConfig",
    "BackboneConfig",
    "BackboneWeights",
    "BoxHeadConfig",
    "MaskHeadConfig",
    "MaskRCNNConfig",
    "OnnxPredictor",
    "Prediction",
    "ResNet18BackboneWeights",
    "ResNet34BackboneWeights",
    "ResNet50BackboneWeights",
    "ResNet101BackboneWeights",
    "ResNet152BackboneWeights",
    "RoIPoolConfig",
    "__version__",
    "build_model",
    "export_onnx",
    "get_model",
    "get_model_builder",
    "init_output_layers",
    "list_models",
    "load_backbone_weights",
    "make_config",
    "predict",
    "maskrcnn_resnet18_fpn",
    "maskrcnn_resnet34_fpn",
    "maskrcnn_resnet50_fpn",
    "maskrcnn_resnet101_fpn",
    "maskrcnn_resnet152_fpn",
    "register_model",
    "validate_config",
]
