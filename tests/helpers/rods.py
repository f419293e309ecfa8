"""The one synthetic rod generator of the tests: bright rods on a dark noisy background, with targets.

Independent of :mod:`maskrcnn_custom.data` on purpose (the tests of the library's generator compare with it).
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


def rod_sample(index: int, *, size: int = 64, seed: int = 0, max_objects: int = 2):
    """Image ``index`` of stream ``seed``: 1 to ``max_objects`` horizontal, vertical or diagonal rods.

    Returns a float 3xHxW image in [0, 1] and a torchvision-style target (``boxes``, ``labels``, uint8
    ``masks``, ``image_id``, ``area``, ``iscrowd``). The sample depends only on ``(seed, index)``.
    """
    i, s = index, size
    g = torch.Generator().manual_seed(seed * 100003 + i)
    img = 0.1 * torch.rand(3, s, s, generator=g)
    masks = []
    count = int(torch.randint(1, max_objects + 1, (1,), generator=g))
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


class TinyRods(Dataset):
    """Map-style dataset of :func:`rod_sample` images: item ``i`` depends only on ``(seed, i)``."""

    def __init__(self, n: int = 4, size: int = 64, seed: int = 0, max_objects: int = 2) -> None:
        self.n, self.size, self.seed, self.max_objects = n, size, seed, max_objects

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return rod_sample(i, size=self.size, seed=self.seed, max_objects=self.max_objects)


def rod_batch(n_images: int, size: int, *, seed: int = 0, rods: int = 2) -> tuple[list, list]:
    """``n_images`` images and targets (``boxes``, ``labels``, ``masks``) of up to ``rods`` rods each."""
    samples = [rod_sample(i, size=size, seed=seed, max_objects=rods) for i in range(n_images)]
    keys = ("boxes", "labels", "masks")
    return [img for img, _ in samples], [{k: t[k] for k in keys} for _, t in samples]


def rods_image(size: int = 96, *, seed: int = 0, n: int = 4) -> torch.Tensor:
    """Just the image of :func:`rod_sample` (up to ``n`` rods), for inference tests."""
    return rod_sample(0, size=size, seed=seed, max_objects=n)[0]


def two_rods_target(size: int = 64, *, widths: tuple[int, int] = (2, 3)) -> dict[str, torch.Tensor]:
    """A ``size`` px target of two rods filling their boxes: one horizontal (rows 10 on), one vertical (x 40 on).

    ``widths`` are their thicknesses in pixels; the boxes are tight, labels are 1.
    """
    w0, w1 = widths
    masks = torch.zeros(2, size, size, dtype=torch.uint8)
    masks[0, 10 : 10 + w0, 5:50] = 1
    masks[1, 20:60, 40 : 40 + w1] = 1
    boxes = torch.tensor([[5.0, 10, 50, 10 + w0], [40, 20, 40 + w1, 60]])
    return {"boxes": boxes, "labels": torch.ones(2, dtype=torch.int64), "masks": masks}
