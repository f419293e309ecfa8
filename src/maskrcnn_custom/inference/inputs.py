"""Turn what users pass as images (tensors, PIL images, numpy arrays, file paths) into model inputs.

Every item is checked by :func:`check_images` before any inference starts, so a bad item in a long list
fails at once with its index and type. :func:`load_image` then turns one checked item into a float32
``3xHxW`` tensor in ``[0, 1]``, the form torchvision's Mask R-CNN expects.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from ..data.images import check_image_file, pil_image_to_tensor, read_image

__all__ = ["ImageInput", "ImageItem", "check_images", "load_image"]

#: One image as users may pass it.
ImageInput = Union[torch.Tensor, np.ndarray, "PIL.Image.Image", str, os.PathLike]  # noqa: F821

_ACCEPTED = (
    "a torch.Tensor (CxHxW or HxW, float in [0, 1] or uint8), a numpy array (HxWxC / HxW uint8, or CxHxW / HxW "
    "float in [0, 1]), a PIL.Image.Image, a file path (str or os.PathLike), or a list of them"
)


@dataclass(frozen=True)
class ImageItem:
    """One checked image, not yet decoded.

    Attributes:
        index: Position in the caller's list.
        data: The tensor, array, PIL image, or resolved file path.
        source: The file path for images read from disk, else ``None``.
    """

    index: int
    data: Any
    source: str | None = None


def _is_pil(obj: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with torchvision
        return False
    return isinstance(obj, Image.Image)


def _check_channels(channels: int, where: str, layout: str) -> None:
    if channels not in (1, 3, 4):
        raise ValueError(
            f"{where} has {channels} channels in a {layout} layout; expected 1 (grayscale), 3 (RGB) or 4 (RGBA)"
        )


def _check_values(t: torch.Tensor, where: str) -> None:
    if t.numel() == 0:
        raise ValueError(f"{where} is empty (shape {tuple(t.shape)}); every image needs at least one pixel")
    if t.dtype == torch.uint8:
        return
    if not t.is_floating_point():
        raise TypeError(
            f"{where} has dtype {t.dtype}; expected uint8 (0-255) or a floating dtype in [0, 1]. "
            "Convert it, e.g. x.float() / 255 for 8-bit values"
        )
    if not bool(torch.isfinite(t).all()):
        raise FloatingPointError(
            f"{where} contains NaN or infinite values; clean the image before prediction"
        )
    lo, hi = float(t.min()), float(t.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{where} is a float image with values in [{lo:g}, {hi:g}]; expected [0, 1]. "
            "Divide 8-bit values by 255 (or pass a uint8 image)"
        )


def _check_tensor(t: torch.Tensor, where: str) -> None:
    if t.dim() == 2:
        pass
    elif t.dim() == 3:
        _check_channels(int(t.shape[0]), where, "CxHxW")
    else:
        raise ValueError(
            f"{where} is a tensor of shape {tuple(t.shape)}; expected CxHxW or HxW (pass a batch NxCxHxW as the "
            "whole `images` argument, or a list of CxHxW tensors)"
        )
    _check_values(t, where)


def _check_array(a: np.ndarray, where: str) -> None:
    if a.dtype == np.uint8:
        if a.ndim == 3:
            _check_channels(int(a.shape[2]), where, "HxWxC (uint8 arrays are read as HxWxC)")
        elif a.ndim != 2:
            raise ValueError(f"{where} is a uint8 array of shape {a.shape}; expected HxWxC or HxW")
    elif np.issubdtype(a.dtype, np.floating):
        if a.ndim == 3:
            if a.shape[0] not in (1, 3, 4) and a.shape[2] in (1, 3, 4):
                raise ValueError(
                    f"{where} is a float array of shape {a.shape}, which looks HxWxC; float arrays are read as "
                    "CxHxW. Pass a.transpose(2, 0, 1), or a uint8 HxWxC array"
                )
            _check_channels(int(a.shape[0]), where, "CxHxW (float arrays are read as CxHxW)")
        elif a.ndim != 2:
            raise ValueError(f"{where} is a float array of shape {a.shape}; expected CxHxW or HxW")
    else:
        raise TypeError(
            f"{where} is a numpy array of dtype {a.dtype}; expected uint8 (HxWxC) or float in [0, 1] (CxHxW)"
        )
    _check_values(torch.from_numpy(np.ascontiguousarray(a)), where)


def _check_path(p: str | os.PathLike, where: str) -> str:
    path = Path(p)
    if not path.is_file():
        raise FileNotFoundError(f"{where}: no image file at {str(path)!r}; check the path")
    try:
        check_image_file(path)  # header, size cap and PNG checksums; no pixel decoding
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    return str(path)


def check_images(images: Any, *, name: str = "images") -> list[ImageItem]:
    """Check every image before anything is decoded or run, and return them as a list of items.

    Args:
        images: One image or a list/tuple of images (see :data:`ImageInput`); a 4-D ``NxCxHxW`` tensor is a
            batch of ``N`` images.
        name: Name of the parameter, for error messages.

    Returns:
        One :class:`ImageItem` per image, in order.

    Raises:
        TypeError: For an item of an unsupported type or dtype (the message names its index and type).
        ValueError: For a wrong shape, channel count, value range, or an unreadable file.
        FileNotFoundError: For a path that does not exist.
        FloatingPointError: For NaN or infinite values.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.inference import check_images
        >>> len(check_images([torch.rand(3, 64, 64), torch.zeros(64, 64, dtype=torch.uint8)]))
        2
    """
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        items: Sequence[Any] = list(images.unbind(0))
    elif isinstance(images, (list, tuple)):
        items = images
    else:
        items = [images]
    out: list[ImageItem] = []
    for i, item in enumerate(items):
        where = f"{name}[{i}] ({type(item).__module__}.{type(item).__name__})"
        if isinstance(item, torch.Tensor):
            _check_tensor(item, where)
            out.append(ImageItem(i, item))
        elif isinstance(item, np.ndarray):
            _check_array(item, where)
            out.append(ImageItem(i, item))
        elif _is_pil(item):
            if item.mode in ("F", "I"):
                pil_image_to_tensor(item, source=where)  # float / 32-bit values checked before any work
            out.append(ImageItem(i, item))
        elif isinstance(item, (str, os.PathLike)):
            path = _check_path(item, where)
            out.append(ImageItem(i, path, source=path))
        else:
            raise TypeError(f"{where} is not an image; expected {_ACCEPTED}")
    return out


def _to_rgb(t: torch.Tensor) -> torch.Tensor:
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    elif t.shape[0] == 4:
        t = t[:3]
    return t


def load_image(item: ImageItem) -> torch.Tensor:
    """Decode one checked item into a float32 ``3xHxW`` tensor in ``[0, 1]`` on the CPU.

    Grayscale images are replicated to three channels; the alpha channel of RGBA images is dropped. Files and
    PIL images are decoded by :func:`~maskrcnn_custom.data.read_image` /
    :func:`~maskrcnn_custom.data.pil_image_to_tensor`, the reader :class:`~maskrcnn_custom.data.CocoDataset`
    uses: 16-bit images are divided by 65535, float images are kept in ``[0, 1]``.

    Args:
        item: An item from :func:`check_images`.

    Returns:
        The image tensor.

    Examples:
        >>> import numpy as np
        >>> from maskrcnn_custom.inference import check_images, load_image
        >>> load_image(check_images(np.zeros((32, 48, 4), dtype=np.uint8))[0]).shape
        torch.Size([3, 32, 48])
    """
    data = item.data
    if isinstance(data, str):
        return read_image(data)
    if _is_pil(data):
        return pil_image_to_tensor(data, source=f"images[{item.index}]")
    if isinstance(data, np.ndarray):
        if data.dtype == np.uint8:
            t = torch.from_numpy(np.ascontiguousarray(data))
            t = t.permute(2, 0, 1) if t.dim() == 3 else t
        else:
            t = torch.from_numpy(np.ascontiguousarray(data))
    else:
        t = data.detach().cpu()
    t = _to_rgb(t)
    t = t.float().div(255.0) if t.dtype == torch.uint8 else t.float()
    return t.contiguous()
