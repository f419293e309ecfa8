"""Builder keyword arguments and MaskRCNNConfig are two views of one network."""

import json

import pytest
import torch
from torchvision.ops.misc import FrozenBatchNorm2d

from maskrcnn_custom import (
    BackboneConfig,
    MaskRCNNConfig,
    RoIPoolConfig,
    build_model,
    get_model,
    list_models,
    make_config,
    maskrcnn_resnet18_fpn,
    maskrcnn_resnet101_fpn,
    register_model,
)


def test_default_config_is_the_seed_network():
    cfg = MaskRCNNConfig()
    assert cfg.backbone.name == "resnet101"
    assert cfg.anchors.sizes == ((32,), (64,), (64,), (76,), (100,))
    assert cfg.anchors.aspect_ratios == ((0.25, 0.33, 1.0, 2.0, 3.0),) * 5
    assert (cfg.box_roi_pool.output_size, cfg.mask_roi_pool.output_size) == (7, 14)
    assert (cfg.min_size, cfg.max_size, cfg.rpn_batch_size_per_image) == (256, 256, 512)
    assert cfg.mask_head.hidden_dim == 1500 and cfg.num_classes == 2
    # The builder without pretrained weights yields exactly this config (trainable BN, all layers trainable).
    assert make_config() == cfg


def test_json_round_trip_of_a_non_default_config():
    cfg = make_config(
        backbone="resnet34",
        num_classes=4,
        anchor_sizes=((16, 24), (32, 48), (64, 96), (128, 192), (256, 384)),
        aspect_ratios=(0.2, 5.0),
        box_roi_pool=RoIPoolConfig(("0", "1"), (7, 5), 0),
        mask_hidden_dim=64,
        mask_head_layers=(128, 64),
        class_names=("__background__", "rod", "fibre", "ellipse"),
        min_size=(224, 256),
        box_score_thresh=0.25,
        image_mean=[0.5, 0.5, 0.5],
    )
    text = json.dumps(cfg.to_dict())
    back = MaskRCNNConfig.from_dict(json.loads(text))
    assert back == cfg
    assert back.box_roi_pool.output_size == (7, 5) and back.min_size == (224, 256)


def test_from_dict_rejects_unknown_keys_from_a_newer_library():
    data = MaskRCNNConfig().to_dict()
    data["anchors"]["offsets"] = [0.5]
    with pytest.raises(
        ValueError, match=r"config\['anchors'\] has unknown keys \['offsets'\].*newer maskrcnn-custom"
    ):
        MaskRCNNConfig.from_dict(data)
    with pytest.raises(TypeError, match="config must be a mapping"):
        MaskRCNNConfig.from_dict([1, 2])


def test_builder_and_build_model_give_the_same_network():
    model = maskrcnn_resnet18_fpn(weights_backbone=None, num_classes=3, mask_hidden_dim=32)
    rebuilt = build_model(MaskRCNNConfig.from_dict(json.loads(json.dumps(model.config.to_dict()))))
    assert rebuilt.config == model.config
    a, b = model.state_dict(), rebuilt.state_dict()
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
    rebuilt.load_state_dict(a, strict=True)
    model.eval(), rebuilt.eval()
    x = [torch.rand(3, 96, 96)]
    with torch.no_grad():
        expected, got = model(x)[0], rebuilt(x)[0]
    for key, value in expected.items():
        assert torch.equal(value, got[key]), key


def test_dependent_shapes_are_derived():
    model = maskrcnn_resnet18_fpn(
        weights_backbone=None,
        num_classes=5,
        mask_hidden_dim=48,
        mask_head_layers=(64, 32),
        box_roi_pool=RoIPoolConfig(("0",), (7, 3), 2),
        min_size=96,
        max_size=96,
    )
    heads = model.roi_heads
    assert heads.box_head.fc6.in_features == 256 * 7 * 3
    assert heads.mask_predictor.conv5_mask.in_channels == 32
    assert heads.mask_predictor.conv5_mask.out_channels == 48
    assert heads.mask_predictor.mask_fcn_logits.out_channels == 5
    assert heads.box_predictor.bbox_pred.out_features == 20
    from helpers.rods import rod_batch

    images, targets = rod_batch(2, 96, seed=1)
    losses = model(images, targets)
    assert all(torch.isfinite(v) for v in losses.values())


