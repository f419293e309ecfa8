"""Augmentations for instance segmentation on ``torchvision.transforms.v2`` and ``tv_tensors``.

The geometric transforms here (:class:`RandomRotation90`, :class:`RandomScaleJitter`) are ordinary
``v2.Transform`` subclasses: they move images, ``tv_tensors.BoundingBoxes`` and ``tv_tensors.Mask``
together and mix freely with torchvision's own (``v2.RandomHorizontalFlip``, ``v2.ColorJitter``, ...).

:class:`DetectionTransforms` runs such a pipeline on the library's plain-tensor samples
``(image, target)``: it wraps ``target["boxes"]`` as XYXY ``BoundingBoxes`` and ``target["masks"]`` as a
``Mask``, applies the transforms, then **recomputes every box as the tight box of its transformed mask**
(``x2`` = last column + 1, see :mod:`maskrcnn_custom.data.boxes`), recomputes ``area`` as the mask's pixel
count, and removes instances whose mask became smaller than ``min_area`` (e.g. cropped away), filtering
``labels``, ``iscrowd`` and every other per-instance tensor alike. Targets come back as plain tensors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from .boxes import masks_to_tight_boxes

__all__ = [
    "DetectionTransforms",
    "RandomIllumination",
    "RandomRotation90",
    "RandomScaleJitter",
    "train_transforms",
    "val_transforms",
]


def _check_probability(p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    return float(p)


def _spatial_size(flat_inputs: list[Any]) -> tuple[int, int]:
    for inpt in flat_inputs:
        if isinstance(inpt, tv_tensors.BoundingBoxes):
            return tuple(inpt.canvas_size)  # type: ignore[return-value]
        if isinstance(inpt, torch.Tensor):
            h, w = F.get_size(inpt)
            return int(h), int(w)
    raise TypeError("the sample holds no image, mask or bounding boxes to take the spatial size from")


class _Compat(v2.Transform):
    """Let subclasses run on torchvision < 0.21 too, whose ``forward`` calls the private names."""

    def _get_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        return self.make_params(flat_inputs)

    def _transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self.transform(inpt, params)


class RandomRotation90(_Compat):
    """Rotate by a random multiple of 90 degrees (counter-clockwise), exactly, without interpolation.

    With probability ``p`` the sample is rotated by 90, 180 or 270 degrees (chosen uniformly); a
    ``(H, W)`` image becomes ``(W, H)`` for odd multiples. Boxes are mapped exactly (they stay tight
    to their masks).

    Args:
        p: Probability of rotating at all.

    Examples:
        >>> import torch
        >>> from torchvision import tv_tensors
        >>> from maskrcnn_custom.data import RandomRotation90
        >>> img = tv_tensors.Image(torch.rand(3, 20, 30))
        >>> RandomRotation90(p=1.0)(img).shape[-2:] in (torch.Size([30, 20]), torch.Size([20, 30]))
        True
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = _check_probability(p)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw the number of quarter turns (0 when not applied)."""
        if torch.rand(()) >= self.p:
            return {"k": 0, "size": _spatial_size(flat_inputs)}
        return {"k": int(torch.randint(1, 4, ())), "size": _spatial_size(flat_inputs)}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Rotate one input."""
        k = params["k"]
        if k == 0:
            return inpt
        if isinstance(inpt, tv_tensors.BoundingBoxes):
            return _rot90_boxes(inpt, k)
        if isinstance(inpt, torch.Tensor):
            out = torch.rot90(inpt.as_subclass(torch.Tensor), k, dims=(-2, -1))
            return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.TVTensor) else out
        raise TypeError(
            f"RandomRotation90 works on tensors and tv_tensors, got {type(inpt).__name__}; "
            "convert PIL images first with torchvision.transforms.v2.ToImage()"
        )


