"""A tiny, dependency-free image generator for model tests: a few bright rods on a dark background."""

import torch


def rod_batch(n_images: int, size: int, *, seed: int = 0, rods: int = 2) -> tuple[list, list]:
    """Return ``n_images`` images (3xHxW float) and torchvision-style targets with ``rods`` rods each."""
    g = torch.Generator().manual_seed(seed)
    images, targets = [], []
    for _ in range(n_images):
        img = torch.rand(3, size, size, generator=g) * 0.2
        masks, boxes = [], []
        for _ in range(rods):
            horizontal = bool(torch.randint(0, 2, (1,), generator=g))
            long = int(size * (0.4 + 0.3 * torch.rand(1, generator=g)))
            thin = max(3, size // 16)
            x0 = int(torch.randint(0, size - (long if horizontal else thin), (1,), generator=g))
            y0 = int(torch.randint(0, size - (thin if horizontal else long), (1,), generator=g))
            w, h = (long, thin) if horizontal else (thin, long)
            m = torch.zeros(size, size, dtype=torch.uint8)
            m[y0 : y0 + h, x0 : x0 + w] = 1
            masks.append(m)
            boxes.append([x0, y0, x0 + w, y0 + h])
            img[:, m.bool()] = 0.9
        images.append(img)
        targets.append(
            {
                "boxes": torch.tensor(boxes, dtype=torch.float32),
                "labels": torch.ones(rods, dtype=torch.int64),
                "masks": torch.stack(masks),
            }
        )
    return images, targets
