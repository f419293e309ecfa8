"""Analytic thin shapes rendered as binary masks (pixel (r, c) covers [c, c+1] x [r, r+1], y down)."""

import math

import numpy as np


def CENTRE(size):
    """Default centre, off the pixel grid's symmetry so that no pixel centre lies exactly on the outline."""
    return (size / 2 + 0.23, size / 2 + 0.37)


def _grid(size):
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    return xs, ys


def capsule(size, length, width, angle_deg, centre=None):
    """Straight capsule (a segment thickened by width/2): total length ``length`` tip to tip."""
    cx, cy = centre if centre is not None else CENTRE(size)
    a = math.radians(angle_deg)
    ux, uy = math.cos(a), -math.sin(a)  # counter-clockwise on screen
    half = (length - width) / 2
    xs, ys = _grid(size)
    t = np.clip((xs - cx) * ux + (ys - cy) * uy, -half, half)
    d = np.hypot(xs - (cx + t * ux), ys - (cy + t * uy))
    return d <= width / 2


def arc(size, radius, theta_deg, width, start_deg=0.0, centre=None):
    """Annular sector of mid radius ``radius`` and angle ``theta`` with flat (radial) ends."""
    cx, cy = centre if centre is not None else (size / 2, size / 2)
    xs, ys = _grid(size)
    r = np.hypot(xs - cx, ys - cy)
    phi = (np.degrees(np.arctan2(-(ys - cy), xs - cx)) - start_deg) % 360.0
    return (np.abs(r - radius) <= width / 2) & (phi <= theta_deg)


def flip_boundary(mask, fraction, seed):
    """Flip a random ``fraction`` of the pixels on the inner and outer contour of ``mask``."""
    rng = np.random.default_rng(seed)
    m = mask.astype(bool)
    p = np.pad(m, 1)
    nb = p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
    nb_all = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    contour = (m & ~nb_all) | (~m & nb)
    idx = np.argwhere(contour)
    pick = idx[rng.random(len(idx)) < fraction]
    out = m.copy()
    out[pick[:, 0], pick[:, 1]] ^= True
    return out
