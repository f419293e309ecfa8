"""Model building: configs, validation, backbones, builders and the model registry."""

from .builder import (
    build_model,
    make_config,
    maskrcnn_resnet18_fpn,
    maskrcnn_resnet34_fpn,
    maskrcnn_resnet50_fpn,
    maskrcnn_resnet101_fpn,
    maskrcnn_resnet152_fpn,
)
from .config import (
    DEFAULT_FOREGROUND_GATE,
    MASK_HEAD_NORMS,
    MASK_PASTE_MODES,
    MASK_UPSAMPLING_STAGES,
    MAX_BOX_REFINE_STEPS,
    SEED_ANCHOR_SIZES,
    SEED_ASPECT_RATIOS,
    AnchorConfig,
    BackboneConfig,
    BoxHeadConfig,
    MaskHeadConfig,
    MaskRCNNConfig,
    RoIPoolConfig,
)
from .foreground import ForegroundHead, ForegroundRoIHeads, foreground_loss, gate_masks
from .init import init_output_layers
from .network import MASK_UPSAMPLING_CHANNELS, HighResMaskPredictor, head_group_norm
from .paste import ExactPasteTransform, paste_masks_exact
from .presets import build_preset_model
from .refine import RefiningRoIHeads, refine_boxes
from .registry import get_model, get_model_builder, list_models, register_model
from .validation import CONFIG_LIMITS, MAX_HEAD_PARAMETERS, validate_config

__all__ = [
    "CONFIG_LIMITS",
    "DEFAULT_FOREGROUND_GATE",
    "MAX_HEAD_PARAMETERS",
    "MASK_HEAD_NORMS",
    "MASK_PASTE_MODES",
    "MASK_UPSAMPLING_CHANNELS",
    "MASK_UPSAMPLING_STAGES",
    "MAX_BOX_REFINE_STEPS",
    "SEED_ANCHOR_SIZES",
    "SEED_ASPECT_RATIOS",
    "AnchorConfig",
    "BackboneConfig",
    "BoxHeadConfig",
    "ExactPasteTransform",
    "ForegroundHead",
    "ForegroundRoIHeads",
    "HighResMaskPredictor",
    "MaskHeadConfig",
    "MaskRCNNConfig",
    "RefiningRoIHeads",
    "RoIPoolConfig",
    "build_model",
    "build_preset_model",
    "foreground_loss",
    "gate_masks",
    "get_model",
    "get_model_builder",
    "head_group_norm",
    "init_output_layers",
    "list_models",
    "make_config",
    "maskrcnn_resnet18_fpn",
    "maskrcnn_resnet34_fpn",
    "maskrcnn_resnet50_fpn",
    "maskrcnn_resnet101_fpn",
    "maskrcnn_resnet152_fpn",
    "paste_masks_exact",
    "refine_boxes",
    "register_model",
    "validate_config",
]
