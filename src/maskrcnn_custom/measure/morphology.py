"""Binary-mask morphology in NumPy/PyTorch: thinning, distances to the background, boundaries, hulls.

These are the building blocks of :func:`~maskrcnn_custom.measure.measure_masks` and of the thin-structure
metrics of :func:`~maskrcnn_custom.evaluate`; they need no SciPy, scikit-image or OpenCV.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "boundary_region",
    "convex_hull",
    "distance_to_background",
    "longest_path",
    "min_area_rect",
    "skeletonize",
]


def _as_mask(mask: np.ndarray | torch.Tensor, name: str = "mask") -> np.ndarray:
    m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (H x W), got shape {m.shape}")
    return m != 0


def skeletonize(mask: np.ndarray | torch.Tensor) -> np.ndarray:
    """One-pixel-wide medial skeleton of a binary mask by Zhang-Suen thinning (vectorised NumPy).

    Args:
        mask: H x W array or tensor, non-zero inside the object(s).

    Returns:
        A boolean H x W array, ``True`` on the skeleton (a subset of the mask; empty for an empty mask).

    Examples:
        >>> import numpy as np
        >>> from maskrcnn_custom.measure import skeletonize
        >>> m = np.zeros((9, 20), bool); m[3:6, 2:18] = True
        >>> skeleton = skeletonize(m)
        >>> int(skeleton[4].sum()) >= 12, int(skeleton[[3, 5]].sum())
        (True, 0)
    """
    img = np.pad(_as_mask(mask), 1).astype(np.uint8)
    while True:
        changed = False
        for step in (0, 1):
            c = img[1:-1, 1:-1]
            p2, p3, p4 = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:]
            p5, p6, p7 = img[2:, 2:], img[2:, 1:-1], img[2:, :-2]
            p8, p9 = img[1:-1, :-2], img[:-2, :-2]
            ring = (p2, p3, p4, p5, p6, p7, p8, p9, p2)
            b = sum(x.astype(np.int16) for x in ring[:8])
            a = sum(((ring[i] == 0) & (ring[i + 1] == 1)).astype(np.int16) for i in range(8))
            if step == 0:
                side = ((p2 & p4 & p6) == 0) & ((p4 & p6 & p8) == 0)
            else:
                side = ((p2 & p4 & p8) == 0) & ((p2 & p6 & p8) == 0)
            delete = (c == 1) & (b >= 2) & (b <= 6) & (a == 1) & side
            if delete.any():
                c[delete] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def distance_to_background(
    mask: np.ndarray | torch.Tensor, points: np.ndarray, *, to_edge: bool = False
) -> np.ndarray:
    """Exact Euclidean distance from pixel centres ``points`` to the nearest background pixel.

    Pixels outside the array count as background. The nearest background pixel of a foreground pixel is
    always 4-adjacent to the foreground, so only those candidates are compared (in chunks).

    Args:
        mask: H x W binary mask.
        points: ``[K, 2]`` integer ``(row, col)`` positions.
        to_edge: Measure to the nearest point of the background pixel's unit square (the object's outline)
            instead of to its centre.

    Returns:
        ``float64 [K]`` distances (0 for a point on the background).

    Examples:
        >>> import numpy as np
        >>> from maskrcnn_custom.measure import distance_to_background
        >>> m = np.zeros((7, 7), bool); m[1:6, 1:6] = True
        >>> distance_to_background(m, np.array([[3, 3], [1, 1], [0, 0]])).tolist()
        [3.0, 1.0, 0.0]
        >>> distance_to_background(m, np.array([[3, 3]]), to_edge=True).tolist()
        [2.5]
    """
    m = np.pad(_as_mask(mask), 1)
    pts = np.asarray(points, dtype=np.int64).reshape(-1, 2) + 1
    bg = ~m
    edge = bg & (
        np.roll(m, 1, 0) | np.roll(m, -1, 0) | np.roll(m, 1, 1) | np.roll(m, -1, 1)
    )  # the pad ring keeps np.roll from wrapping foreground around
    cand = np.argwhere(edge).astype(np.float64)
    out = np.zeros(len(pts), dtype=np.float64)
    if len(cand) == 0 or len(pts) == 0:
        return out
    inside = m[pts[:, 0], pts[:, 1]]
    for s in range(0, len(pts), 512):
        p = pts[s : s + 512].astype(np.float64)
        diff = np.abs(p[:, None, :] - cand[None, :, :])
        if to_edge:
            diff = np.maximum(diff - 0.5, 0.0)
        d2 = (diff**2).sum(-1).min(1)
        out[s : s + 512] = np.sqrt(d2)
    out[~inside] = 0.0
    return out


_STEPS = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]


def _farthest(start: int, nbrs: list[list[tuple[int, float]]]) -> tuple[int, np.ndarray, np.ndarray]:
    dist = np.full(len(nbrs), np.inf)
    prev = np.full(len(nbrs), -1, dtype=np.int64)
    dist[start] = 0.0
    heap = [(0.0, start)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist[u]:
            continue
        for v, w in nbrs[u]:
            if d + w < dist[v]:
                dist[v] = d + w
                prev[v] = u
                heapq.heappush(heap, (d + w, v))
    reach = np.where(np.isfinite(dist), dist, -1.0)
    return int(reach.argmax()), dist, prev


def longest_path(skeleton: np.ndarray) -> np.ndarray:
    """The longest shortest path (8-connected, steps 1 and sqrt 2) through the largest skeleton component.

    Found by a double sweep (farthest pixel from any pixel, then farthest from that one), which is exact on
    trees (skeletons without loops).

    Args:
        skeleton: H x W boolean skeleton (e.g. from :func:`skeletonize`).

    Returns:
        ``int64 [K, 2]`` ``(row, col)`` pixels from one end to the other (``[0, 2]`` for an empty skeleton).

    Examples:
        >>> import numpy as np
        >>> from maskrcnn_custom.measure import longest_path
        >>> s = np.zeros((5, 8), bool); s[2, 1:7] = True; s[1, 3] = True
        >>> sorted(longest_path(s)[[0, -1]].tolist())
        [[2, 1], [2, 6]]
    """
    pix = np.argwhere(_as_mask(skeleton, "skeleton"))
    if len(pix) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    index = {(int(r), int(c)): i for i, (r, c) in enumerate(pix)}
    nbrs: list[list[tuple[int, float]]] = [[] for _ in range(len(pix))]
    for i, (r, c) in enumerate(pix.tolist()):
        for dr, dc in _STEPS:
            j = index.get((r + dr, c + dc))
            if j is not None:
                nbrs[i].append((j, math.sqrt(2.0) if dr and dc else 1.0))
    # components: pick the one with the most pixels
    comp = np.full(len(pix), -1)
    sizes = []
    for s in range(len(pix)):
        if comp[s] >= 0:
            continue
        stack, comp[s], n = [s], len(sizes), 0
        while stack:
            u = stack.pop()
            n += 1
            for v, _ in nbrs[u]:
                if comp[v] < 0:
                    comp[v] = len(sizes)
                    stack.append(v)
        sizes.append(n)
    start = int(np.flatnonzero(comp == int(np.argmax(sizes)))[0])
    a, _, _ = _farthest(start, nbrs)
    b, _, prev = _farthest(a, nbrs)
    path = [b]
    while path[-1] != a:
        path.append(int(prev[path[-1]]))
    return pix[np.asarray(path[::-1])]


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (Andrew's monotone chain) of 2-D points, counter-clockwise, without repeats.

    Examples:
        >>> import numpy as np
        >>> from maskrcnn_custom.measure import convex_hull
        >>> len(convex_hull(np.array([[0, 0], [2, 0], [1, 1], [2, 2], [0, 2]])))
        4
    """
    pts = np.unique(np.asarray(points), axis=0)
    if len(pts) <= 2:
        return pts.astype(np.float64)
    p = [tuple(x) for x in pts.tolist()]  # np.unique sorts by x then y

    def build(seq: list[tuple[float, float]]) -> list[tuple[float, float]]:
        chain: list[tuple[float, float]] = []
        for q in seq:
            while len(chain) >= 2:
                (ax, ay), (bx, by) = chain[-2], chain[-1]
                if (bx - ax) * (q[1] - ay) - (by - ay) * (q[0] - ax) <= 0:
                    chain.pop()
                else:
                    break
            chain.append(q)
        return chain

    lower = build(p)
    upper = build(p[::-1])
    return np.asarray(lower[:-1] + upper[:-1], dtype=np.float64)


