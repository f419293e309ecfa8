"""A fast, deterministic generator of synthetic instance-segmentation data with elongated objects.

Image ``i`` of a :class:`SyntheticElongatedDataset` is a pure function of ``(seed, i)``: it is generated
on demand from its own ``numpy.random.Generator`` seeded with ``[seed, i]``, so any index can be read in
any order, by any number of ``DataLoader`` workers, and always gives the same image and target.

Objects are rasterised with vectorised numpy on a small window around each object: capsules and bent
fibres as the set of pixels within ``width / 2`` of a polyline (a capsule signed distance field, evaluated
per segment on the segment's own bounding window), ellipses from their implicit equation. Later objects
occlude earlier ones; every mask holds only the visible pixels of its object.

Conventions:
    * Pixel ``(row, col)`` has its centre at ``(x, y) = (col, row)``.
    * Boxes are ``XYXY`` in pixel-edge coordinates and are the **tight box of the mask**:
      ``x1`` = first mask column, ``y1`` = first mask row, ``x2`` = last mask column + 1,
      ``y2`` = last mask row + 1. So ``x2 - x1`` is the mask's width in pixels and a one-pixel mask at
      column 5, row 7 has box ``(5, 7, 6, 8)``. This is the convention of COCO ``bbox`` (``[x, y, w, h]``)
      and of ``torchvision.ops.masks_to_boxes`` plus one on ``x2``/``y2``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .boxes import masks_to_tight_boxes

__all__ = ["OBJECT_KINDS", "SYNTHETIC_PRESETS", "SyntheticConfig", "SyntheticElongatedDataset"]

#: Object kinds the generator draws.
OBJECT_KINDS: tuple[str, ...] = ("rod", "ellipse", "fibre")

_LABEL_MODES = ("single", "kind")
# A uniform variable on [-0.5, 0.5] times sqrt(12) has unit standard deviation.
_UNIFORM_TO_STD = math.sqrt(12.0)


def _check_range(
    name: str, value: Any, *, low: float, high: float | None = None, integer: bool = False
) -> None:
    ok = (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    )
    if ok and integer:
        ok = all(isinstance(v, int) for v in value)
    if not ok or not low <= value[0] <= value[1] or (high is not None and value[1] > high):
        upper = "" if high is None else f" and <= {high}"
        kind = "ints" if integer else "numbers"
        raise ValueError(
            f"{name} must be a (min, max) tuple of {kind} with {low} <= min <= max{upper}, got {value!r}"
        )


@dataclass(frozen=True)
class SyntheticConfig:
    """What the synthetic objects and images look like.

    Lengths and widths are fractions of the image's shorter side, so one config suits 128 and 256 pixel
    images alike (at 256 px the defaults give objects 38-154 px long and 3-10 px wide).

    Attributes:
        kinds: Object kinds to draw, any of ``"rod"`` (straight capsule), ``"ellipse"`` and ``"fibre"``
            (a bent, possibly wavy capsule chain).
        labels: ``"single"``: every object has label 1 (category ``"object"``); ``"kind"``: one class per
            entry of ``kinds``, label ``kinds.index(kind) + 1``.
        num_objects: Inclusive ``(min, max)`` number of objects drawn per image (before occlusion drops some).
        length_range: ``(min, max)`` object length as a fraction of the shorter image side.
        width_range: ``(min, max)`` object width (thickness) as a fraction of the shorter image side.
        curvature_range: ``(min, max)`` total bend of a fibre in radians (0 is straight, pi a half circle).
        wave_amplitude: Largest extra wiggle of a fibre's heading, in radians (0 disables the wiggle).
        allow_overlap: If false, an object that would touch an earlier one is re-drawn (up to 10 tries)
            and skipped if it still overlaps.
        min_visible_area: Objects with fewer visible pixels (after occlusion and clipping to the image)
            are removed from the image and the target.
        margin: Object centres are drawn in ``[margin, 1 - margin]`` of the image size.
        background_range: ``(min, max)`` mean background grey level in ``[0, 1]``.
        gradient_strength: Largest change of the background level across the image (a linear ramp in a
            random direction).
        noise_std: Standard deviation of the zero-mean (uniform) pixel noise added to the whole image.
        contrast_range: ``(min, max)`` brightness difference between an object and the background.
        color_jitter: Largest per-channel tint of objects and background (0 gives grey images).
        texture: Standard deviation of the multiplicative (uniform) noise inside objects.
        shading: Strength of the cylinder-like shading (objects brighter along their centre line), in [0, 1].
        invert_probability: Probability that an image has dark objects on a bright background.
        opposite_polarity_probability: Probability that an object is drawn with the other polarity than the
            rest of its image (a dark object among bright ones or the reverse), so that one image holds both
            dark and bright objects. 0 (the default) draws every object of an image alike.

    Named presets (:data:`SYNTHETIC_PRESETS`, :meth:`preset`): ``"default"`` (the field defaults, what the
    library trains on) and ``"heldout"`` (:meth:`heldout`, a differently configured generator for validation).

    Examples:
        >>> from maskrcnn_custom.data import SyntheticConfig
        >>> cfg = SyntheticConfig(kinds=("fibre",), num_objects=(2, 4), curvature_range=(0.5, 2.0))
        >>> cfg.category_names
        ('object',)
        >>> SyntheticConfig.preset("heldout") == SyntheticConfig.heldout()
        True
    """

    kinds: tuple[str, ...] = OBJECT_KINDS
    labels: str = "single"
    num_objects: tuple[int, int] = (2, 8)
    length_range: tuple[float, float] = (0.15, 0.6)
    width_range: tuple[float, float] = (0.012, 0.04)
    curvature_range: tuple[float, float] = (0.0, 1.5)
    wave_amplitude: float = 0.3
    allow_overlap: bool = True
    min_visible_area: int = 20
    margin: float = 0.1
    background_range: tuple[float, float] = (0.1, 0.4)
    gradient_strength: float = 0.2
    noise_std: float = 0.03
    contrast_range: tuple[float, float] = (0.25, 0.6)
    color_jitter: float = 0.15
    texture: float = 0.08
    shading: float = 0.4
    invert_probability: float = 0.2
    opposite_polarity_probability: float = 0.0

    @classmethod
    def heldout(cls, **overrides: Any) -> SyntheticConfig:
        """A generator configured differently from the defaults, for held-out validation of generalisation.

        A model validated on images of its own training generator can score well by learning that
        generator's style. The held-out preset changes every appearance and shape statistic, partly beyond
        the default ranges (lengths and widths as fractions of the shorter image side; at 128 px its objects
        are 38-109 px long and 1.3-4.5 px wide):

        | field | default | ``heldout()`` |
        | --- | --- | --- |
        | ``num_objects`` | (2, 8) | (2, 6) |
        | ``length_range`` | (0.15, 0.6) | (0.3, 0.85): longer |
        | ``width_range`` | (0.012, 0.04) | (0.01, 0.035): thinner |
        | ``curvature_range`` | (0.0, 1.5) | (0.5, 2.5): more bent |
        | ``wave_amplitude`` | 0.3 | 0.5 |
        | ``background_range`` | (0.1, 0.4) | (0.3, 0.7): mid grey |
        | ``gradient_strength`` | 0.2 | 0.4 |
        | ``noise_std`` | 0.03 | 0.06 |
        | ``contrast_range`` | (0.25, 0.6) | (0.15, 0.45): fainter |
        | ``color_jitter`` | 0.15 | 0.08 |
        | ``texture`` | 0.08 | 0.15 |
        | ``shading`` | 0.4 | 0.6 |
        | ``invert_probability`` | 0.2 | 0.5 |
        | ``opposite_polarity_probability`` | 0.0 | 0.3: dark and bright objects in one image |

        Args:
            **overrides: Any :class:`SyntheticConfig` field, applied on top of the preset.

        Returns:
            The config.

        Raises:
            ValueError: For an invalid field value.
            TypeError: For an unknown field.

        Examples:
            >>> from maskrcnn_custom.data import SyntheticConfig, SyntheticElongatedDataset
            >>> SyntheticConfig.heldout().width_range
            (0.01, 0.035)
            >>> val = SyntheticElongatedDataset(50, image_size=128, seed=1000, config="heldout")
        """
        return cls(**{**_HELDOUT_FIELDS, **overrides})

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> SyntheticConfig:
        """The named preset (one of :data:`SYNTHETIC_PRESETS`) with ``overrides`` applied.

        Args:
            name: ``"default"`` (the field defaults) or ``"heldout"`` (see :meth:`heldout`).
            **overrides: Any :class:`SyntheticConfig` field.

        Returns:
            The config.

        Raises:
            ValueError: For an unknown preset name or an invalid field value.

        Examples:
            >>> from maskrcnn_custom.data import SyntheticConfig
            >>> SyntheticConfig.preset("default") == SyntheticConfig()
            True
        """
        if name == "default":
            return cls(**overrides)
        if name == "heldout":
            return cls.heldout(**overrides)
        raise ValueError(f"unknown synthetic preset {name!r}; choose one of {SYNTHETIC_PRESETS}")

    def __post_init__(self) -> None:
        kinds = self.kinds
        if isinstance(kinds, str) or not isinstance(kinds, tuple) or not kinds:
            raise ValueError(f"kinds must be a non-empty tuple drawn from {OBJECT_KINDS}, got {kinds!r}")
        bad = [k for k in kinds if k not in OBJECT_KINDS]
        if bad or len(set(kinds)) != len(kinds):
            raise ValueError(f"kinds must be distinct names from {OBJECT_KINDS}, got {kinds!r}")
        if self.labels not in _LABEL_MODES:
            raise ValueError(f"labels must be one of {_LABEL_MODES}, got {self.labels!r}")
        _check_range("num_objects", self.num_objects, low=0, integer=True)
        _check_range("length_range", self.length_range, low=1e-3, high=2.0)
        _check_range("width_range", self.width_range, low=1e-3, high=0.5)
        _check_range("curvature_range", self.curvature_range, low=0.0, high=2 * math.pi)
        _check_range("background_range", self.background_range, low=0.0, high=1.0)
        _check_range("contrast_range", self.contrast_range, low=0.0, high=1.0)
        for name in ("wave_amplitude", "gradient_strength", "noise_std", "color_jitter", "texture"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        for name in ("shading", "invert_probability", "opposite_polarity_probability"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise ValueError(f"{name} must be a number in [0, 1], got {v!r}")
        if not isinstance(self.margin, (int, float)) or not 0 <= self.margin < 0.5:
            raise ValueError(f"margin must be a number in [0, 0.5), got {self.margin!r}")
        if (
            isinstance(self.min_visible_area, bool)
            or not isinstance(self.min_visible_area, int)
            or (self.min_visible_area < 1)
        ):
            raise ValueError(f"min_visible_area must be an int >= 1 (pixels), got {self.min_visible_area!r}")
        if not isinstance(self.allow_overlap, bool):
            raise TypeError(f"allow_overlap must be a bool, got {type(self.allow_overlap).__name__}")

    @property
    def category_names(self) -> tuple[str, ...]:
        """Names of the object classes, label 1 first (the background, label 0, is not listed)."""
        return ("object",) if self.labels == "single" else self.kinds

    @property
    def num_classes(self) -> int:
        """Number of classes the model needs: the object classes plus the background."""
        return len(self.category_names) + 1


#: Names accepted by :meth:`SyntheticConfig.preset` and by ``SyntheticElongatedDataset(config=...)``.
SYNTHETIC_PRESETS: tuple[str, ...] = ("default", "heldout")

_HELDOUT_FIELDS: dict[str, Any] = {
    "num_objects": (2, 6),
    "length_range": (0.3, 0.85),
    "width_range": (0.01, 0.035),
    "curvature_range": (0.5, 2.5),
    "wave_amplitude": 0.5,
    "background_range": (0.3, 0.7),
    "gradient_strength": 0.4,
    "noise_std": 0.06,
    "contrast_range": (0.15, 0.45),
    "color_jitter": 0.08,
    "texture": 0.15,
    "shading": 0.6,
    "invert_probability": 0.5,
    "opposite_polarity_probability": 0.3,
}


@dataclass
class _Shape:
    """One rasterised object: its window in the image, its full (unoccluded) mask and shading there."""

    kind_index: int
    y0: int
    x0: int
    mask: np.ndarray  # (h, w) bool
    shade: np.ndarray  # (h, w) float32 in [0, 1], 1 on the centre line


def _window(xmin: float, xmax: float, ymin: float, ymax: float, w: int, h: int) -> tuple[int, int, int, int]:
    x0 = max(0, math.floor(xmin))
    x1 = min(w, math.ceil(xmax) + 1)
    y0 = max(0, math.floor(ymin))
    y1 = min(h, math.ceil(ymax) + 1)
    return x0, x1, y0, y1


def _polyline_shape(points: np.ndarray, radius: float, w: int, h: int) -> tuple[int, int, np.ndarray] | None:
    """Pixels within ``radius`` of the polyline ``points`` (K, 2) as (y0, x0, d2 window), or None if off-image."""
    x0, x1, y0, y1 = _window(
        points[:, 0].min() - radius, points[:, 0].max() + radius,
        points[:, 1].min() - radius, points[:, 1].max() + radius, w, h,
    )  # fmt: skip
    if x1 <= x0 or y1 <= y0:
        return None
    r2 = radius * radius
    d2 = np.full((y1 - y0, x1 - x0), np.inf, np.float32)
    for a, b in itertools.pairwise(points):
        sx0, sx1, sy0, sy1 = _window(
            min(a[0], b[0]) - radius, max(a[0], b[0]) + radius,
            min(a[1], b[1]) - radius, max(a[1], b[1]) + radius, w, h,
        )  # fmt: skip
        if sx1 <= sx0 or sy1 <= sy0:
            continue
        dx = np.arange(sx0, sx1, dtype=np.float32)[None, :] - np.float32(a[0])
        dy = np.arange(sy0, sy1, dtype=np.float32)[:, None] - np.float32(a[1])
        abx, aby = np.float32(b[0] - a[0]), np.float32(b[1] - a[1])
        len2 = abx * abx + aby * aby
        if len2 > 0:
            t = np.clip((dx * abx + dy * aby) / len2, 0.0, 1.0)
            ex = dx - t * abx
            ey = dy - t * aby
        else:
            ex, ey = np.broadcast_arrays(dx, dy)
        seg = ex * ex + ey * ey
        sub = d2[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0]
        np.minimum(sub, seg, out=sub)
    inside = d2 <= r2
    if not inside.any():
        return None
    return y0, x0, d2 / np.float32(r2)


def _ellipse_shape(
    cx: float, cy: float, a: float, b: float, angle: float, w: int, h: int
) -> tuple[int, int, np.ndarray] | None:
    """Ellipse with semi-axes ``a`` (along ``angle``) and ``b``: (y0, x0, normalised radius² window)."""
    c, s = math.cos(angle), math.sin(angle)
    ex = math.sqrt((a * c) ** 2 + (b * s) ** 2)
    ey = math.sqrt((a * s) ** 2 + (b * c) ** 2)
    x0, x1, y0, y1 = _window(cx - ex, cx + ex, cy - ey, cy + ey, w, h)
    if x1 <= x0 or y1 <= y0:
        return None
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(cx)
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy)
    u = (dx * np.float32(c) + dy * np.float32(s)) / np.float32(a)
    v = (dy * np.float32(c) - dx * np.float32(s)) / np.float32(b)
    q = u * u + v * v
    if not (q <= 1).any():
        return None
    return y0, x0, q


class SyntheticElongatedDataset(Dataset):
    """Map-style dataset of synthetic images with long, thin objects and their instance masks.

    ``dataset[i]`` returns ``(image, target)``: ``image`` a float32 ``(3, H, W)`` tensor in ``[0, 1]``,
    ``target`` a dict with ``boxes`` (float32 ``(N, 4)``, XYXY, tight box of each mask with ``x2``/``y2``
    = last index + 1), ``labels`` (int64 ``(N,)``, 1..K), ``masks`` (uint8 ``(N, H, W)``, visible pixels
    only: masks never overlap), ``image_id`` (int, equal to ``i``), ``area`` (float32 ``(N,)``, mask pixel
    count) and ``iscrowd`` (int64 zeros). An image may have no objects (``N = 0``) if
    ``config.num_objects`` allows it. Image ``i`` depends only on ``(seed, i)`` and the config.

    Args:
        num_images: Number of images (the dataset's length).
        image_size: Image side in pixels, or ``(height, width)``.
        seed: Seed of the whole dataset; image ``i`` uses ``numpy.random.default_rng([seed, i])``.
        config: Appearance of the objects and images: a :class:`SyntheticConfig`, the name of a preset
            (``"default"`` or ``"heldout"``, see :data:`SYNTHETIC_PRESETS`), or None for the defaults.
        transforms: Optional callable ``(image, target) -> (image, target)`` applied to every item, e.g.
            :func:`maskrcnn_custom.data.train_transforms`.

    Raises:
        ValueError: If ``num_images``, ``image_size`` or ``seed`` is invalid, or ``config`` names no preset.
        TypeError: If ``config`` is not a :class:`SyntheticConfig`, a preset name or None, or ``transforms``
            is not callable.

    Examples:
        >>> from maskrcnn_custom.data import SyntheticElongatedDataset
        >>> ds = SyntheticElongatedDataset(100, image_size=128, seed=0)
        >>> image, target = ds[3]
        >>> image.shape, target["masks"].shape[1:]
        (torch.Size([3, 128, 128]), torch.Size([128, 128]))
    """

    def __init__(
        self,
        num_images: int,
        *,
        image_size: int | Sequence[int] = 256,
        seed: int = 0,
        config: SyntheticConfig | str | None = None,
        transforms: Callable[[torch.Tensor, dict[str, Any]], tuple[torch.Tensor, dict[str, Any]]]
        | None = None,
    ) -> None:
        if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 0:
            raise ValueError(f"num_images must be an int >= 0, got {num_images!r}")
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2 or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 16 for s in size
        ):
            raise ValueError(
                f"image_size must be an int >= 16 or a (height, width) pair of them, got {image_size!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        if config is None:
            config = SyntheticConfig()
        elif isinstance(config, str):
            config = SyntheticConfig.preset(config)
        if not isinstance(config, SyntheticConfig):
            raise TypeError(
                f"config must be a SyntheticConfig, a preset name from {SYNTHETIC_PRESETS} or None, "
                f"got {type(config).__name__}"
            )
        if transforms is not None and not callable(transforms):
            raise TypeError(
                f"transforms must be callable (image, target) -> (image, target), got {transforms!r}"
            )
        self.num_images = num_images
        self.image_size: tuple[int, int] = (int(size[0]), int(size[1]))
        self.seed = seed
        self.config = config
        self.transforms = transforms

    @property
    def category_names(self) -> tuple[str, ...]:
        """Class names, label 1 first."""
        return self.config.category_names

    @property
    def num_classes(self) -> int:
        """Classes including the background: pass this as ``num_classes=`` to a model builder."""
        return self.config.num_classes

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        index = int(index)
        if index < 0:
            index += self.num_images
        if not 0 <= index < self.num_images:
            raise IndexError(f"index {index} out of range for a dataset of {self.num_images} images")
        image, target = self.generate(index)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target

    # -- generation ----------------------------------------------------------------------------------

    def generate(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        """Generate image ``index`` without applying ``transforms`` (the index is not range-checked)."""
        cfg = self.config
        h, w = self.image_size
        rng = np.random.default_rng([self.seed, int(index)])
        side = min(h, w)
        invert = rng.random() < cfg.invert_probability
        n_draw = int(rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1))

        owner = np.full((h, w), -1, np.int16)
        shapes: list[_Shape] = []
        for _ in range(n_draw):
            for _attempt in range(1 if cfg.allow_overlap else 10):
                shape = self._draw_shape(rng, h, w, side)
                if shape is None:
                    continue
                win = owner[
                    shape.y0 : shape.y0 + shape.mask.shape[0], shape.x0 : shape.x0 + shape.mask.shape[1]
                ]
                if cfg.allow_overlap or not (win[shape.mask] >= 0).any():
                    win[shape.mask] = len(shapes)
                    shapes.append(shape)
                    break

        # Drop objects hidden below the minimum visible area; removing one only uncovers earlier ones,
        # so one pass suffices, after which the owner map is redrawn without them.
        areas = np.bincount(owner.ravel().astype(np.int64) + 1, minlength=len(shapes) + 1)[1:]
        keep = [k for k in range(len(shapes)) if areas[k] >= cfg.min_visible_area]
        if len(keep) < len(shapes):
            shapes = [shapes[k] for k in keep]
            owner.fill(-1)
            for k, shape in enumerate(shapes):
                win = owner[
                    shape.y0 : shape.y0 + shape.mask.shape[0], shape.x0 : shape.x0 + shape.mask.shape[1]
                ]
                win[shape.mask] = k

        image = self._render(rng, shapes, h, w, invert)
        n = len(shapes)
        masks = owner[None] == np.arange(n, dtype=np.int16)[:, None, None]
        boxes = masks_to_tight_boxes(masks)
        area = masks.sum(axis=(1, 2)).astype(np.float32)
        if cfg.labels == "kind":
            labels = np.array([s.kind_index + 1 for s in shapes], np.int64)
        else:
            labels = np.ones(n, np.int64)
        target = {
            "boxes": torch.from_numpy(boxes),
            "labels": torch.from_numpy(labels),
            "masks": torch.from_numpy(masks.view(np.uint8)),
            "image_id": int(index),
            "area": torch.from_numpy(area),
            "iscrowd": torch.zeros(n, dtype=torch.int64),
        }
        return torch.from_numpy(image), target

    def _draw_shape(self, rng: np.random.Generator, h: int, w: int, side: int) -> _Shape | None:
        cfg = self.config
        kind_index = int(rng.integers(len(cfg.kinds)))
        kind = cfg.kinds[kind_index]
        length = rng.uniform(*cfg.length_range) * side
        width = max(rng.uniform(*cfg.width_range) * side, 1.0)
        angle = rng.uniform(0.0, math.pi)
        cx = rng.uniform(cfg.margin, 1 - cfg.margin) * (w - 1)
        cy = rng.uniform(cfg.margin, 1 - cfg.margin) * (h - 1)
        if kind == "ellipse":
            res = _ellipse_shape(cx, cy, length / 2, max(width / 2, 0.75), angle, w, h)
            if res is None:
                return None
            y0, x0, q = res
        else:
            if kind == "rod":
                half = (length - width) / 2 if length > width else 0.0
                dx, dy = math.cos(angle) * half, math.sin(angle) * half
                points = np.array([[cx - dx, cy - dy], [cx + dx, cy + dy]], np.float64)
            else:
                points = self._fibre_points(rng, cx, cy, max(length - width, 1.0), angle)
            res = _polyline_shape(points, width / 2, w, h)
            if res is None:
                return None
            y0, x0, q = res
        mask = q <= 1.0
        shade = np.sqrt(np.clip(1.0 - q, 0.0, 1.0), dtype=np.float32)
        return _Shape(kind_index, y0, x0, mask, shade)

    def _fibre_points(
        self, rng: np.random.Generator, cx: float, cy: float, length: float, angle: float
    ) -> np.ndarray:
        cfg = self.config
        segments = 10
        bend = rng.uniform(*cfg.curvature_range) * (1 if rng.random() < 0.5 else -1)
        amp = rng.uniform(0.0, cfg.wave_amplitude)
        freq = rng.uniform(0.5, 2.0)
        phase = rng.uniform(0.0, 2 * math.pi)
        s = (np.arange(segments) + 0.5) / segments
        heading = angle + bend * (s - 0.5) + amp * np.sin(2 * math.pi * freq * s + phase)
        step = length / segments
        pts = np.zeros((segments + 1, 2))
        pts[1:, 0] = np.cumsum(np.cos(heading) * step)
        pts[1:, 1] = np.cumsum(np.sin(heading) * step)
        pts -= pts.mean(axis=0)
        pts[:, 0] += cx
        pts[:, 1] += cy
        return pts

    def _render(
        self, rng: np.random.Generator, shapes: list[_Shape], h: int, w: int, invert: bool
    ) -> np.ndarray:
        cfg = self.config
        bg_level = rng.uniform(*cfg.background_range)
        if invert:
            bg_level = 1.0 - bg_level
        tint = rng.uniform(-cfg.color_jitter, cfg.color_jitter, 3)
        theta = rng.uniform(0, 2 * math.pi)
        ramp_x = (np.arange(w, dtype=np.float32) / max(w - 1, 1) - 0.5) * np.float32(math.cos(theta))
        ramp_y = (np.arange(h, dtype=np.float32) / max(h - 1, 1) - 0.5) * np.float32(math.sin(theta))
        ramp = ramp_y[:, None] + ramp_x[None, :]
        grad = np.float32(rng.uniform(0, cfg.gradient_strength))
        base = (bg_level + tint).astype(np.float32)[:, None, None]
        image = base + grad * ramp[None]
        sign = -1.0 if invert else 1.0
        for shape in shapes:
            contrast = rng.uniform(*cfg.contrast_range)
            # Drawn only when enabled, so that configs without it keep their images exactly.
            flip = cfg.opposite_polarity_probability > 0 and rng.random() < cfg.opposite_polarity_probability
            level = bg_level + (-sign if flip else sign) * contrast
            color = (level + rng.uniform(-cfg.color_jitter, cfg.color_jitter, 3)).astype(np.float32)
            sh, sw = shape.mask.shape
            profile = np.float32(1.0 - cfg.shading) + np.float32(cfg.shading) * shape.shade
            if cfg.texture > 0:
                # Zero-mean uniform noise with standard deviation ``texture`` (uniform is 4x cheaper to draw).
                noise = rng.random((sh, sw), dtype=np.float32) - np.float32(0.5)
                profile = profile * (1.0 + np.float32(cfg.texture * _UNIFORM_TO_STD) * noise)
            win = image[:, shape.y0 : shape.y0 + sh, shape.x0 : shape.x0 + sw]
            np.copyto(win, color[:, None, None] * profile[None], where=shape.mask[None])
        if cfg.noise_std > 0:
            noise = rng.random((h, w), dtype=np.float32) - np.float32(0.5)
            image += np.float32(cfg.noise_std * _UNIFORM_TO_STD) * noise[None]
        np.clip(image, 0.0, 1.0, out=image)
        return image
