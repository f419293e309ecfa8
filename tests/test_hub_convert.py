"""Converting seed-style ``torch.save(model.state_dict())`` checkpoints into save_pretrained folders."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor
from torchvision.models.detection.rpn import AnchorGenerator

from helpers.hub import assert_same_predictions, images
from maskrcnn_custom import convert_checkpoint, from_pretrained
from maskrcnn_custom.cli import main


def seed_model(arch: str = "resnet18", num_classes: int = 2, norm_layer=None) -> MaskRCNN:
    """The seed's network, written as the seed writes it (plain torchvision), with a small backbone."""
    torch.manual_seed(0)
    extra = {} if norm_layer is None else {"norm_layer": norm_layer}
    backbone = resnet_fpn_backbone(backbone_name=arch, weights=None, trainable_layers=3, **extra)
    anchors = AnchorGenerator(
        sizes=((32,), (64,), (64,), (76,), (100,)),
        aspect_ratios=tuple((0.25, 0.33, 1, 2, 3) for _ in range(5)),
    )
    box_pool = torchvision.ops.MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
    mask_pool = torchvision.ops.MultiScaleRoIAlign(featmap_names=["0"], output_size=14, sampling_ratio=2)
    model = MaskRCNN(
        backbone=backbone,
        num_classes=num_classes,
        min_size=256,
        max_size=256,
        rpn_anchor_generator=anchors,
        box_roi_pool=box_pool,
        mask_roi_pool=mask_pool,
        rpn_batch_size_per_image=512,
        box_detections_per_img=5,
        rpn_pre_nms_top_n_test=50,
        rpn_post_nms_top_n_test=20,
    )
    in_features = model.roi_heads.box_predictor.cls_score.in_features
    model.roi_heads.box_predictor = FastRCNNPredictor(in_features, num_classes)
    model.roi_heads.mask_predictor = MaskRCNNPredictor(256, 1500, num_classes)
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.weight.normal_(0, 0.5)
        for name, buf in model.backbone.body.named_buffers():
            if name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture(scope="module")
def seed_pth(tmp_path_factory):
    model = seed_model()
    path = tmp_path_factory.mktemp("seed") / "maskrcnn_seed.pth"
    torch.save(model.state_dict(), path)
    return path, model


def test_seed_state_dict_converts_and_predicts_identically(seed_pth, tmp_path):
    path, seed = seed_pth
    assert not any(k.endswith("num_batches_tracked") for k in seed.state_dict())  # FrozenBatchNorm2d
    out = convert_checkpoint(
        path,
        tmp_path / "seed",
        arch="resnet18",
        class_names=["__background__", "rod"],
        box_detections_per_img=5,
        rpn_pre_nms_top_n_test=50,
        rpn_post_nms_top_n_test=20,
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "checksums.json",
        "config.json",
        "model.safetensors",
    ]
    config = json.loads((out / "config.json").read_text())
    assert config["backbone"] == {
        "name": "resnet18",
        "norm": "frozen_bn",
        "trainable_layers": 3,
        "returned_layers": [1, 2, 3, 4],
        "out_channels": 256,
    }
    assert config["num_classes"] == 2 and config["class_names"] == ["__background__", "rod"]
    assert "maskrcnn_seed.pth" in (out / "README.md").read_text()
    loaded = from_pretrained(out)
    assert set(loaded.state_dict()) == set(seed.state_dict())
    for key, value in seed.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    with torch.no_grad():
        assert_same_predictions(seed(images()), loaded(images()))


def test_num_classes_is_read_from_the_checkpoint_and_checked(seed_pth, tmp_path):
    path, _ = seed_pth
    with pytest.raises(ValueError, match=r"num_classes=3 but the checkpoint's box predictor has 2 classes"):
        convert_checkpoint(path, tmp_path / "x", arch="resnet18", num_classes=3)
    assert not (tmp_path / "x").exists()


def test_wrong_architecture_lists_keys(seed_pth, tmp_path):
    path, _ = seed_pth
    with pytest.raises(ValueError) as info:
        convert_checkpoint(path, tmp_path / "x", arch="resnet34")
    message = str(info.value)
    assert "missing keys ['backbone.body.layer1.2.bn1.bias'" in message
    assert "Pass arch=" in message
    with pytest.raises(
        ValueError, match=r"mask_predictor.conv5_mask.weight: file \(256, 1500, 2, 2\) vs model"
    ):
        convert_checkpoint(path, tmp_path / "y", arch="resnet18", mask_hidden_dim=64)


def test_batchnorm_checkpoint_needs_backbone_norm_bn(tmp_path):
    model = seed_model(norm_layer=torch.nn.BatchNorm2d)
    path = tmp_path / "bn.pth"
    torch.save({"model": model.state_dict(), "epoch": 3}, path)  # a training checkpoint dict works too
    with pytest.raises(ValueError, match=r"num_batches_tracked.*pass backbone_norm='bn'"):
        convert_checkpoint(path, tmp_path / "x", arch="resnet18")
    out = convert_checkpoint(path, tmp_path / "ok", arch="resnet18", backbone_norm="bn")
    loaded = from_pretrained(out)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_dataparallel_prefix_is_stripped(seed_pth, tmp_path):
    _, seed = seed_pth
    prefixed = tmp_path / "dp.pth"
    torch.save({f"module.{k}": v for k, v in seed.state_dict().items()}, prefixed)
    out = convert_checkpoint(prefixed, tmp_path / "dp", arch="resnet18")
    assert torch.equal(
        from_pretrained(out).state_dict()["rpn.head.cls_logits.weight"],
        seed.state_dict()["rpn.head.cls_logits.weight"],
    )


def test_pickled_model_objects_are_never_loaded(tmp_path):
    path = tmp_path / "whole_model.pth"
    torch.save(torch.nn.Linear(2, 2), path)  # torch.save(model), not its state dict
    with pytest.raises(ValueError, match=r"weights_only=True.*torch.save\(model.state_dict\(\), path\)"):
        convert_checkpoint(path, tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        convert_checkpoint(tmp_path / "missing.pth", tmp_path / "x")
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a Mask R-CNN state dict"):
        convert_checkpoint(tmp_path / "other.pth", tmp_path / "x")


def test_cli_convert(seed_pth, tmp_path, capsys):
    path, seed = seed_pth
    out = tmp_path / "cli"
    code = main(["convert", str(path), str(out), "--arch", "resnet18", "--class-names", "bg,rod", "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["files"] == ["README.md", "checksums.json", "config.json", "model.safetensors"]
    loaded = from_pretrained(out)
    assert loaded.config.class_names == ("bg", "rod")
    assert torch.equal(
        loaded.state_dict()["backbone.fpn.layer_blocks.0.0.weight"],
        seed.state_dict()["backbone.fpn.layer_blocks.0.0.weight"],
    )
    assert main(["convert", str(path), str(tmp_path / "bad"), "--arch", "resnet50"]) == 2
    assert "does not match a resnet50 Mask R-CNN" in capsys.readouterr().err
    # a save_pretrained config.json describes the architecture exactly
    assert main(["convert", str(path), str(tmp_path / "again"), "--config", str(out / "config.json")]) == 0
