"""CPU training speed-ups that keep the math: ``channels_last``, RoIAlign and mask up-sampling backwards.

:func:`~maskrcnn_custom.engine.train_one_epoch` applies both by default when it trains on the CPU
(``cpu_speedups=None``), for the duration of the epoch only: the model's parameters and its RoI poolers are the
user's own again when the call returns. Neither changes what is computed, only the order of float
additions:

* **channels_last**: oneDNN convolutions run in NHWC, without the layout reorders the NCHW path pays in
  both passes;
* **RoIAlign backward**: torchvision's CPU kernel scatters every pooled value of every channel with
  scalar code (one bilinear weight computation per channel); here the scatter is one sparse x dense
  matrix product over all channels at once, with the same bilinear weights (torchvision's formulas).
  The forward is torchvision's own kernel;
* **mask up-sampling**: the mask predictor's 2x2 stride-2 ``ConvTranspose2d`` (non-overlapping patches) as
  one matrix product, whose backward (two matrix products) runs faster than oneDNN's deconvolution
  backward.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops import roi_align as tv_roi_align
from torchvision.ops.poolers import _convert_to_roi_format, _filter_input, _setup_scales

__all__ = ["cpu_speedups_context", "resolve_cpu_speedups", "roi_align_fast_backward"]


def resolve_cpu_speedups(cpu_speedups: bool | None, *, model: nn.Module, device: torch.device) -> bool:
    """Whether to use the CPU speed-ups: ``cpu_speedups`` if given, else on for a CPU device and a bare model.

    ``None`` (auto) leaves ``DistributedDataParallel`` / ``DataParallel`` wrappers alone: their gradient
    buckets are laid out when they are built, so convert the model to ``channels_last`` before wrapping.

    Raises:
        TypeError: If ``cpu_speedups`` is not ``None`` or a bool.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.engine.speed import resolve_cpu_speedups
        >>> resolve_cpu_speedups(None, model=torch.nn.Conv2d(1, 1, 1), device=torch.device("cpu"))
        True
        >>> resolve_cpu_speedups(False, model=torch.nn.Conv2d(1, 1, 1), device=torch.device("cpu"))
        False
    """
    if cpu_speedups is not None and not isinstance(cpu_speedups, bool):
        raise TypeError(
            f"cpu_speedups must be None (auto: on for CPU training), True or False, got {cpu_speedups!r}"
        )
    if cpu_speedups is not None:
        return cpu_speedups
    wrapped = isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel))
    return device.type == "cpu" and not wrapped


def _bilinear_corners(
    rois: torch.Tensor,
    *,
    height: int,
    width: int,
    pooled: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixel index, bin index and weight of every bilinear tap of every RoI (torchvision's CPU formulas).

    Returns flat tensors: ``pixel`` (into ``batch * height * width``), ``column`` (into ``rois * ph * pw``)
    and ``weight`` (already divided by the samples per bin); taps outside the map have weight 0.
    """
    ph, pw = pooled
    grid = sampling_ratio
    r = rois.to(torch.float32)
    offset = 0.5 if aligned else 0.0
    start_w = r[:, 1] * spatial_scale - offset
    start_h = r[:, 2] * spatial_scale - offset
    roi_w = r[:, 3] * spatial_scale - offset - start_w
    roi_h = r[:, 4] * spatial_scale - offset - start_h
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    bin_h, bin_w = roi_h / ph, roi_w / pw  # (R,)
    steps = torch.arange(grid, dtype=torch.float32) + 0.5
    # y[r, ph, iy] = start_h + ph * bin_h + (iy + .5) * bin_h / grid (the kernel's order of operations)
    pys = torch.arange(ph, dtype=torch.float32)
    pxs = torch.arange(pw, dtype=torch.float32)
    y = (start_h[:, None, None] + pys[None, :, None] * bin_h[:, None, None]) + steps[None, None, :] * bin_h[
        :, None, None
    ] / grid
    x = (start_w[:, None, None] + pxs[None, :, None] * bin_w[:, None, None]) + steps[None, None, :] * bin_w[
        :, None, None
    ] / grid

    def axis(v: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        inside = (v >= -1.0) & (v <= size)
        v = v.clamp(min=0.0)
        low = v.to(torch.int64)
        edge = low >= size - 1
        low = torch.where(edge, torch.full_like(low, size - 1), low)
        high = torch.where(edge, low, low + 1)
        v = torch.where(edge, low.to(v.dtype), v)
        frac = v - low.to(v.dtype)
        return low, high, frac, inside

    y_low, y_high, ly, in_y = axis(y, height)  # (R, ph, grid)
    x_low, x_high, lx, in_x = axis(x, width)  # (R, pw, grid)
    hy, hx = 1.0 - ly, 1.0 - lx

    # broadcast to (R, ph, pw, gy, gx)
    def yb(t: torch.Tensor) -> torch.Tensor:
        return t[:, :, None, :, None]

    def xb(t: torch.Tensor) -> torch.Tensor:
        return t[:, None, :, None, :]

    inside = (yb(in_y) & xb(in_x)).to(torch.float32) / float(grid * grid)
    base = (r[:, 0].to(torch.int64) * (height * width))[:, None, None, None, None]
    pixels = [
        base + yb(y_low) * width + xb(x_low),
        base + yb(y_low) * width + xb(x_high),
        base + yb(y_high) * width + xb(x_low),
        base + yb(y_high) * width + xb(x_high),
    ]
    weights = [yb(hy) * xb(hx), yb(hy) * xb(lx), yb(ly) * xb(hx), yb(ly) * xb(lx)]
    n = rois.shape[0]
    column = torch.arange(n * ph * pw).view(n, ph, pw, 1, 1).expand(n, ph, pw, grid, grid)
    pixel = torch.stack([p.expand_as(column) for p in pixels]).reshape(-1)
    weight = torch.stack([(w * inside).expand_as(column) for w in weights]).reshape(-1)
    return pixel, column.reshape(1, -1).expand(4, -1).reshape(-1), weight


class _RoIAlignFastBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, features, rois, output_size, spatial_scale, sampling_ratio, aligned):  # type: ignore[override]
        ctx.save_for_backward(rois)
        ctx.settings = (tuple(features.shape), output_size, spatial_scale, sampling_ratio, aligned)
        ctx.channels_last = features.dim() == 4 and features.is_contiguous(memory_format=torch.channels_last)
        return tv_roi_align(features, rois, output_size, spatial_scale, sampling_ratio, aligned)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor):  # type: ignore[override]
        (rois,) = ctx.saved_tensors
        (batch, channels, height, width), output_size, spatial_scale, sampling_ratio, aligned = ctx.settings
        pixel, column, weight = _bilinear_corners(
            rois,
            height=height,
            width=width,
            pooled=output_size,
            spatial_scale=spatial_scale,
            sampling_ratio=sampling_ratio,
            aligned=aligned,
        )
        keep = weight != 0
        size = (batch * height * width, grad_output.shape[0] * output_size[0] * output_size[1])
        matrix = torch.sparse_coo_tensor(
            torch.stack([pixel[keep], column[keep]]),
            weight[keep].to(grad_output.dtype),
            size,
            check_invariants=False,
        )
        rows = grad_output.permute(0, 2, 3, 1).reshape(-1, channels)  # (rois * ph * pw, C)
        grad = torch.sparse.mm(matrix, rows)  # (batch * H * W, C): NHWC
        grad = grad.view(batch, height, width, channels).permute(0, 3, 1, 2)
        if not ctx.channels_last:
            grad = grad.contiguous()
        return grad, None, None, None, None, None


