"""The seed document's model builder, with only its imports and torchvision-API drift fixed.

The seed called ``resnet_fpn_backbone("resnet101", pretrained=..., trainable_layers=None)``, which today's
torchvision rejects (keyword-only ``backbone_name`` / ``weights``; ``None`` trainable layers raises
``TypeError``). Everything else is the seed's code as written.
"""

import torchvision
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor


def seed_maskrcnn_resnet101_fpn(
    num_classes=2, pretrained_backbone=False, trainable_backbone_layers=None, **kwargs
):
    if pretrained_backbone:
        raise RuntimeError("tests never download weights")
    backbone = resnet_fpn_backbone(
        backbone_name="resnet101",
        weights=None,
        trainable_layers=5 if trainable_backbone_layers is None else trainable_backbone_layers,
    )

    anchor_generator = AnchorGenerator(
        sizes=((32,), (64,), (64,), (76,), (100,)),
        aspect_ratios=tuple((0.25, 0.33, 1, 2, 3) for _ in range(5)),
    )

    roi_pooler = torchvision.ops.MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)

    mask_roi_pooler = torchvision.ops.MultiScaleRoIAlign(
        featmap_names=["0"], output_size=14, sampling_ratio=2
    )

    model = MaskRCNN(
        backbone=backbone,
        num_classes=num_classes,
        min_size=256,
        max_size=256,
        rpn_anchor_generator=anchor_generator,
        box_roi_pool=roi_pooler,
        mask_roi_pool=mask_roi_pooler,
        rpn_batch_size_per_image=512,
    )

    in_features = model.roi_heads.box_predictor.cls_score.in_features
    model.roi_heads.box_predictor = FastRCNNPredictor(in_features, num_classes)
    in_features_mask = model.roi_heads.mask_predictor.conv5_mask.in_channels
    hidden_layer = 1500
    model.roi_heads.mask_predictor = MaskRCNNPredictor(in_features_mask, hidden_layer, num_classes)

    return model
