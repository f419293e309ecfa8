"""The seed document's Mask R-CNN builder, as plain torchvision, with only its imports and API drift fixed.

The seed called ``resnet_fpn_backbone("resnet101", pretrained=..., trainable_layers=None)``; today's torchvision
takes keyword-only ``backbone_name`` / ``weights`` and rejects ``trainable_layers=None`` (5 is what the seed got
without a pretrained backbone). ``backbone_name``, ``image_size`` and ``box_detections_per_img`` (torchvision's default, 100) are
parameters here only so the ``--quick`` smoke run can use resnet18 at 128 px with at most 20 detections; the
full benchmark uses the seed's resnet101 at 256 px with torchvision's default. Everything else is the seed's code as written.
"""

import torchvision
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor


def seed_maskrcnn_resnet101_fpn(
    num_classes=2,
    pretrained_backbone=False,
    trainable_backbone_layers=None,
    backbone_name="resnet101",
    image_size=256,
    box_detections_per_img=100,
    **kwargs,
):
    if pretrained_backbone:
        raise RuntimeError("the benchmark never downloads weights")
    backbone = resnet_fpn_backbone(
        backbone_name=backbone_name,
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
        min_size=image_size,
        max_size=image_size,
        rpn_anchor_generator=anchor_generator,
        box_roi_pool=roi_pooler,
        mask_roi_pool=mask_roi_pooler,
        rpn_batch_size_per_image=512,
        box_detections_per_img=box_detections_per_img,
    )

    in_features = model.roi_heads.box_predictor.cls_score.in_features
    model.roi_heads.box_predictor = FastRCNNPredictor(in_features, num_classes)
    in_features_mask = model.roi_heads.mask_predictor.conv5_mask.in_channels
    hidden_layer = 1500
    model.roi_heads.mask_predictor = MaskRCNNPredictor(in_features_mask, hidden_layer, num_classes)

    return model