class RandomIllumination(_Compat):
    """Uneven lighting: a linear brightness ramp in a random direction plus a uniform brightness shift, added.

    With probability ``p`` the image (not its masks or boxes) gets ``shift + ramp`` added and is clipped to
    ``[0, 1]``: ``shift`` is drawn uniformly in ``[-offset, offset]``, ``ramp`` runs linearly from ``-g / 2`` to
    ``g / 2`` across the image along a uniformly drawn direction, ``g`` uniform in ``[0, gradient]``. Colour
    jitter only scales brightness, so a dark background stays darker than mid-grey; this moves it, and makes one
    side of the image brighter than the other, as a microscope's or a camera's uneven lighting does.

    Args:
        gradient: Largest brightness difference between opposite sides of the image (``[0, 1]``).
        offset: Largest brightness shift of the whole image (``[0, 1]``).
        p: Probability of applying it.

    Examples:
        >>> import torch
        >>> from torchvision import tv_tensors
        >>> from maskrcnn_custom.data import RandomIllumination
        >>> img = tv_tensors.Image(torch.full((3, 16, 16), 0.5))
        >>> out = RandomIllumination(gradient=0.4, offset=0.0, p=1.0)(img)
        >>> bool(out.min() >= 0.3 and out.max() <= 0.7), type(out).__name__
        (True, 'Image')
    """

    def __init__(self, gradient: float = 0.3, offset: float = 0.2, p: float = 0.5) -> None:
        super().__init__()
        for name, value in (("gradient", gradient), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(
                    f"illumination {name} must be a number in [0, 1] (0 disables it), got {value!r}"
                )
        self.gradient, self.offset, self.p = float(gradient), float(offset), _check_probability(p)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw the shift, the ramp's strength and its direction (``None`` when not applied)."""
        if torch.rand(()) >= self.p:
            return {"ramp": None}
        angle = float(torch.rand(())) * 2 * math.pi
        return {
            "ramp": (float(torch.rand(())) * self.gradient, math.cos(angle), math.sin(angle)),
            "shift": (float(torch.rand(())) * 2 - 1) * self.offset,
        }

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Light one image; masks, boxes and anything else pass unchanged."""
        if params["ramp"] is None or not isinstance(inpt, tv_tensors.Image):
            return inpt
        strength, cx, cy = params["ramp"]
        image = inpt.as_subclass(torch.Tensor)
        h, w = image.shape[-2:]
        ys = torch.linspace(-0.5, 0.5, h, dtype=image.dtype, device=image.device)[:, None]
        xs = torch.linspace(-0.5, 0.5, w, dtype=image.dtype, device=image.device)[None, :]
        # the projection on the direction spans at most |cx| + |cy|; normalise it to [-1/2, 1/2]
        ramp = (xs * cx + ys * cy) / max(abs(cx) + abs(cy), 1e-6)
        out = (image + params["shift"] + strength * ramp).clamp(0.0, 1.0)
        return tv_tensors.wrap(out, like=inpt)


def _rot90_boxes(boxes: tv_tensors.BoundingBoxes, k: int) -> tv_tensors.BoundingBoxes:
    """Rotate boxes with ``torch.rot90``'s geometry: one turn maps pixel (row r, col c) to (W-1-c, r)."""
    h, w = boxes.canvas_size
    xyxy = F.convert_bounding_box_format(boxes, new_format=tv_tensors.BoundingBoxFormat.XYXY).as_subclass(
        torch.Tensor
    )
    for _ in range(k):
        x1, y1, x2, y2 = xyxy.unbind(-1)
        xyxy = torch.stack([y1, w - x2, y2, w - x1], dim=-1)
        h, w = w, h
    out = tv_tensors.BoundingBoxes(xyxy, format=tv_tensors.BoundingBoxFormat.XYXY, canvas_size=(h, w))
    return F.convert_bounding_box_format(out, new_format=boxes.format)


class RandomScaleJitter(_Compat):
    """Zoom in or out by a random factor while keeping the image size (resize, then crop or pad).

    The sample is resized by ``s ~ U(scale_range)`` (masks with nearest-neighbour interpolation), then
    randomly cropped back to its original size where it grew and padded (at a random offset, with
    ``fill``) where it shrank. Mask R-CNN resizes every image to its ``min_size`` anyway, so this is how
    objects actually change scale in training. Objects cropped away lose their mask; wrap the pipeline in
    :class:`DetectionTransforms` to remove them and to re-tighten boxes.

    Args:
        scale_range: ``(min, max)`` zoom factor, ``0 < min <= max``.
        p: Probability of applying the jitter.
        fill: Image value of padded pixels (masks are padded with 0).

    Examples:
        >>> import torch
        >>> from torchvision import tv_tensors
        >>> from maskrcnn_custom.data import RandomScaleJitter
        >>> img = tv_tensors.Image(torch.rand(3, 64, 64))
        >>> RandomScaleJitter((0.5, 2.0), p=1.0)(img).shape
        torch.Size([3, 64, 64])
    """

    def __init__(
        self, scale_range: tuple[float, float] = (0.75, 1.25), *, p: float = 1.0, fill: float = 0.0
    ) -> None:
        super().__init__()
        if (
            not isinstance(scale_range, (tuple, list))
            or len(scale_range) != 2
            or not all(isinstance(s, (int, float)) and math.isfinite(s) for s in scale_range)
            or not 0 < scale_range[0] <= scale_range[1]
        ):
            raise ValueError(
                f"scale_range must be a (min, max) pair with 0 < min <= max, got {scale_range!r}"
            )
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.p = _check_probability(p)
        self.fill = float(fill)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw the zoom factor and the crop or pad offsets."""
        h, w = _spatial_size(flat_inputs)
        if torch.rand(()) >= self.p:
            return {"apply": False}
        lo, hi = self.scale_range
        s = lo + (hi - lo) * float(torch.rand(()))
        nh, nw = max(1, round(h * s)), max(1, round(w * s))

        def offset(extra: int) -> int:
            return int(torch.randint(0, abs(extra) + 1, ())) if extra else 0

        oy, ox = offset(nh - h), offset(nw - w)
        return {"apply": True, "size": (h, w), "new_size": (nh, nw), "oy": oy, "ox": ox}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Resize then crop/pad one input."""
        if not params["apply"]:
            return inpt
        h, w = params["size"]
        nh, nw = params["new_size"]
        is_mask = isinstance(inpt, tv_tensors.Mask)
        out = F.resize(
            inpt,
            [nh, nw],
            interpolation=v2.InterpolationMode.NEAREST if is_mask else v2.InterpolationMode.BILINEAR,
            antialias=not is_mask,
        )
        # Pad where the sample shrank, then crop where it grew: both at the drawn offsets.
        pad_t = params["oy"] if nh < h else 0
        pad_l = params["ox"] if nw < w else 0
        pad_b = h - nh - pad_t if nh < h else 0
        pad_r = w - nw - pad_l if nw < w else 0
        if pad_t or pad_l or pad_b or pad_r:
            fill = 0 if is_mask or isinstance(inpt, tv_tensors.BoundingBoxes) else self.fill
            out = F.pad(out, [pad_l, pad_t, pad_r, pad_b], fill=fill)
        top = params["oy"] if nh > h else 0
        left = params["ox"] if nw > w else 0
        return F.crop(out, top, left, h, w)


def _per_instance_keys(target: dict[str, Any], n: int) -> list[str]:
    return [
        k
        for k, v in target.items()
        if isinstance(v, torch.Tensor) and v.ndim >= 1 and v.shape[0] == n and k != "image_id"
    ]


class DetectionTransforms:
    """Apply ``v2`` transforms to an ``(image, target)`` sample and keep boxes and masks consistent.

    Args:
        transforms: ``v2`` transforms (or any callables on ``(image, target)`` with tv_tensors), applied in
            order. An empty sequence only re-tightens boxes and removes empty instances.
        min_area: Instances whose mask keeps fewer pixels are removed after the transforms.

    Raises:
        TypeError: If ``transforms`` holds something that is not callable.
        ValueError: If ``min_area`` is not an int >= 1.

    Examples:
        >>> from torchvision.transforms import v2
        >>> from maskrcnn_custom.data import DetectionTransforms, SyntheticElongatedDataset
        >>> tf = DetectionTransforms([v2.RandomHorizontalFlip(p=1.0)])
        >>> ds = SyntheticElongatedDataset(2, image_size=64, transforms=tf)
        >>> image, target = ds[0]
    """

    def __init__(self, transforms: Sequence[Callable[..., Any]] = (), *, min_area: int = 1) -> None:
        transforms = list(transforms)
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"transforms[{i}] must be callable (a torchvision v2 transform), got {t!r}")
        if isinstance(min_area, bool) or not isinstance(min_area, int) or min_area < 1:
            raise ValueError(f"min_area must be an int >= 1 (pixels), got {min_area!r}")
        self.transforms = transforms
        self.pipeline = v2.Compose(transforms) if transforms else None
        self.min_area = min_area

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"{type(self).__name__}([{inner}], min_area={self.min_area})"

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        """Transform one sample; returns plain tensors."""
        if not isinstance(image, torch.Tensor) or image.ndim != 3:
            raise TypeError(f"image must be a (C, H, W) tensor, got {type(image).__name__}")
        h, w = image.shape[-2:]
        boxes = target.get("boxes")
        n = 0 if boxes is None else int(boxes.shape[0])
        wrapped = dict(target)
        if boxes is not None:
            wrapped["boxes"] = tv_tensors.BoundingBoxes(
                boxes.as_subclass(torch.Tensor), format=tv_tensors.BoundingBoxFormat.XYXY, canvas_size=(h, w)
            )
        if target.get("masks") is not None:
            wrapped["masks"] = tv_tensors.Mask(target["masks"].as_subclass(torch.Tensor))
        img = tv_tensors.Image(image.as_subclass(torch.Tensor))
        if self.pipeline is not None:
            img, wrapped = self.pipeline(img, wrapped)
        out = {
            k: v.as_subclass(torch.Tensor) if isinstance(v, torch.Tensor) else v for k, v in wrapped.items()
        }
        per_instance = _per_instance_keys(target, n)
        if out.get("masks") is not None:
            masks = out["masks"]
            area = (masks != 0).sum(dim=(1, 2))
            keep = area >= self.min_area
            out["boxes"] = masks_to_tight_boxes(masks)
            if "area" in target:
                out["area"] = area.to(torch.float32)
        elif out.get("boxes") is not None:
            b = out["boxes"]
            keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
        else:
            keep = None
        if keep is not None and not bool(keep.all()):
            for k in per_instance:
                out[k] = out[k][keep]
        return img.as_subclass(torch.Tensor), out


