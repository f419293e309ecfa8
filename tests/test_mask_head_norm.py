"""``mask_head_norm`` / ``MaskHeadConfig.norm``: GroupNorm in the mask branch, off by default (the seed's)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor

from helpers.models import HUB_OPTIONS, TRAIN_OPTIONS, hub_model, tiny_model
from helpers.rods import rods_image
from maskrcnn_custom import MaskRCNNConfig, from_pretrained, make_config, predict, save_pretrained
from maskrcnn_custom.engine.speed import cpu_speedups_context
from maskrcnn_custom.models import HighResMaskPredictor
from maskrcnn_custom.models.loading import apply_overrides
from maskrcnn_custom.models.network import head_group_norm


def _rod_target(size: int = 64):
    masks = torch.zeros(2, size, size, dtype=torch.uint8)
    masks[0, 30:33, 4:60] = 1
    for i in range(8, 56):
        masks[1, i, i - 2 : i + 1] = 1
    boxes = torch.tensor([[4.0, 30.0, 60.0, 33.0], [6.0, 8.0, 57.0, 56.0]])
    return {"boxes": boxes, "labels": torch.tensor([1, 1]), "masks": masks}


def _norms(module: nn.Module) -> list[nn.GroupNorm]:
    return [m for m in module.modules() if isinstance(m, nn.GroupNorm)]


def test_default_is_the_seed_mask_branch_without_norm():
    assert make_config().mask_head.norm == "none"
    model = tiny_model(seed=0, **HUB_OPTIONS)
    assert type(model.roi_heads.mask_predictor) is MaskRCNNPredictor
    assert not _norms(model.roi_heads)


@pytest.mark.parametrize(("channels", "groups"), [(256, 32), (128, 32), (64, 16), (32, 8), (1500, 4), (6, 1)])
def test_group_counts(channels, groups):
    norm = head_group_norm(channels)
    assert (norm.num_groups, norm.num_channels) == (groups, channels)


@pytest.mark.parametrize("resolution", [28, 56])
def test_gn_puts_a_group_norm_after_every_conv_of_the_mask_branch(resolution):
    model = tiny_model(seed=0, **{**TRAIN_OPTIONS, "mask_resolution": resolution, "mask_head_norm": "gn"})
    head, predictor = model.roi_heads.mask_head, model.roi_heads.mask_predictor
    convs = [m for m in head.modules() if isinstance(m, nn.Conv2d)]
    deconvs = [m for m in predictor.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert isinstance(predictor, HighResMaskPredictor)  # also at 28 px, where the seed uses torchvision's
    assert len(_norms(head)) == len(convs) and len(_norms(predictor)) == len(deconvs) == 1 + (
        resolution == 56
    )
    assert all(c.bias is None for c in convs + deconvs)  # the norm's shift replaces the bias
    assert model.roi_heads.mask_predictor.mask_fcn_logits.bias is not None
    assert not _norms(model.backbone.body) and not _norms(model.roi_heads.box_head)  # only the mask branch


def test_gn_trains_with_and_without_the_cpu_speedups():
    torch.manual_seed(0)
    model = tiny_model(seed=0, **{**TRAIN_OPTIONS, "mask_resolution": 56, "mask_head_norm": "gn"}).train()
    images, targets = [torch.rand(3, 64, 64)], [_rod_target()]
    grads = []
    for enabled in (False, True):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        with cpu_speedups_context(model, enabled=enabled):
            loss = model(images, targets)["loss_mask"]
            loss.backward()
        grads.append((float(loss), model.roi_heads.mask_predictor.norm1.weight.grad.clone()))
    (loss_a, grad_a), (loss_b, grad_b) = grads
    assert grad_a.abs().sum() > 0
    assert loss_a == pytest.approx(loss_b, rel=1e-4)
    torch.testing.assert_close(grad_a, grad_b, rtol=1e-3, atol=1e-6)


def test_invalid_norm_names_the_parameter_and_the_fix():
    with pytest.raises(
        ValueError, match=r"mask_head_norm \(mask_head.norm\) must be one of \['none', 'gn'\].*'bn'"
    ):
        make_config(mask_head_norm="bn")


def test_config_round_trip_and_configs_written_before_the_field():
    cfg = make_config(mask_head_norm="gn", mask_resolution=56)
    assert MaskRCNNConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    old = MaskRCNNConfig().to_dict()
    del old["mask_head"]["norm"]
    assert MaskRCNNConfig.from_dict(old).mask_head.norm == "none"


def test_save_and_load_keep_the_norm_and_the_predictions(tmp_path):
    model = hub_model(num_classes=2, mask_resolution=56, mask_head_norm="gn")
    folder = save_pretrained(model, tmp_path / "m")
    assert json.loads((folder / "config.json").read_text())["mask_head"]["norm"] == "gn"
    loaded = from_pretrained(folder)
    assert loaded.config.mask_head.norm == "gn" and len(_norms(loaded.roi_heads)) == len(
        _norms(model.roi_heads)
    )
    image = rods_image(seed=0)[:, :64, :64]
    [a], [b] = predict(model, image, score_threshold=0.05), predict(loaded, image, score_threshold=0.05)
    assert len(a) == len(b) and torch.equal(a.masks, b.masks)


def test_weights_fix_the_norm():
    cfg = make_config(mask_head_norm="gn")
    assert apply_overrides(cfg, {"mask_head_norm": "gn"}, "here") == cfg
    with pytest.raises(ValueError, match=r"mask_head_norm='none' \(the weights have 'gn'\)"):
        apply_overrides(cfg, {"mask_head_norm": "none"}, "here")
