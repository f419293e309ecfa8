"""Every invalid setting fails before any module is built, naming the parameter and the fix."""

import pytest

from maskrcnn_custom import RoIPoolConfig, make_config, maskrcnn_resnet18_fpn
from maskrcnn_custom.models import network as network_module


@pytest.fixture(autouse=True)
def _no_module_built(monkeypatch):
    """Make building a backbone an error, so a test passing proves validation came first."""

    def refuse(*args, **kwargs):
        raise RuntimeError("a module was built before validation")

    monkeypatch.setattr(network_module, "build_backbone", refuse)


def build(**kwargs):
    return maskrcnn_resnet18_fpn(weights_backbone=None, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        # number of anchor levels vs feature maps of the backbone
        ({"anchor_sizes": ((32,), (64,), (128,), (256,))}, r"anchor_sizes has 4 levels .* 5 feature maps"),
        ({"aspect_ratios": ((0.5, 1.0),) * 4}, r"aspect_ratios has 4 levels .* flat tuple"),
        # equal number of anchors per location on every level
        (
            {"anchor_sizes": ((32, 48), (64,), (64,), (76,), (100,))},
            r"same number of anchors per location .* \[10, 5, 5, 5, 5\]",
        ),
        # positive sizes and ratios
        ({"anchor_sizes": ((0,), (64,), (64,), (76,), (100,))}, r"anchor_sizes\[0\] must hold positive"),
        ({"aspect_ratios": (0.25, -1.0, 1.0, 2.0, 3.0)}, r"aspect_ratios\[0\] must hold positive"),
        # RoI-pool feature-map names that exist
        (
            {"box_roi_pool": RoIPoolConfig(("5",), 7, 2)},
            r"box_roi_pool.featmap_names has \['5'\].*\['0', '1', '2', '3', 'pool'\]",
        ),
        ({"mask_roi_pool": RoIPoolConfig(("p2",), 14, 2)}, r"mask_roi_pool.featmap_names"),
        # output sizes and sampling ratios
        ({"box_roi_pool": RoIPoolConfig(("0",), 0, 2)}, r"box_roi_pool.output_size must be a positive int"),
        ({"mask_roi_pool": RoIPoolConfig(("0",), (14, 14, 1), 2)}, r"mask_roi_pool.output_size"),
        ({"box_roi_pool": RoIPoolConfig(("0",), 7, -1)}, r"box_roi_pool.sampling_ratio must be an int >= 0"),
        ({"box_roi_pool": RoIPoolConfig(("0",), 7, 1.5)}, r"box_roi_pool.sampling_ratio"),
        # num_classes >= 2
        ({"num_classes": 1}, r"num_classes must be an int >= 2"),
        ({"num_classes": 2.0}, r"num_classes must be an int >= 2"),
        # trainable layers range
        ({"trainable_backbone_layers": 6}, r"trainable_backbone_layers must be None or an int in \[0, 5\]"),
        ({"trainable_backbone_layers": -1}, r"trainable_backbone_layers"),
        # heads and image sizes
        ({"mask_hidden_dim": 0}, r"mask_hidden_dim must be a positive int"),
        ({"mask_head_layers": ()}, r"mask_head_layers must be a non-empty tuple"),
        ({"min_size": 256, "max_size": 128}, r"max_size must be an int >= min_size \(256\)"),
        ({"backbone_norm": "layernorm"}, r"backbone norm must be one of \['frozen_bn', 'bn', 'gn'\]"),
        ({"class_names": ("__background__",)}, r"class_names must hold num_classes=2 strings"),
        ({"image_mean": [0.5, 0.5]}, r"image_mean= must be 3 numbers"),
        # keyword arguments by name only, and only those MaskRCNN takes
        (
            {"box_score_tresh": 0.3},
            r"unknown keyword argument box_score_tresh=.*Did you mean box_score_thresh",
        ),
        ({"rpn_head": None}, r"rpn_head= is built by maskrcnn-custom .* anchor_sizes= and aspect_ratios="),
        ({"box_predictor": None}, r"box_predictor= is built .* num_classes="),
    ],
)
def test_invalid_settings_raise_value_error_naming_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"anchor_sizes": "32"}, r"anchor_sizes must be a non-empty sequence"),
        ({"anchor_sizes": ((32,), ("a",), (64,), (76,), (100,))}, r"anchor_sizes\[1\] must hold numbers"),
        ({"box_roi_pool": 7}, r"box_roi_pool must be a RoIPoolConfig"),
        ({"box_score_thresh": object()}, r"box_score_thresh= must be a number"),
    ],
)
def test_wrong_types_raise_type_error(kwargs, match):
    with pytest.raises(TypeError, match=match):
        build(**kwargs)


def test_builders_are_keyword_only():
    with pytest.raises(TypeError):
        maskrcnn_resnet18_fpn(None)  # type: ignore[misc]


def test_bad_backbone_weights_name_fails_before_building():
    with pytest.raises(
        ValueError, match=r"weights_backbone='IMAGENET_V9' is not a member of ResNet18BackboneWeights"
    ):
        maskrcnn_resnet18_fpn(weights_backbone="IMAGENET_V9")


def test_backbone_weights_for_another_depth_are_rejected():
    from maskrcnn_custom import ResNet50BackboneWeights

    with pytest.raises(ValueError, match=r"is for resnet50 but the backbone is resnet18"):
        maskrcnn_resnet18_fpn(weights_backbone=ResNet50BackboneWeights.IMAGENET1K_V1)


def test_make_config_validates_without_building():
    with pytest.raises(ValueError, match="num_classes"):
        make_config(num_classes=0)
