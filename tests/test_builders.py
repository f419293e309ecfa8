import inspect

import pytest
import torch

import maskrcnn_custom
from maskrcnn_custom import SEED_ANCHOR_SIZES, get_model_builder, maskrcnn_resnet18_fpn, save_pretrained
from maskrcnn_custom.models import builder

ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


@pytest.mark.parametrize("arch", ARCHS)
def test_each_builder_is_its_own_registered_function_with_its_own_docstring(arch):
    fn = getattr(maskrcnn_custom, f"maskrcnn_{arch}_fpn")
    assert get_model_builder(f"maskrcnn_{arch}_fpn") is fn
    assert fn.__name__ == f"maskrcnn_{arch}_fpn" and fn.__module__ == "maskrcnn_custom.models.builder"
    source = inspect.getsource(fn)
    assert source.startswith("@register_model()\ndef maskrcnn_") and f'"{arch}"' in source
    assert f">>> model = maskrcnn_{arch}_fpn(weights_backbone=None, num_classes=3)" in fn.__doc__
    assert not hasattr(builder, "_make_builder") and not hasattr(builder, "_DOC")
    params = inspect.signature(fn).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values() if p.name != "kwargs")
    assert params["anchor_sizes"].default is builder._UNSET


def _saved_with_small_anchors(tmp_path):
    model = maskrcnn_resnet18_fpn(
        weights_backbone=None, anchor_sizes=((8,), (16,), (16,), (24,), (32,)), mask_hidden_dim=16
    )
    return save_pretrained(model, tmp_path / "m")


def test_weights_take_their_config_and_an_explicit_default_value_counts_as_given(tmp_path):
    folder = _saved_with_small_anchors(tmp_path)
    torch.manual_seed(0)
    model = maskrcnn_resnet18_fpn(weights=folder)
    assert model.config.anchors.sizes == ((8,), (16,), (16,), (24,), (32,))
    assert model.config.mask_head.hidden_dim == 16
    # Passing the seed default explicitly is a real request, so it is checked against the weights.
    with pytest.raises(ValueError, match=r"anchor_sizes=.*\(the weights have"):
        maskrcnn_resnet18_fpn(weights=folder, anchor_sizes=SEED_ANCHOR_SIZES)
    with pytest.raises(ValueError, match=r"mask_hidden_dim=1500 \(the weights have 16\)"):
        maskrcnn_resnet18_fpn(weights=folder, mask_hidden_dim=1500)
    same = maskrcnn_resnet18_fpn(weights=folder, mask_hidden_dim=16, trainable_backbone_layers=2)
    assert same.config.backbone.trainable_layers == 2


def test_without_weights_unset_arguments_take_the_seed_defaults():
    model = maskrcnn_resnet18_fpn(weights_backbone=None)
    assert model.config.anchors.sizes == SEED_ANCHOR_SIZES
    assert model.config.mask_head.hidden_dim == 1500
    assert model.config.backbone.trainable_layers == 5
