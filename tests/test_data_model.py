import math

import torch

from maskrcnn_custom import maskrcnn_resnet18_fpn
from maskrcnn_custom.anchors import fit_anchors
from maskrcnn_custom.data import SyntheticElongatedDataset, build_dataloaders, train_transforms


def test_synthetic_batch_trains_resnet18_with_fitted_anchors():
    torch.manual_seed(0)
    ds = SyntheticElongatedDataset(4, image_size=128, seed=0, transforms=train_transforms())
    fit = fit_anchors(SyntheticElongatedDataset(30, image_size=128, seed=1), image_size=128, max_boxes=300)
    model = maskrcnn_resnet18_fpn(
        weights_backbone=None,
        num_classes=ds.num_classes,
        min_size=128,
        max_size=128,
        rpn_batch_size_per_image=64,
        box_batch_size_per_image=16,
        mask_hidden_dim=32,
        **fit.as_kwargs(),
    )
    model.train()
    images, targets = next(iter(build_dataloaders(ds, batch_size=2).train))
    losses = model(images, targets)
    assert set(losses) == {
        "loss_classifier",
        "loss_box_reg",
        "loss_mask",
        "loss_objectness",
        "loss_rpn_box_reg",
    }
    total = sum(losses.values())
    assert all(math.isfinite(v.item()) for v in losses.values())
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