def min_area_rect(mask: np.ndarray | torch.Tensor) -> tuple[float, float, float, float, float] | None:
    """Minimum-area enclosing rectangle of a mask's pixel squares (rotating calipers on the convex hull).

    Returns:
        ``(cx, cy, long_side, short_side, angle)`` in pixels (x to the right, y down, pixel ``(r, c)``
        covering ``[c, c+1] x [r, r+1]``), with ``angle`` the direction of the long side in degrees in
        ``[0, 180)``, counter-clockwise as seen on screen (0 horizontal, 90 vertical); ``None`` for an empty
        mask.

    Examples:
        >>> import numpy as np
        >>> from maskrcnn_custom.measure import min_area_rect
        >>> m = np.zeros((32, 32), np.uint8); m[10:13, 2:26] = 1
        >>> min_area_rect(m)
        (14.0, 11.5, 24.0, 3.0, 0.0)
    """
    m = _as_mask(mask)
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return None
    sub = m[rows]
    left = sub.argmax(axis=1)
    right = m.shape[1] - sub[:, ::-1].argmax(axis=1)  # exclusive right edge
    ys = np.concatenate([rows, rows + 1, rows, rows + 1])
    xs = np.concatenate([left, left, right, right])
    hull = convex_hull(np.stack([xs, ys], axis=1))
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    keep = lengths > 0
    u = edges[keep] / lengths[keep, None]
    v = np.stack([-u[:, 1], u[:, 0]], axis=1)
    pu = hull @ u.T
    pv = hull @ v.T
    w = pu.max(0) - pu.min(0)
    h = pv.max(0) - pv.min(0)
    k = int(np.argmin(w * h + 1e-9 * np.arange(len(w))))  # first of equal areas, deterministic
    cu = 0.5 * (pu[:, k].max() + pu[:, k].min())
    cv = 0.5 * (pv[:, k].max() + pv[:, k].min())
    centre = cu * u[k] + cv * v[k]
    axis = u[k] if w[k] >= h[k] else v[k]
    angle = math.degrees(math.atan2(-axis[1], axis[0])) % 180.0
    if angle >= 180.0 - 1e-9:
        angle = 0.0
    return (
        float(centre[0]),
        float(centre[1]),
        float(max(w[k], h[k])),
        float(min(w[k], h[k])),
        round(float(angle), 9) + 0.0,
    )


