"""Training from scratch with the seed's optimiser stays finite (it went NaN with torchvision's initialisation)."""

import math

import torch
from torch import nn

from helpers.rods import rod_batch
from maskrcnn_custom import maskrcnn_resnet101_fpn


def _seed_optimizer(model):
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.SGD(params, lr=0.003, momentum=0.9, weight_decay=0.0001)


def test_seed_network_from_scratch_trains_finite_with_plain_sgd():
    torch.manual_seed(0)
    model = maskrcnn_resnet101_fpn(weights_backbone=None, min_size=128, max_size=128)
    assert isinstance(model.backbone.body.bn1, nn.BatchNorm2d)  # trainable normalisation from scratch
    model.train()
    optimizer = _seed_optimizer(model)
    history = []
    for step in range(6):
        images, targets = rod_batch(2, 128, seed=step, rods=2)
        losses = model(images, targets)
        history.append({k: float(v.detach()) for k, v in losses.items()})
        total = sum(losses.values())
        assert torch.isfinite(total), (step, history[-1])
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert abs(history[0]["loss_mask"] - math.log(2)) < 0.05, history[0]
    assert all(math.isfinite(v) for h in history for v in h.values())


def test_torchvision_default_mask_logit_init_starts_far_from_ln2():
    """The reason for the library's initialisation: Kaiming fan-out on 1500 -> 2 channels gives huge logits."""
    torch.manual_seed(0)
    model = maskrcnn_resnet101_fpn(weights_backbone=None, min_size=128, max_size=128)
    logits = model.roi_heads.mask_predictor.mask_fcn_logits
    nn.init.kaiming_normal_(logits.weight, mode="fan_out", nonlinearity="relu")  # torchvision's choice
    model.train()
    images, targets = rod_batch(2, 128, seed=0, rods=2)
    first = float(model(images, targets)["loss_mask"].detach())
    assert first > 5 * math.log(2), first