def test_maskrcnn_kwargs_pass_through_by_name():
    model = maskrcnn_resnet18_fpn(
        weights_backbone=None, box_score_thresh=0.3, box_detections_per_img=7, rpn_post_nms_top_n_test=50
    )
    assert model.roi_heads.score_thresh == 0.3
    assert model.roi_heads.detections_per_img == 7
    assert model.rpn._post_nms_top_n["testing"] == 50
    assert model.config.detector_kwargs == {
        "box_score_thresh": 0.3,
        "box_detections_per_img": 7,
        "rpn_post_nms_top_n_test": 50,
    }


def test_trainable_layers_follow_torchvision_without_pretrained_backbone():
    model = maskrcnn_resnet18_fpn(weights_backbone=None)
    assert model.config.backbone.trainable_layers == 5
    assert all(p.requires_grad for p in model.backbone.body.parameters())
    with pytest.warns(UserWarning, match="falling back to trainable_backbone_layers=5"):
        model = maskrcnn_resnet18_fpn(weights_backbone=None, trainable_backbone_layers=2)
    assert all(p.requires_grad for p in model.backbone.body.parameters())


def test_frozen_stages_and_group_norm_options():
    cfg = MaskRCNNConfig(backbone=BackboneConfig(name="resnet18", norm="frozen_bn", trainable_layers=2))
    model = build_model(cfg)
    trainable = {n.split(".")[0] for n, p in model.backbone.body.named_parameters() if p.requires_grad}
    assert trainable == {"layer3", "layer4"}
    assert any(isinstance(m, FrozenBatchNorm2d) for m in model.backbone.body.modules())
    gn = maskrcnn_resnet18_fpn(weights_backbone=None, backbone_norm="gn")
    body_norms = {type(m).__name__ for m in gn.backbone.body.modules() if "Norm" in type(m).__name__}
    assert body_norms == {"GroupNorm"}


def test_registry_lists_gets_and_refuses_duplicates():
    assert list_models("maskrcnn_resnet*_fpn") == [
        "maskrcnn_resnet101_fpn",
        "maskrcnn_resnet152_fpn",
        "maskrcnn_resnet18_fpn",
        "maskrcnn_resnet34_fpn",
        "maskrcnn_resnet50_fpn",
    ]
    model = get_model("maskrcnn_resnet34_fpn", weights_backbone=None, num_classes=3)
    assert model.config.backbone.name == "resnet34" and model.config.num_classes == 3
    with pytest.raises(ValueError, match="already registered"):
        register_model("maskrcnn_resnet101_fpn")(maskrcnn_resnet101_fpn)
    with pytest.raises(ValueError, match="Did you mean maskrcnn_resnet50_fpn"):
        get_model("maskrcnn_resnet05_fpn")


def test_configs_are_hashable_and_detector_kwargs_read_like_a_frozen_dict():
    import json

    from maskrcnn_custom import MaskRCNNConfig, make_config

    assert hash(MaskRCNNConfig()) == hash(MaskRCNNConfig())
    cfg = make_config(num_classes=3, box_score_thresh=0.3, box_detections_per_img=7)
    assert {cfg: "x"}[make_config(num_classes=3, box_score_thresh=0.3, box_detections_per_img=7)] == "x"
    assert hash(cfg) != hash(make_config(num_classes=3, box_score_thresh=0.4, box_detections_per_img=7))
    assert cfg.detector_kwargs["box_score_thresh"] == 0.3
    assert dict(cfg.detector_kwargs) == {"box_score_thresh": 0.3, "box_detections_per_img": 7}
    assert isinstance(cfg.detector_kwargs, dict)
    with pytest.raises(TypeError, match="read-only"):
        cfg.detector_kwargs["box_score_thresh"] = 0.9
    # config.json keeps its layout: detector_kwargs is a plain JSON object
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["detector_kwargs"] == {"box_score_thresh": 0.3, "box_detections_per_img": 7}
    assert MaskRCNNConfig.from_dict(data) == cfg
    assert hash(MaskRCNNConfig.from_dict(data)) == hash(cfg)