def train_transforms(
    *,
    hflip: float = 0.5,
    vflip: float = 0.5,
    rot90: float = 0.5,
    scale_range: tuple[float, float] | None = (0.75, 1.25),
    scale_p: float = 0.5,
    photometric: float = 0.8,
    brightness: float = 0.25,
    contrast: float = 0.25,
    saturation: float = 0.25,
    hue: float = 0.0,
    invert: float = 0.0,
    noise_sigma: float = 0.0,
    noise_p: float = 0.5,
    illumination: float = 0.0,
    illumination_offset: float = 0.0,
    illumination_p: float = 0.5,
    min_area: int = 8,
) -> DetectionTransforms:
    """The default training augmentation: flips, quarter turns, scale jitter and colour jitter.

    Optionally also an intensity inversion (``invert``: dark objects on a bright background become bright on
    dark, a polarity change that colour jitter cannot make), Gaussian pixel noise (``noise_sigma``) and uneven
    lighting (``illumination``, ``illumination_offset``: :class:`RandomIllumination`), all off by default; the
    ``fast_cpu`` training preset turns the first two on.

    Elongated objects have no preferred orientation in most data, so both flips and 90-degree rotations
    are on by default; all of them are exact (no interpolation), and boxes stay tight to the masks.

    Args:
        hflip: Probability of a horizontal flip.
        vflip: Probability of a vertical flip.
        rot90: Probability of a rotation by 90, 180 or 270 degrees.
        scale_range: Zoom range of :class:`RandomScaleJitter`, or None to disable it.
        scale_p: Probability of the scale jitter.
        photometric: Probability of the colour jitter (brightness, contrast, saturation, hue).
        brightness: ``v2.ColorJitter`` brightness.
        contrast: ``v2.ColorJitter`` contrast.
        saturation: ``v2.ColorJitter`` saturation.
        hue: ``v2.ColorJitter`` hue, in ``[0, 0.5]``; off by default because hue shifts are the slowest
            colour jitter, slower than generating a synthetic image (see docs/benchmarks.md).
        invert: Probability of ``v2.RandomInvert`` (``1 - image``), in ``[0, 1]``.
        noise_sigma: Standard deviation of ``v2.GaussianNoise`` (the result is clipped to ``[0, 1]``); 0 disables.
        noise_p: Probability of the noise when ``noise_sigma > 0``.
        illumination: Largest brightness difference across the image of :class:`RandomIllumination` (uneven
            lighting); with ``illumination_offset``, 0 (both) disables it.
        illumination_offset: Largest brightness shift of the whole image of :class:`RandomIllumination`.
        illumination_p: Probability of :class:`RandomIllumination` when it is enabled.
        min_area: Instances with fewer mask pixels after the transforms are removed.

    Returns:
        A :class:`DetectionTransforms` to pass as a dataset's ``transforms=``.

    Examples:
        >>> from maskrcnn_custom.data import SyntheticElongatedDataset, train_transforms
        >>> ds = SyntheticElongatedDataset(100, image_size=128, transforms=train_transforms())
    """
    steps: list[Callable[..., Any]] = []
    if hflip:
        steps.append(v2.RandomHorizontalFlip(p=_check_probability(hflip)))
    if vflip:
        steps.append(v2.RandomVerticalFlip(p=_check_probability(vflip)))
    if rot90:
        steps.append(RandomRotation90(p=rot90))
    if scale_range is not None and scale_p:
        steps.append(RandomScaleJitter(scale_range, p=scale_p))
    if photometric:
        jitter = v2.ColorJitter(
            brightness=brightness, contrast=contrast, saturation=saturation, hue=hue or None
        )
        steps.append(v2.RandomApply([jitter], p=_check_probability(photometric)))
    if invert:
        steps.append(v2.RandomInvert(p=_check_probability(invert)))
    if (
        isinstance(noise_sigma, bool)
        or not isinstance(noise_sigma, (int, float))
        or not 0 <= noise_sigma <= 1
    ):
        raise ValueError(
            f"noise_sigma must be a number in [0, 1] (0 disables the noise), got {noise_sigma!r}"
        )
    if noise_sigma:
        noise = v2.GaussianNoise(mean=0.0, sigma=float(noise_sigma), clip=True)
        steps.append(v2.RandomApply([noise], p=_check_probability(noise_p)))
    if illumination or illumination_offset:
        steps.append(RandomIllumination(illumination, illumination_offset, p=illumination_p))
    return DetectionTransforms(steps, min_area=min_area)


def val_transforms() -> DetectionTransforms:
    """Evaluation transforms: none, only the tight-box and empty-instance checks.

    Returns:
        A :class:`DetectionTransforms` without augmentation.

    Examples:
        >>> from maskrcnn_custom.data import val_transforms
        >>> tf = val_transforms()
    """
    return DetectionTransforms([])
