"""Random thin rods (any angle, 3-10 per image) on a noisy background, with torchvision-style targets."""

import numpy as np
import torch


def rods_sample(rng: np.random.Generator, size: int = 256, *, min_rods: int = 3, max_rods: int = 10):
    """One float 3xHxW image in [0, 1] and its target (boxes, labels, uint8 masks)."""
    img = rng.uniform(0.0, 0.15, size=(size, size)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    masks, boxes = [], []
    for _ in range(int(rng.integers(min_rods, max_rods + 1))):
        cx, cy = rng.uniform(0.15 * size, 0.85 * size, size=2)
        angle = rng.uniform(0, np.pi)
        length, width = rng.uniform(0.15 * size, 0.45 * size), rng.uniform(3.0, 7.0)
        dx, dy = np.cos(angle), np.sin(angle)
        along = (xx - cx) * dx + (yy - cy) * dy
        across = -(xx - cx) * dy + (yy - cy) * dx
        m = (np.abs(along) < length / 2) & (np.abs(across) < width / 2)
        ys, xs = np.nonzero(m)
        if len(xs) < 10:
            continue
        img[m] = rng.uniform(0.6, 1.0)
        masks.append(m.astype(np.uint8))
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    image = torch.from_numpy(img).unsqueeze(0).repeat(3, 1, 1)
    target = {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.ones(len(boxes), dtype=torch.int64),
        "masks": torch.from_numpy(np.stack(masks))
        if masks
        else torch.zeros(0, size, size, dtype=torch.uint8),
    }
    return image, target