def roi_align_fast_backward(
    features: torch.Tensor,
    rois: torch.Tensor,
    *,
    output_size: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool = False,
) -> torch.Tensor:
    """``torchvision.ops.roi_align`` (same forward) whose backward is a sparse x dense product on the CPU.

    Falls back to ``torchvision.ops.roi_align`` where the fast backward does not apply (not float32 on the
    CPU, ``sampling_ratio <= 0``, a boxes list instead of ``Tensor[K, 5]``).

    Args:
        features: ``(N, C, H, W)`` feature map.
        rois: ``Tensor[K, 5]`` of ``(batch index, x1, y1, x2, y2)``.
        output_size: Pooled ``(height, width)``.
        spatial_scale: Feature-map scale relative to box coordinates.
        sampling_ratio: Samples per bin along each axis (> 0 for the fast backward).
        aligned: torchvision's half-pixel ``aligned`` flag.

    Returns:
        ``(K, C, output_size[0], output_size[1])`` pooled features.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.engine.speed import roi_align_fast_backward
        >>> x = torch.rand(1, 2, 8, 8, requires_grad=True)
        >>> rois = torch.tensor([[0.0, 1.0, 1.0, 6.0, 5.0]])
        >>> out = roi_align_fast_backward(x, rois, output_size=(2, 2), spatial_scale=1.0, sampling_ratio=2)
        >>> out.sum().backward(); tuple(x.grad.shape)
        (1, 2, 8, 8)
    """
    fast = (
        features.device.type == "cpu"
        and features.dtype == torch.float32
        and features.dim() == 4
        and isinstance(rois, torch.Tensor)
        and sampling_ratio > 0
    )
    if not fast:
        return tv_roi_align(features, rois, output_size, spatial_scale, sampling_ratio, aligned)
    return _RoIAlignFastBackward.apply(
        features, rois, tuple(output_size), float(spatial_scale), int(sampling_ratio), bool(aligned)
    )


