"""The library's one image reader: files and PIL images to float32 ``(3, H, W)`` tensors in ``[0, 1]``.

:class:`~maskrcnn_custom.data.CocoDataset`, :func:`~maskrcnn_custom.inference.predict` (file paths and PIL
images) and the command line all read images through :func:`read_image` / :func:`pil_image_to_tensor`, so
the same file gives the same pixels in training, evaluation and prediction.

Rules, by Pillow mode:

* 8-bit (``L``, ``P``, ``RGB``, ``CMYK``, ``YCbCr``, ...): converted to RGB and divided by 255. Grayscale
  is replicated to three channels, palette images are expanded to their colours.
* Alpha (``RGBA``, ``LA``, ``PA``): the alpha channel is **dropped** (not composited): the colour values
  under transparent pixels are kept as they are stored, as torchvision's ``decode_image(mode=RGB)`` does.
* 16-bit (``I;16``, ``I;16B``, ...; 16-bit grayscale PNG/TIFF): divided by 65535, replicated to 3 channels.
* 32-bit integer (``I``): values must lie in ``[0, 65535]`` and are read as 16-bit (divided by 65535).
* 32-bit float (``F``, float TIFF): values are kept when finite and in ``[0, 1]``; anything else raises a
  ``ValueError`` naming the file and how to rescale (nothing is clipped silently).
* 16-bit RGB PNGs are decoded by Pillow at 8-bit precision.

A file larger than ``max_pixels`` is refused from its header, before decoding (decompression bombs); a
truncated or corrupt file raises a ``ValueError`` naming the path.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["DEFAULT_MAX_PIXELS", "check_image_file", "pil_image_to_tensor", "read_image"]

#: Largest image (width x height) read by default: Pillow's own decompression-bomb warning threshold.
DEFAULT_MAX_PIXELS = 89_478_485

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA = ("RGBA", "RGBa", "LA", "La", "PA")


def _check_max_pixels(max_pixels: int | None) -> None:
    if max_pixels is not None and (
        isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1
    ):
        raise ValueError(
            f"max_pixels must be None (no limit of the library) or an int >= 1, got {max_pixels!r}"
        )


def _open(path: Path, max_pixels: int | None) -> Any:
    """Open ``path`` (header only) and check its size against ``max_pixels``."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise FileNotFoundError(f"image file {path} does not exist; check the path")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise ValueError(
            f"image file {path} is too large to decode safely ({exc}); resize it, or split it into tiles"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ValueError(
            f"image file {path} is not an image file Pillow can read (unknown or corrupt format)"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"cannot read image file {path}: it is corrupt or truncated ({exc})") from exc
    w, h = im.size
    if max_pixels is not None and w * h > max_pixels:
        im.close()
        raise ValueError(
            f"image file {path} is {w}x{h} = {w * h} pixels, more than max_pixels={max_pixels}; refusing to "
            "decode it (a decompression bomb, or an image far larger than a detector's input). Resize or tile "
            "it, or pass a larger max_pixels if you trust the file"
        )
    return im


def check_image_file(
    path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> tuple[int, int]:
    """Check an image file cheaply, without decoding its pixels: readable header, size, intact PNG chunks.

    Use it to check many files before any work starts; :func:`read_image` then decodes them.

    Args:
        path: The image file.
        max_pixels: Refuse images with more than this many pixels (``None``: only Pillow's own limit).

    Returns:
        ``(height, width)`` from the header.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is not an image, is corrupt or truncated (PNG chunk checksums are verified), or is
            larger than ``max_pixels``; the message names the path.

    Examples:
        >>> from maskrcnn_custom.data import check_image_file
        >>> check_image_file("images/0001.png")  # doctest: +SKIP
        (128, 128)
    """
    _check_max_pixels(max_pixels)
    path = Path(path)
    im = _open(path, max_pixels)
    try:
        w, h = im.size
        if im.format == "PNG":
            im.verify()  # reads every chunk and checks its CRC, without decompressing the pixels
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(
            f"image file {path} is corrupt or truncated ({exc}); re-export or re-copy it"
        ) from exc
    finally:
        im.close()
    return h, w


def _float_plane(arr: np.ndarray, where: str) -> np.ndarray:
    if not np.isfinite(arr).all():
        kind = "NaN" if np.isnan(arr).any() else "infinite values"
        raise ValueError(f"{where} is a float image that contains {kind}; fix or mask those pixels first")
    lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{where} is a float image with values in [{lo:g}, {hi:g}]; float images must lie in [0, 1] "
            "(nothing is clipped). Rescale it, e.g. (x - x.min()) / (x.max() - x.min()), or divide by its "
            "full-scale value (255 for 8-bit data, 65535 for 16-bit data), and save it again"
        )
    return arr