def boundary_region(masks: torch.Tensor | np.ndarray, *, dilation: int) -> torch.Tensor:
    """Inner boundary band of binary masks: mask pixels within ``dilation`` pixels (chessboard) of the contour.

    Equals Boundary IoU's ``mask - erode(mask, 3x3, iterations=dilation)`` with the image border counted as
    contour (as the reference implementation pads with zeros), computed with two 1-D max-pools.

    Args:
        masks: ``[N, H, W]`` (or ``[H, W]``) binary masks.
        dilation: Band width in pixels (>= 1).

    Returns:
        A boolean tensor of the same shape.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.measure import boundary_region
        >>> m = torch.zeros(7, 7, dtype=torch.bool); m[1:6, 1:6] = True
        >>> int(boundary_region(m, dilation=1).sum()), int(boundary_region(m, dilation=2).sum())
        (16, 24)
    """
    if int(dilation) < 1:
        raise ValueError(f"dilation must be at least 1 pixel, got {dilation!r}")
    d = int(dilation)
    t = torch.as_tensor(np.asarray(masks)) if not isinstance(masks, torch.Tensor) else masks
    squeeze = t.dim() == 2
    m = (t[None] if squeeze else t).to(torch.bool)
    if m.dim() != 3:
        raise ValueError(f"masks must be [N, H, W] or [H, W], got shape {tuple(t.shape)}")
    if m.numel() == 0:
        return m[0] if squeeze else m
    inv = (~m).float()[:, None]
    inv = F.pad(inv, (d, d, d, d), value=1.0)
    inv = F.max_pool2d(inv, kernel_size=(1, 2 * d + 1), stride=1)
    inv = F.max_pool2d(inv, kernel_size=(2 * d + 1, 1), stride=1)
    eroded = inv[:, 0] < 0.5
    out = m & ~eroded
    return out[0] if squeeze else out
