import pytest

import maskrcnn_custom
from maskrcnn_custom import MaskRCNNWeights, ResNet50BackboneWeights, ResNet101BackboneWeights
from maskrcnn_custom.weights import (
    BACKBONE_WEIGHTS_BY_ARCH,
    BackboneWeights,
    BackboneWeightsEnum,
    ModelWeights,
    WeightsEnum,
    WeightsRecord,
    backbone_weights_enum,
)


def test_backbone_and_whole_model_enums_share_one_base_and_one_record():
    for cls in (*BACKBONE_WEIGHTS_BY_ARCH.values(), MaskRCNNWeights):
        assert issubclass(cls, WeightsEnum)
        for member in cls:
            assert isinstance(member.value, WeightsRecord)
            assert member.record is member.value and member.meta is member.value.meta
            assert member.url == f"https://huggingface.co/{member.repo_id}"
    assert issubclass(BackboneWeights, WeightsRecord) and issubclass(ModelWeights, WeightsRecord)
    assert issubclass(ResNet101BackboneWeights, BackboneWeightsEnum)
    w = ResNet50BackboneWeights.IMAGENET1K_V1
    assert (w.repo_id, w.arch, w.sha256) == ("timm/resnet50.tv_in1k", "resnet50", w.value.sha256)
    assert w.revision == "99108565f2fd2a9d8a1b640156f564d7f4ad7188"
    assert MaskRCNNWeights.SEED_RESNET101_V1.value.arch == "resnet101"
    assert list(BACKBONE_WEIGHTS_BY_ARCH) == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert backbone_weights_enum("resnet50") is ResNet50BackboneWeights


def test_name_lookup_and_verify_with_close_match_hints():
    assert (
        ResNet101BackboneWeights.from_name("ResNet101BackboneWeights.IMAGENET1K_V2").name == "IMAGENET1K_V2"
    )
    assert MaskRCNNWeights.from_name("SEED_RESNET101_V1") is MaskRCNNWeights.SEED_RESNET101_V1
    with pytest.raises(
        ValueError,
        match=r"has no member 'IMAGENET1K_V3' \(did you mean 'IMAGENET1K_V2' or 'IMAGENET1K_V1'\?\); choose among",
    ):
        ResNet101BackboneWeights.from_name("IMAGENET1K_V3")
    assert ResNet101BackboneWeights.verify(None) is None
    assert ResNet101BackboneWeights.verify("DEFAULT") is ResNet101BackboneWeights.IMAGENET1K_V1
    with pytest.raises(TypeError, match="expected a ResNet101BackboneWeights member"):
        ResNet101BackboneWeights.verify(ResNet50BackboneWeights.IMAGENET1K_V1)
    with pytest.raises(ValueError, match="has no member"):
        MaskRCNNWeights.verify("NOPE")


def test_old_module_paths_warn_and_give_the_same_objects():
    import importlib
    import sys

    for old, new, name in (
        ("maskrcnn_custom.hub.model_weights", "maskrcnn_custom.weights.model", "MaskRCNNWeights"),
        ("maskrcnn_custom.hub.download", "maskrcnn_custom.weights.download", "hub_download"),
        ("maskrcnn_custom.hub.source", "maskrcnn_custom.weights.source", "locate"),
        ("maskrcnn_custom.data.export", "maskrcnn_custom.data.coco_export", "export_coco"),
    ):
        sys.modules.pop(old, None)
        with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated.*{new}"):
            module = importlib.import_module(old)
        assert getattr(module, name) is getattr(importlib.import_module(new), name)
    assert maskrcnn_custom.hub.MaskRCNNWeights is MaskRCNNWeights


def test_every_top_level_name_is_importable():
    for name in maskrcnn_custom.__all__:
        assert getattr(maskrcnn_custom, name) is not None, name
