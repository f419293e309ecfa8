"""Initialisation of the class-dependent output layers.

torchvision initialises the mask predictor's 1x1 logit conv with Kaiming (fan-out) init. With the seed's
1500-channel mask predictor and 2 classes that gives initial mask logits with a standard deviation of
about ``sqrt(1500)`` times the feature scale: the first mask loss is near 40 and plain SGD at lr 0.003
diverges to NaN within a few steps when training from scratch. Small normal initialisations, as in
detectron2, start the mask loss at ``ln 2`` and keep training finite. They change no parameter name or
shape.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.detection.mask_rcnn import MaskRCNN

__all__ = ["init_output_layers", "CLS_SCORE_STD", "BBOX_PRED_STD", "MASK_LOGITS_STD"]

#: Standard deviation of the class-score layer's weights.
CLS_SCORE_STD = 0.01
#: Standard deviation of the box-delta layer's weights.
BBOX_PRED_STD = 0.001
#: Standard deviation of the mask-logit conv's weights.
MASK_LOGITS_STD = 0.001


def _normal_(layer: nn.Module, std: float) -> None:
    with torch.no_grad():
        nn.init.normal_(layer.weight, mean=0.0, std=std)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def init_output_layers(model: MaskRCNN) -> None:
    """Give the class-dependent output layers of ``model`` small normal weights and zero biases.

    Args:
        model: A torchvision ``MaskRCNN`` (its ``roi_heads`` box and mask predictors are re-initialised in
            place).

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn, init_output_layers
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None)  # already initialised this way
        >>> init_output_layers(model)  # e.g. after replacing a predictor
    """
    box = model.roi_heads.box_predictor
    _normal_(box.cls_score, CLS_SCORE_STD)
    _normal_(box.bbox_pred, BBOX_PRED_STD)
    if model.roi_heads.mask_predictor is not None:
        _normal_(model.roi_heads.mask_predictor.mask_fcn_logits, MASK_LOGITS_STD)