def pil_image_to_tensor(image: Any, *, source: str | os.PathLike | None = None) -> torch.Tensor:
    """Convert a PIL image to a float32 ``(3, H, W)`` tensor in ``[0, 1]``, by the rules of this module.

    Args:
        image: A ``PIL.Image.Image`` (decoded or lazily opened).
        source: What to call the image in error messages, e.g. ``"image file a.tif"`` (default
            ``"the PIL image"``).

    Returns:
        The image tensor.

    Raises:
        ValueError: For a float image outside ``[0, 1]`` or with NaN/infinite values, a 32-bit integer image
            outside ``[0, 65535]``, or a mode that cannot be read as RGB; the message names ``source``.

    Examples:
        >>> import numpy as np
        >>> from PIL import Image
        >>> from maskrcnn_custom.data import pil_image_to_tensor
        >>> im = Image.fromarray(np.full((4, 6), 65535, dtype=np.uint16))
        >>> float(pil_image_to_tensor(im).max())
        1.0
    """
    where = str(source) if source is not None else "the PIL image"
    mode = image.mode
    if mode in _SIXTEEN_BIT or mode == "I":
        arr = np.asarray(image).astype(np.float32)
        if mode == "I":
            lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
            if lo < 0.0 or hi > 65535.0:
                raise ValueError(
                    f"{where} is a 32-bit integer image with values in [{lo:g}, {hi:g}]; integer images are "
                    "read as 16-bit (0-65535). Rescale it to 16 bits (or to float in [0, 1]) and save it again"
                )
        plane = arr / 65535.0
    elif mode == "F":
        plane = _float_plane(np.array(image, dtype=np.float32), where)
    else:
        plane = None
    if plane is not None:
        if plane.ndim != 2:
            raise ValueError(f"{where} has mode {mode!r} with shape {plane.shape}; expected one channel")
        t = torch.from_numpy(np.ascontiguousarray(plane, dtype=np.float32))
        return t.unsqueeze(0).expand(3, -1, -1).contiguous()
    if mode in _ALPHA:
        if mode == "PA":
            image = image.convert("RGBA")
        image = image.convert("RGB")  # drops alpha: colour values are kept, not composited
    elif mode != "RGB":
        try:
            image = image.convert("RGB")  # grayscale replicated, palette expanded, 1-bit to 0/255
        except ValueError as exc:
            raise ValueError(
                f"{where} has Pillow mode {mode!r}, which cannot be read as RGB ({exc})"
            ) from exc
    arr = np.array(image, dtype=np.uint8)
    return torch.from_numpy(arr).permute(2, 0, 1).to(torch.float32).div_(255.0).contiguous()


def read_image(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read an image file as a float32 ``(3, H, W)`` tensor in ``[0, 1]`` (RGB).

    8-bit images are divided by 255, 16-bit ones by 65535; grayscale is replicated to three channels,
    palettes are expanded, alpha is dropped, float images are kept when in ``[0, 1]`` (see the module
    documentation for every rule).

    Args:
        path: The image file.
        max_pixels: Refuse images with more than this many pixels, from the header, before decoding
            (``None``: only Pillow's own decompression-bomb limit).

    Returns:
        The image tensor.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is not an image, is truncated or corrupt, is larger than ``max_pixels``, or
            holds values that cannot be read faithfully (float outside ``[0, 1]``, NaN); the message names
            the path and the fix.

    Examples:
        >>> from maskrcnn_custom.data import read_image
        >>> image = read_image("images/0001.png")  # doctest: +SKIP
        >>> image.shape, image.dtype  # doctest: +SKIP
        (torch.Size([3, 128, 128]), torch.float32)
    """
    _check_max_pixels(max_pixels)
    path = Path(path)
    im = _open(path, max_pixels)
    try:
        with im:
            im.load()
            return pil_image_to_tensor(im, source=f"image file {path}")
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"cannot decode image file {path}: it is truncated or corrupt ({exc})") from exc
