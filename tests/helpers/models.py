"""The one tiny-model factory of the tests: random-weight resnet18 Mask R-CNNs, nothing downloaded.

:func:`tiny_model` builds every test model; the named option sets below are what the engine, Hub and
inference tests pass to it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from maskrcnn_custom import build_model, make_config

#: Fast training on 64 px rods (the engine tests): small anchors, few RoIs and proposals.
TRAIN_OPTIONS: dict[str, Any] = {
    "anchor_sizes": ((8,), (16,), (32,), (48,), (64,)),
    "mask_hidden_dim": 32,
    "mask_head_layers": (64, 64),
    "box_batch_size_per_image": 64,
    "rpn_batch_size_per_image": 64,
    "rpn_pre_nms_top_n_train": 200,
    "rpn_post_nms_top_n_train": 100,
    "rpn_pre_nms_top_n_test": 100,
    "rpn_post_nms_top_n_test": 50,
    "box_detections_per_img": 20,
}

#: Fast forward passes for save/load round trips (the Hub tests).
HUB_OPTIONS: dict[str, Any] = {
    "mask_hidden_dim": 32,
    "mask_head_layers": (64, 64),
    "box_detections_per_img": 5,
    "rpn_pre_nms_top_n_test": 50,
    "rpn_post_nms_top_n_test": 20,
}


def tiny_config(
    *, size: int = 64, fpn_channels: int | None = 64, representation_size: int | None = 256, **options: Any
):
    """``make_config`` of a resnet18 at ``size`` px; ``fpn_channels``/``representation_size`` narrow it.

    ``None`` keeps the builder's width (256 FPN channels, a 1024-wide box head).
    """
    options.pop("weights_backbone", None)
    cfg = make_config(backbone="resnet18", **{"min_size": size, "max_size": size, **options})
    if fpn_channels is not None:
        cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, out_channels=fpn_channels))
    if representation_size is not None:
        cfg = dataclasses.replace(
            cfg, box_head=dataclasses.replace(cfg.box_head, representation_size=representation_size)
        )
    return cfg


def tiny_model(
    *,
    size: int = 64,
    num_classes: int = 2,
    seed: int | None = None,
    fpn_channels: int | None = 64,
    representation_size: int | None = 256,
    **options: Any,
) -> torch.nn.Module:
    """A random resnet18 Mask R-CNN for tests (train mode).

    Args:
        size: ``min_size`` = ``max_size``.
        num_classes: Classes including the background.
        seed: Seed torch's generator first (``None``: use its current state).
        fpn_channels: FPN width (``None``: the builder's 256).
        representation_size: Box-head width (``None``: the builder's 1024).
        **options: More ``make_config`` fields, e.g. :data:`TRAIN_OPTIONS` or :data:`HUB_OPTIONS`.
    """
    if seed is not None:
        torch.manual_seed(seed)
    config = tiny_config(
        size=size,
        fpn_channels=fpn_channels,
        representation_size=representation_size,
        num_classes=num_classes,
        **options,
    )
    return build_model(config)


def spread_scores(
    model: torch.nn.Module, *, std: float, bias: tuple[float, ...] | None = None
) -> torch.nn.Module:
    """Redraw ``model``'s class-score weights with standard deviation ``std`` (and set ``bias``); eval mode.

    Larger weights than the library's training initialisation make random models produce detections with
    scores spread over (0, 1).
    """
    cls = model.roi_heads.box_predictor.cls_score
    with torch.no_grad():
        cls.weight.normal_(0.0, std)
        if bias is not None:
            cls.bias.copy_(torch.tensor(bias))
    return model.eval()


def train_model(size: int = 64, **options: Any) -> torch.nn.Module:
    """:func:`tiny_model` with :data:`TRAIN_OPTIONS` (the engine tests' model)."""
    return tiny_model(size=size, **{**TRAIN_OPTIONS, **options})


def hub_model(num_classes: int = 3, seed: int = 0, **options: Any) -> torch.nn.Module:
    """:func:`tiny_model` with :data:`HUB_OPTIONS` and spread scores, in eval mode (the Hub tests' model)."""
    model = tiny_model(
        num_classes=num_classes, seed=seed, representation_size=128, **{**HUB_OPTIONS, **options}
    )
    return spread_scores(model, std=0.5)


def detecting_model(*, seed: int = 0, **options: Any) -> torch.nn.Module:
    """A 128 px :func:`tiny_model` of the builder's width whose class scores spread over (0, 1), eval mode.

    On :func:`helpers.rods.rods_image` a few detections land above 0.5 and more above 0.05.
    """
    options = {
        "box_detections_per_img": 20,
        "rpn_pre_nms_top_n_test": 500,
        "rpn_post_nms_top_n_test": 200,
        "mask_hidden_dim": 32,
        "mask_head_layers": (32, 32),
        **options,
    }
    model = tiny_model(size=128, seed=seed, fpn_channels=None, representation_size=None, **options)
    torch.manual_seed(seed + 1)
    return spread_scores(model, std=0.1, bias=(0.0, 0.5))


def save_detecting_model(folder: Path) -> Path:
    """``save_pretrained`` folder of :func:`detecting_model` (class names ``("background", "rod")``)."""
    from maskrcnn_custom import save_pretrained

    return save_pretrained(detecting_model(), folder, class_names=("background", "rod"))


def assert_masks_follow_bias(model: torch.nn.Module, bias: torch.Tensor, image: torch.Tensor) -> None:
    """With ``bias`` (a mask-logit bias of ``model``) at -30 / +30, a pixel inside the first box is 0 / 1."""
    for value, expected in ((-30.0, 0.0), (30.0, 1.0)):
        with torch.no_grad():
            bias.fill_(value)
            out = model([image])[0]
        assert len(out["boxes"]) > 0
        x, y = int(out["boxes"][0, 0]) + 1, int(out["boxes"][0, 1]) + 1
        assert abs(out["masks"][0, 0, y, x].item() - expected) <= 1e-4
