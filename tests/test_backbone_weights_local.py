"""Backbone weights from a local file: classifier dropped, strict load, shapes checked."""

import pytest
import torch
import torchvision
from safetensors.torch import save_file
from torchvision.ops.misc import FrozenBatchNorm2d

from maskrcnn_custom import ResNet101BackboneWeights, maskrcnn_resnet18_fpn


def _imagenet_resnet18_file(tmp_path, name="resnet18.safetensors"):
    net = torchvision.models.resnet18()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    state = net.state_dict()  # torchvision / timm key names, fc.* and num_batches_tracked included
    path = tmp_path / name
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path, state


def test_local_safetensors_backbone_loads_into_body_with_frozen_bn(tmp_path):
    path, state = _imagenet_resnet18_file(tmp_path)
    model = maskrcnn_resnet18_fpn(weights_backbone=str(path))
    body = model.backbone.body.state_dict()
    for key, value in body.items():
        assert torch.equal(value, state[key]), key
    assert not any(k.startswith("fc.") for k in body)
    # A pretrained backbone keeps FrozenBatchNorm2d and, by default, 3 trainable stages (torchvision's rule).
    assert any(isinstance(m, FrozenBatchNorm2d) for m in model.backbone.body.modules())
    assert model.config.backbone.norm == "frozen_bn" and model.config.backbone.trainable_layers == 3
    trainable = {n.split(".")[0] for n, p in model.backbone.body.named_parameters() if p.requires_grad}
    assert trainable == {"layer2", "layer3", "layer4"}


def test_local_pth_backbone_into_trainable_bn(tmp_path):
    net = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(net.state_dict(), path)
    model = maskrcnn_resnet18_fpn(weights_backbone=path, backbone_norm="bn", trainable_backbone_layers=5)
    assert torch.equal(model.backbone.body.conv1.weight, net.conv1.weight)
    assert isinstance(model.backbone.body.bn1, torch.nn.BatchNorm2d)


def test_weights_of_another_depth_list_every_offending_key(tmp_path):
    net = torchvision.models.resnet34()
    path = tmp_path / "resnet34.safetensors"
    save_file(net.state_dict(), str(path))
    with pytest.raises(
        ValueError, match=r"do not fit the resnet18 backbone: missing keys \[\].*unexpected keys \['layer1.2"
    ):
        maskrcnn_resnet18_fpn(weights_backbone=str(path))


def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match=r"could not read weights from .*broken.safetensors.*corrupt"):
        maskrcnn_resnet18_fpn(weights_backbone=str(path))


def test_missing_file_path_object(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        maskrcnn_resnet18_fpn(weights_backbone=tmp_path / "nope.safetensors")


def test_enum_metadata_points_at_torchvision_weights_on_the_hub():
    v1 = ResNet101BackboneWeights.IMAGENET1K_V1.value
    assert v1.repo_id == "timm/resnet101.tv_in1k"
    assert v1.meta["metrics"]["acc@1"] == 77.374
    assert ResNet101BackboneWeights.DEFAULT is ResNet101BackboneWeights.IMAGENET1K_V1
    assert ResNet101BackboneWeights.IMAGENET1K_V2.value.repo_id == "timm/resnet101.tv2_in1k"
