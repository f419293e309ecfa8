"""CPU training speed-ups that keep the math: ``channels_last``, a vectorised RoIAlign and mask predictor.

:func:`~maskrcnn_custom.engine.train_one_epoch` applies them by default when it trains on the CPU
(``cpu_speedups=None``), for the duration of the epoch only: the model's parameters and its RoI poolers are the
user's own again when the call returns. None changes what is computed, only the order of float
additions:

* **channels_last**: oneDNN convolutions run in NHWC, without the layout reorders the NCHW path pays in
  both passes;
* **RoIAlign**: torchvision's CPU kernels gather (forward) and scatter (backward) every pooled value of
  every channel with scalar code, one bilinear weight computation per channel; here the bilinear taps of
  every bin are computed once, with torchvision's formulas, and shared by all channels: the forward is one
  weighted ``embedding_bag`` over the NHWC rows of the feature map, the backward one sparse x dense
  matrix product. Both run in float32 (bfloat16 features are cast, as torchvision does under autocast);
* **mask up-sampling**: the mask predictor's 2x2 stride-2 ``ConvTranspose2d`` (non-overlapping patches) as
  one matrix product, whose backward (two matrix products) runs faster than oneDNN's deconvolution
  backward; in torchvision's ``MaskRCNNPredictor`` the ReLU and the 1x1 logits conv join it, in the
  up-sampling's patch order, so the wide hidden map is never re-laid out.
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


def _bin_taps(
    rois: torch.Tensor,
    *,
    height: int,
    width: int,
    pooled: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel index and weight of every bilinear tap of every pooled bin (torchvision's CPU formulas).

    Returns ``(bins, taps)`` tensors, ``bins = rois * ph * pw`` in the pooled output's order and ``taps =
    4 * sampling_ratio**2``: ``pixel`` indexes ``batch * height * width``, ``weight`` is already divided by the
    samples per bin; taps outside the map have weight 0.
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
    shape = (rois.shape[0], ph, pw, grid, grid)
    pixel = torch.stack([p.expand(shape) for p in pixels], dim=3)  # (R, ph, pw, corner, gy, gx)
    weight = torch.stack([(w * inside).expand(shape) for w in weights], dim=3)
    bins, taps = rois.shape[0] * ph * pw, 4 * grid * grid
    return pixel.reshape(bins, taps), weight.reshape(bins, taps)


class _RoIAlignFastBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, features, rois, output_size, spatial_scale, sampling_ratio, aligned):  # type: ignore[override]
        channels, height, width = features.shape[1:]
        pixel, weight = _bin_taps(
            rois,
            height=height,
            width=width,
            pooled=output_size,
            spatial_scale=spatial_scale,
            sampling_ratio=sampling_ratio,
            aligned=aligned,
        )
        ctx.save_for_backward(pixel, weight)
        ctx.settings = (tuple(features.shape), features.dtype)
        ctx.channels_last = features.is_contiguous(memory_format=torch.channels_last)
        # every bin is the weighted sum of its taps: one embedding_bag over the NHWC rows of the map (a view
        # for channels_last features), in float32 like torchvision's kernel under autocast
        rows = features.permute(0, 2, 3, 1).reshape(-1, channels).to(torch.float32)
        with torch.autocast("cpu", enabled=False):
            out = torch.nn.functional.embedding_bag(pixel, rows, per_sample_weights=weight, mode="sum")
        out = out.to(features.dtype).view(rois.shape[0], output_size[0], output_size[1], channels)
        out = out.permute(0, 3, 1, 2)  # channels_last (K, C, ph, pw)
        return out if ctx.channels_last else out.contiguous()

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor):  # type: ignore[override]
        pixel, weight = ctx.saved_tensors
        (batch, channels, height, width), dtype = ctx.settings
        bins, taps = pixel.shape
        keep = weight.reshape(-1) != 0
        column = torch.arange(bins).repeat_interleave(taps)
        matrix = torch.sparse_coo_tensor(
            torch.stack([pixel.reshape(-1)[keep], column[keep]]),
            weight.reshape(-1)[keep],
            (batch * height * width, bins),
            check_invariants=False,
        )
        rows = grad_output.permute(0, 2, 3, 1).reshape(-1, channels).to(torch.float32)  # (bins, C)
        with torch.autocast("cpu", enabled=False):
            grad = torch.sparse.mm(matrix, rows)  # (batch * H * W, C): NHWC
        grad = grad.to(dtype).view(batch, height, width, channels).permute(0, 3, 1, 2)
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
    """``torchvision.ops.roi_align``'s math with a vectorised CPU forward and backward.

    The bilinear taps of every bin (torchvision's formulas) are computed once for all channels; the forward is
    a weighted ``embedding_bag`` over the feature map's NHWC rows, the backward a sparse x dense product,
    both in float32 (the result has the dtype of ``features``; a channels_last map gives a channels_last
    result). Falls back to ``torchvision.ops.roi_align`` where this does not apply (not float32 or bfloat16
    on the CPU, ``sampling_ratio <= 0``, a boxes list instead of ``Tensor[K, 5]``).

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
        and features.dtype in (torch.float32, torch.bfloat16)
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


def _patch_matmul(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    kernel: tuple[int, int],
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A kernel == stride ``ConvTranspose2d`` as ``(N*H*W, C) @ (C, kh*kw*O)``, all in ``dtype``.

    Returns the rows, the weight matrix and the result, whose columns are in the patch order ``(kh, kw, O)``.
    """
    n, c, h, w = x.shape
    kh, kw = kernel
    rows = x.permute(0, 2, 3, 1).reshape(n * h * w, c).to(dtype)
    # weight (c, o, kh, kw) -> (c, kh*kw*o): columns in the output's (kh, kw, o) order
    wmat = weight.permute(0, 2, 3, 1).reshape(c, kh * kw * weight.shape[1]).to(dtype)
    if bias is None:
        return rows, wmat, rows @ wmat
    return rows, wmat, torch.addmm(bias.to(dtype).repeat(kh * kw), rows, wmat)


def _patch_matmul_grads(
    ctx: Any,
    g: torch.Tensor,
    rows: torch.Tensor,
    wmat: torch.Tensor,
    *,
    x_shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    dtypes: tuple[torch.dtype, torch.dtype],
    has_bias: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """Gradients of :func:`_patch_matmul`'s input, weight and bias (those ``ctx.needs_input_grad`` asks for).

    ``g`` is the gradient of its result, ``(N*H*W, kh*kw*O)``; ``dtypes`` those of the input and the weight.
    """
    n, c, h, w = x_shape
    kh, kw = kernel
    o = wmat.shape[1] // (kh * kw)
    grad_x = grad_w = grad_b = None
    if ctx.needs_input_grad[0]:
        grad_x = (g @ wmat.t()).view(n, h, w, c).permute(0, 3, 1, 2).to(dtypes[0])
    if ctx.needs_input_grad[1]:
        grad_w = (rows.t() @ g).view(c, kh, kw, o).permute(0, 3, 1, 2).to(dtypes[1])
    if has_bias and ctx.needs_input_grad[2]:
        grad_b = g.reshape(-1, o).sum(0, dtype=torch.float32).to(dtypes[1])
    return grad_x, grad_w, grad_b


class _PatchDeconv(torch.autograd.Function):
    """``ConvTranspose2d`` with kernel == stride as matrix products; the output is a new channels_last tensor.

    The output is not a view (a view would make the predictor's in-place ReLU record a ``CopySlices`` node,
    whose backward copies the whole 1500-channel map again). Under CPU autocast the products run in the
    autocast dtype, as the convolution would.
    """

    @staticmethod
    def forward(ctx: Any, x, weight, bias, kernel):  # type: ignore[override]
        n, _, h, w = x.shape
        kh, kw = kernel
        o = weight.shape[1]
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
        with torch.autocast("cpu", enabled=False):
            rows, wmat, y = _patch_matmul(x, weight, bias, kernel, dtype)
            out = torch.empty((n, o, h * kh, w * kw), dtype=dtype, memory_format=torch.channels_last)
            out.permute(0, 2, 3, 1).view(n, h, kh, w, kw, o).copy_(
                y.view(n, h, w, kh, kw, o).permute(0, 1, 3, 2, 4, 5)
            )
        ctx.save_for_backward(rows, wmat)
        ctx.meta = (tuple(x.shape), (kh, kw), o, (x.dtype, weight.dtype), bias is not None)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor):  # type: ignore[override]
        rows, wmat = ctx.saved_tensors
        x_shape, (kh, kw), o, dtypes, has_bias = ctx.meta
        n, _, h, w = x_shape
        g = (
            grad_out.to(rows.dtype)
            .permute(0, 2, 3, 1)
            .reshape(n, h, kh, w, kw, o)
            .permute(0, 1, 3, 2, 4, 5)
            .reshape(n * h * w, kh * kw * o)
        )
        grads = _patch_matmul_grads(
            ctx, g, rows, wmat, x_shape=x_shape, kernel=(kh, kw), dtypes=dtypes, has_bias=has_bias
        )
        return (*grads, None)


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


def _is_patch_predictor(m: nn.Module) -> bool:
    """A sequential ``[patch ConvTranspose2d, ReLU, 1x1 Conv2d]`` (torchvision's ``MaskRCNNPredictor``)."""
    if not isinstance(m, nn.Sequential) or len(m) != 3 or "forward" in vars(m):
        return False
    deconv, relu, logits = m
    return (
        _is_patch_deconv(deconv)
        and type(relu) is nn.ReLU
        and type(logits) is nn.Conv2d
        and logits.kernel_size == (1, 1)
        and logits.stride == (1, 1)
        and logits.padding == (0, 0)
        and logits.dilation == (1, 1)
        and logits.groups == 1
        and logits.padding_mode == "zeros"
        and logits.bias is not None
        and logits.in_channels == deconv.out_channels
    )


class _PatchPredictor(torch.autograd.Function):
    """``[kernel == stride ConvTranspose2d, ReLU, 1x1 Conv2d]`` as matrix products in the patch order.

    The wide hidden map stays in the deconvolution's patch order and is never re-laid out, only the few
    output logits are.

    ``hidden = relu(rows @ W1 + b1)`` with rows ``(N*H*W, C)`` and columns ``(kh, kw, O)``; the 1x1 logits
    conv is ``hidden.view(-1, O) @ W2 + b2``, the same per-pixel sums; the backward is four matrix
    products. Under CPU autocast the products run in the autocast dtype, as the convolutions would.
    """

    @staticmethod
    def forward(ctx: Any, x, w1, b1, w2, b2, kernel):  # type: ignore[override]
        n, _, h, w = x.shape
        kh, kw = kernel
        o = w1.shape[1]
        k = w2.shape[0]
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
        with torch.autocast("cpu", enabled=False):
            rows, wmat1, hidden = _patch_matmul(x, w1, b1, kernel, dtype)
            hidden.relu_()
            wmat2 = w2.reshape(k, o).t().to(dtype)  # (o, k)
            z = torch.addmm(b2.to(dtype), hidden.view(-1, o), wmat2)  # (N*H*W*kh*kw, k)
            out = torch.empty((n, k, h * kh, w * kw), dtype=dtype)
            out.view(n, k, h, kh, w, kw).copy_(z.view(n, h, w, kh, kw, k).permute(0, 5, 1, 3, 2, 4))
        ctx.save_for_backward(rows, wmat1, hidden, wmat2)
        ctx.meta = (tuple(x.shape), (kh, kw), o, k, (x.dtype, w1.dtype), b1 is not None, w2.dtype)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor):  # type: ignore[override]
        rows, wmat1, hidden, wmat2 = ctx.saved_tensors
        x_shape, (kh, kw), o, k, dtypes, has_b1, w2_dtype = ctx.meta
        n, _, h, w = x_shape
        gz = (
            grad_out.to(rows.dtype)
            .reshape(n, k, h, kh, w, kw)
            .permute(0, 2, 4, 3, 5, 1)
            .reshape(n * h * w * kh * kw, k)
        )
        flat = hidden.view(-1, o)
        grad_w2 = (flat.t() @ gz).t().reshape(k, o, 1, 1).to(w2_dtype)
        grad_b2 = gz.sum(0, dtype=torch.float32).to(w2_dtype)
        # through the ReLU, as its autograd node does
        g = torch.ops.aten.threshold_backward(gz @ wmat2.t(), flat, 0).view(n * h * w, kh * kw * o)
        grads = _patch_matmul_grads(
            ctx, g, rows, wmat1, x_shape=x_shape, kernel=(kh, kw), dtypes=dtypes, has_bias=has_b1
        )
        return (*grads, grad_w2, grad_b2, None)


def _predictor_forward(self: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``MaskRCNNPredictor.forward`` through :class:`_PatchPredictor` on the CPU (its own path elsewhere)."""
    if x.dim() != 4 or x.device.type != "cpu":
        return nn.Sequential.forward(self, x)
    deconv, _, logits = self
    return _PatchPredictor.apply(
        x, deconv.weight, deconv.bias, logits.weight, logits.bias, tuple(deconv.kernel_size)
    )


@contextlib.contextmanager
def cpu_speedups_context(model: nn.Module, *, enabled: bool) -> Iterator[None]:
    """Within the block, train ``model`` in ``channels_last`` with the vectorised RoIAlign and mask predictor.

    The model's 4-D parameters and buffers are converted to ``torch.channels_last`` in place (the same
    ``Parameter`` objects, so an optimiser keeps working) and back to the contiguous format on exit, unless
    they were channels_last already (then they are left alone). Single-level ``MultiScaleRoIAlign`` poolers
    (the library's default RoI poolers) use :func:`roi_align_fast_backward` within the block (multi-level
    ones keep torchvision's path), torchvision's ``MaskRCNNPredictor`` (and any ``nn.Sequential`` of a
    kernel == stride ``ConvTranspose2d``, a ``ReLU`` and a 1x1 ``Conv2d``) runs as fused matrix products, and
    other ``ConvTranspose2d`` layers whose kernel equals their stride run as one matrix product.

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
    predictors = [m for m in model.modules() if _is_patch_predictor(m)]
    fused = {id(m[0]) for m in predictors}
    deconvs = [m for m in model.modules() if _is_patch_deconv(m) and id(m) not in fused]
    with torch.no_grad():
        for t in converted:
            t.data = t.data.contiguous(memory_format=torch.channels_last)
    for m in poolers:
        m.forward = types.MethodType(_pooler_forward, m)  # type: ignore[method-assign]
    for m in deconvs:
        m.forward = types.MethodType(_deconv_forward, m)  # type: ignore[method-assign]
    for m in predictors:
        m.forward = types.MethodType(_predictor_forward, m)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for m in poolers + deconvs + predictors:
            del m.forward
        with torch.no_grad():
            for t in converted:
                t.data = t.data.contiguous()


def _tensors(model: nn.Module) -> Iterator[torch.Tensor]:
    yield from model.parameters()
    yield from model.buffers()