def _pooler_forward(
    self: MultiScaleRoIAlign,
    x: dict[str, torch.Tensor],
    boxes: list[torch.Tensor],
    image_shapes: list[tuple[int, int]],
) -> torch.Tensor:
    """``MultiScaleRoIAlign.forward`` for one pooled level, through :func:`roi_align_fast_backward`."""
    x_filtered = _filter_input(x, self.featmap_names)
    if self.scales is None or self.map_levels is None:
        self.scales, self.map_levels = _setup_scales(
            x_filtered, image_shapes, self.canonical_scale, self.canonical_level
        )
    return roi_align_fast_backward(
        x_filtered[0],
        _convert_to_roi_format(boxes),
        output_size=tuple(self.output_size),
        spatial_scale=self.scales[0],
        sampling_ratio=self.sampling_ratio,
    )


def _is_patch_deconv(m: nn.Module) -> bool:
    """A ``ConvTranspose2d`` whose kernel equals its stride (the mask predictor's 2x up-sampling)."""
    return (
        type(m) is nn.ConvTranspose2d
        and m.kernel_size == m.stride
        and m.padding == (0, 0)
        and m.output_padding == (0, 0)
        and m.dilation == (1, 1)
        and m.groups == 1
        and m.padding_mode == "zeros"
        and "forward" not in vars(m)
    )


class _PatchDeconv(torch.autograd.Function):
    """``ConvTranspose2d`` with kernel == stride as matrix products; the output is a new channels_last tensor.

    The output is not a view (a view would make the predictor's in-place ReLU record a ``CopySlices`` node,
    whose backward copies the whole 1500-channel map again). Under CPU autocast the products run in the
    autocast dtype, as the convolution would.
    """

    @staticmethod
    def forward(ctx: Any, x, weight, bias, kernel):  # type: ignore[override]
        n, c, h, w = x.shape
        kh, kw = kernel
        o = weight.shape[1]
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
        with torch.autocast("cpu", enabled=False):
            rows = x.permute(0, 2, 3, 1).reshape(n * h * w, c).to(dtype)
            # weight (c, o, kh, kw) -> (c, kh*kw*o): columns in the output's (kh, kw, o) order
            wmat = weight.permute(0, 2, 3, 1).reshape(c, kh * kw * o).to(dtype)
            if bias is None:
                y = rows @ wmat
            else:
                y = torch.addmm(bias.to(dtype).repeat(kh * kw), rows, wmat)
            out = torch.empty((n, o, h * kh, w * kw), dtype=dtype, memory_format=torch.channels_last)
            out.permute(0, 2, 3, 1).view(n, h, kh, w, kw, o).copy_(
                y.view(n, h, w, kh, kw, o).permute(0, 1, 3, 2, 4, 5)
            )
        ctx.save_for_backward(rows, wmat)
        ctx.meta = (n, c, h, w, kh, kw, o, x.dtype, weight.dtype, bias is not None)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor):  # type: ignore[override]
        rows, wmat = ctx.saved_tensors
        n, c, h, w, kh, kw, o, x_dtype, w_dtype, has_bias = ctx.meta
        g = (
            grad_out.to(rows.dtype)
            .permute(0, 2, 3, 1)
            .reshape(n, h, kh, w, kw, o)
            .permute(0, 1, 3, 2, 4, 5)
            .reshape(n * h * w, kh * kw * o)
        )
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = (g @ wmat.t()).view(n, h, w, c).permute(0, 3, 1, 2).to(x_dtype)
        if ctx.needs_input_grad[1]:
            grad_w = (rows.t() @ g).view(c, kh, kw, o).permute(0, 3, 1, 2).to(w_dtype)
        if has_bias and ctx.needs_input_grad[2]:
            grad_b = g.view(n * h * w * kh * kw, o).sum(0, dtype=torch.float32).to(w_dtype)
        return grad_x, grad_w, grad_b, None


