"""Small, deterministic models and images for the inference and export tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from maskrcnn_custom import maskrcnn_resnet18_fpn


def rods_image(size: int = 96, *, seed: int = 0, n: int = 4) -> torch.Tensor:
    """A float 3xHxW image in [0, 1] with ``n`` bright thin rods on a dark, slightly noisy background."""
    rng = np.random.default_rng(seed)
    img = rng.uniform(0.0, 0.1, size=(size, size)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(n):
        cx, cy = rng.uniform(0.25 * size, 0.75 * size, size=2)
        angle = rng.uniform(0, np.pi)
        length, width = rng.uniform(0.3 * size, 0.5 * size), rng.uniform(2.0, 4.0)
        dx, dy = np.cos(angle), np.sin(angle)
        along = (xx - cx) * dx + (yy - cy) * dy
        across = -(xx - cx) * dy + (yy - cy) * dx
        img[(np.abs(along) < length / 2) & (np.abs(across) < width / 2)] = rng.uniform(0.7, 1.0)
    return torch.from_numpy(img).unsqueeze(0).repeat(3, 1, 1)


def detecting_model(*, seed: int = 0, **kwargs) -> torch.nn.Module:
    """A light resnet18 Mask R-CNN (random weights, small mask head) whose class scores spread over (0, 1).

    The class-score layer gets larger weights than the library's training initialisation, so that on
    ``rods_image`` a deterministic handful (3-4) of detections land above 0.5 and about 20 above 0.05.
    """
    torch.manual_seed(seed)
    kwargs.setdefault("box_detections_per_img", 20)
    kwargs.setdefault("rpn_pre_nms_top_n_test", 500)
    kwargs.setdefault("rpn_post_nms_top_n_test", 200)
    model = maskrcnn_resnet18_fpn(
        weights_backbone=None,
        mask_hidden_dim=32,
        mask_head_layers=(32, 32),
        min_size=128,
        max_size=128,
        **kwargs,
    )
    cls = model.roi_heads.box_predictor.cls_score
    torch.manual_seed(seed + 1)
    with torch.no_grad():
        cls.weight.normal_(0.0, 0.1)
        cls.bias.copy_(torch.tensor([0.0, 0.5]))
    return model.eval()


def save_detecting_model(folder: Path) -> Path:
    """``save_pretrained`` folder of :func:`detecting_model` (class names ``("background", "rod")``)."""
    from maskrcnn_custom import save_pretrained

    return save_pretrained(detecting_model(), folder, class_names=("background", "rod"))
