"""Tiny deterministic data and models for the engine tests (independent of maskrcnn_custom.data)."""

from __future__ import annotations

import dataclasses

import torch
from torch.utils.data import Dataset

from maskrcnn_custom import build_model, make_config


class TinyRods(Dataset):
    """Images of 1-2 bright axis-aligned or diagonal rods on a dark noisy background.

    Item ``i`` depends only on ``(seed, i)``; targets follow torchvision's format.
    """

    def __init__(self, n: int = 4, size: int = 64, seed: int = 0, max_objects: int = 2) -> None:
        self.n, self.size, self.seed, self.max_objects = n, size, seed, max_objects

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        g = torch.Generator().manual_seed(self.seed * 100003 + i)
        s = self.size
        img = 0.1 * torch.rand(3, s, s, generator=g)
        masks = []
        count = int(torch.randint(1, self.max_objects + 1, (1,), generator=g))
        yy, xx = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
        for k in range(count):
            m = torch.zeros(s, s, dtype=torch.bool)
            length = int(torch.randint(s // 2, s - 8, (1,), generator=g))
            width = int(torch.randint(4, 8, (1,), generator=g))
            kind = (i + k) % 3
            if kind == 0:  # horizontal
                y0 = int(torch.randint(2, s - width - 2, (1,), generator=g))
                x0 = int(torch.randint(2, s - length - 2, (1,), generator=g))
                m[y0 : y0 + width, x0 : x0 + length] = True
            elif kind == 1:  # vertical
                y0 = int(torch.randint(2, s - length - 2, (1,), generator=g))
                x0 = int(torch.randint(2, s - width - 2, (1,), generator=g))
                m[y0 : y0 + length, x0 : x0 + width] = True
            else:  # diagonal band
                off = int(torch.randint(-s // 4, s // 4, (1,), generator=g))
                m = ((yy - xx - off).abs() <= width // 2) & (xx > 4) & (xx < s - 4) & (yy > 4) & (yy < s - 4)
            for prev in masks:  # later objects occlude earlier ones
                prev &= ~m
            masks.append(m)
        masks = [m for m in masks if m.sum() >= 20]
        colour = torch.tensor([0.9, 0.7, 0.5]).view(3, 1, 1)
        for m in masks:
            img = torch.where(m, colour + 0.05 * torch.rand(3, s, s, generator=g), img)
        mask_t = torch.stack(masks).to(torch.uint8) if masks else torch.zeros(0, s, s, dtype=torch.uint8)
        boxes = []
        for m in masks:
            ys, xs = torch.nonzero(m, as_tuple=True)
            boxes.append([xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1])
        target = {
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.ones(len(masks), dtype=torch.int64),
            "masks": mask_t,
            "image_id": i,
            "area": mask_t.flatten(1).sum(1).to(torch.float32),
            "iscrowd": torch.zeros(len(masks), dtype=torch.int64),
        }
        return img.clamp(0, 1), target


def tiny_model(size: int = 64, **kwargs):
    """A small, fast resnet18 Mask R-CNN for tests (random init, nothing downloaded)."""
    opts = dict(
        weights_backbone=None,
        num_classes=2,
        min_size=size,
        max_size=size,
        anchor_sizes=((8,), (16,), (32,), (48,), (64,)),
        mask_hidden_dim=32,
        mask_head_layers=(64, 64),
        box_batch_size_per_image=64,
        rpn_batch_size_per_image=64,
        rpn_pre_nms_top_n_train=200,
        rpn_post_nms_top_n_train=100,
        rpn_pre_nms_top_n_test=100,
        rpn_post_nms_top_n_test=50,
        box_detections_per_img=20,
    )
    opts.update(kwargs)
    return build_model(tiny_config(**opts))


def tiny_config(**opts):
    """make_config for a resnet18 with a narrow FPN (64 channels) and a small box head: fast on CPU."""
    opts = dict(opts)
    opts.pop("weights_backbone", None)
    cfg = make_config(backbone="resnet18", **opts)
    return dataclasses.replace(
        cfg,
        backbone=dataclasses.replace(cfg.backbone, out_channels=64),
        box_head=dataclasses.replace(cfg.box_head, representation_size=256),
    )