def _deconv_forward(
    self: nn.ConvTranspose2d, x: torch.Tensor, output_size: list[int] | None = None
) -> torch.Tensor:
    """A kernel == stride transposed convolution as one matrix product (its patches do not overlap).

    ``out[n, o, kh*i + a, kw*j + b] = bias[o] + sum_c x[n, c, i, j] * weight[c, o, a, b]``: the same sums as
    the convolution, as ``(N*H*W, C) @ (C, kh*kw*O)``; its backward is two matrix products, where oneDNN's
    CPU deconvolution backward runs well below the matmul rate. The result is a new ``channels_last``
    tensor (see :class:`_PatchDeconv`).
    """
    if output_size is not None or x.dim() != 4 or x.device.type != "cpu":
        return nn.ConvTranspose2d.forward(self, x, output_size)
    return _PatchDeconv.apply(x, self.weight, self.bias, tuple(self.kernel_size))


@contextlib.contextmanager
def cpu_speedups_context(model: nn.Module, *, enabled: bool) -> Iterator[None]:
    """Within the block, train ``model`` in ``channels_last`` with the fast RoIAlign backward; undo after.

    The model's 4-D parameters and buffers are converted to ``torch.channels_last`` in place (the same
    ``Parameter`` objects, so an optimiser keeps working) and back to the contiguous format on exit, unless
    they were channels_last already (then they are left alone). Single-level ``MultiScaleRoIAlign`` poolers
    (the library's default RoI poolers) use :func:`roi_align_fast_backward` within the block (multi-level
    ones keep torchvision's path), and ``ConvTranspose2d`` layers whose kernel equals their stride run as
    one matrix product.

    Args:
        model: The model to train.
        enabled: ``False`` makes the block a no-op.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.engine.speed import cpu_speedups_context
        >>> conv = torch.nn.Conv2d(3, 4, 3)
        >>> with cpu_speedups_context(conv, enabled=True):
        ...     conv.weight.is_contiguous(memory_format=torch.channels_last)
        True
        >>> conv.weight.is_contiguous()
        True
    """
    if not enabled:
        yield
        return
    converted = [
        t for t in _tensors(model) if t.dim() == 4 and not t.is_contiguous(memory_format=torch.channels_last)
    ]
    poolers = [
        m
        for m in model.modules()
        if type(m) is MultiScaleRoIAlign and len(m.featmap_names) == 1 and "forward" not in vars(m)
    ]
    deconvs = [m for m in model.modules() if _is_patch_deconv(m)]
    with torch.no_grad():
        for t in converted:
            t.data = t.data.contiguous(memory_format=torch.channels_last)
    for m in poolers:
        m.forward = types.MethodType(_pooler_forward, m)  # type: ignore[method-assign]
    for m in deconvs:
        m.forward = types.MethodType(_deconv_forward, m)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for m in poolers + deconvs:
            del m.forward
        with torch.no_grad():
            for t in converted:
                t.data = t.data.contiguous()


def _tensors(model: nn.Module) -> Iterator[torch.Tensor]:
    yield from model.parameters()
    yield from model.buffers()
