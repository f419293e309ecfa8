"""The CPU training speed-ups (channels_last, vectorised RoIAlign backward) keep the math of the plain loop."""

import copy

import pytest
import torch
from torch import nn
from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign, roi_align

from helpers.models import train_model
from helpers.rods import rod_batch
from maskrcnn_custom import train_one_epoch
from maskrcnn_custom.engine.speed import cpu_speedups_context, resolve_cpu_speedups, roi_align_fast_backward

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _rois(n_rois: int, *, images: int, size: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    corners = torch.rand(n_rois, 4, generator=g) * size * 1.2 - 0.1 * size  # some boxes cross the border
    boxes = torch.cat([corners[:, :2].minimum(corners[:, 2:]), corners[:, :2].maximum(corners[:, 2:])], 1)
    boxes[:3, 2:] = boxes[:3, :2] + 0.3  # tiny boxes (roi_align's 1-pixel minimum)
    return torch.cat([torch.randint(0, images, (n_rois, 1), generator=g).float(), boxes], 1)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_roi_align_fast_backward_matches_torchvision(aligned, channels_last):
    x = torch.randn(2, 5, 12, 10)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    rois = _rois(40, images=2, size=40.0, seed=1)
    grad = torch.randn(40, 5, 7, 7)
    ref, mine = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref = roi_align(ref, rois, (7, 7), spatial_scale=0.25, sampling_ratio=2, aligned=aligned)
    out = roi_align_fast_backward(
        mine, rois, output_size=(7, 7), spatial_scale=0.25, sampling_ratio=2, aligned=aligned
    )
    out_ref.backward(grad)
    out.backward(grad)
    assert out_ref.abs().max() > 1  # real pooled values, compared to float tolerance
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-5)
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert ref.grad.abs().max() > 1
    torch.testing.assert_close(mine.grad, ref.grad, rtol=1e-5, atol=1e-5)
    assert mine.grad.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_roi_align_fast_bfloat16_matches_torchvision_in_float32():
    x = torch.randn(2, 6, 12, 10).contiguous(memory_format=torch.channels_last)
    rois = _rois(30, images=2, size=40.0, seed=3)
    grad = torch.randn(30, 6, 4, 4)
    ref = x.clone().requires_grad_()
    mine = x.to(torch.bfloat16).requires_grad_()
    out_ref = roi_align(ref, rois, (4, 4), spatial_scale=0.25, sampling_ratio=2)
    out = roi_align_fast_backward(mine, rois, output_size=(4, 4), spatial_scale=0.25, sampling_ratio=2)
    out_ref.backward(grad)
    out.backward(grad.to(torch.bfloat16))
    assert out.dtype == mine.grad.dtype == torch.bfloat16
    assert "RoIAlignFast" in type(out.grad_fn).__name__
    # bfloat16 keeps 8 bits of mantissa: the inputs' rounding alone moves results by ~1 %
    torch.testing.assert_close(out.float(), out_ref, rtol=0.02, atol=0.02)
    torch.testing.assert_close(mine.grad.float(), ref.grad, rtol=0.02, atol=0.05)


def test_roi_align_fast_with_no_rois_gives_empty_output_and_zero_gradient():
    x = torch.randn(2, 4, 8, 8).contiguous(memory_format=torch.channels_last).requires_grad_()
    out = roi_align_fast_backward(
        x, torch.zeros(0, 5), output_size=(3, 3), spatial_scale=0.5, sampling_ratio=2
    )
    assert out.shape == (0, 4, 3, 3)
    out.sum().backward()
    assert x.grad.shape == x.shape and not x.grad.any()


def test_roi_align_fast_backward_falls_back_for_adaptive_sampling():
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    rois = _rois(6, images=1, size=8.0, seed=2)
    out = roi_align_fast_backward(x, rois, output_size=(2, 2), spatial_scale=1.0, sampling_ratio=0)
    assert out.grad_fn is not None and "RoIAlignFastBackward" not in type(out.grad_fn).__name__


@pytest.mark.parametrize("bias", [True, False])
def test_patch_deconvolution_as_matmul_matches_conv_transpose(bias):
    deconv = nn.ConvTranspose2d(6, 5, 2, stride=2, bias=bias)
    x = torch.randn(3, 6, 4, 5)
    ref, mine = x.clone().requires_grad_(), x.clone().requires_grad_()
    grad = torch.randn(3, 5, 8, 10)
    out_ref = deconv(ref)
    out_ref.backward(grad)
    ref_grads = [p.grad.clone() for p in deconv.parameters()]
    deconv.zero_grad(set_to_none=True)
    with cpu_speedups_context(deconv, enabled=True):
        assert "forward" in vars(deconv)
        out = deconv(mine)
        out.backward(grad)
    assert "forward" not in vars(deconv)
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(mine.grad, ref.grad, rtol=1e-5, atol=1e-6)
    for p, expected in zip(deconv.parameters(), ref_grads, strict=True):
        torch.testing.assert_close(p.grad, expected, rtol=1e-5, atol=1e-6)


def test_patch_deconvolution_output_is_a_new_channels_last_tensor():
    # A view would make the predictor's in-place ReLU record CopySlices (a full copy in backward).
    deconv = nn.ConvTranspose2d(6, 5, 2, stride=2)
    x = torch.randn(2, 6, 3, 4, requires_grad=True)
    with cpu_speedups_context(deconv, enabled=True):
        out = deconv(x)
        assert out._base is None
        assert out.is_contiguous(memory_format=torch.channels_last)
        relu = torch.relu_(out)
    assert "CopySlices" not in type(relu.grad_fn).__name__
    relu.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_patch_deconvolution_under_bf16_autocast_matches_conv_transpose():
    deconv = nn.ConvTranspose2d(8, 4, 2, stride=2)
    x = torch.randn(2, 8, 3, 3)
    ref, mine = x.clone().requires_grad_(), x.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_ref = deconv(ref)
        with cpu_speedups_context(deconv, enabled=True):
            out = deconv(mine)
    assert out.dtype == out_ref.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), out_ref.float(), rtol=2e-2, atol=2e-2)
    out.float().sum().backward()
    out_ref.float().sum().backward()
    assert mine.grad.dtype == torch.float32
    torch.testing.assert_close(mine.grad, ref.grad, rtol=2e-2, atol=5e-2)


def _predictor_grads(predictor, x, grad):
    x = x.clone().requires_grad_()
    predictor.zero_grad()
    out = predictor(x)
    out.backward(grad)
    return out, x.grad, {n: p.grad.clone() for n, p in predictor.named_parameters()}


def test_mask_predictor_as_fused_matmuls_matches_torchvision():
    predictor = MaskRCNNPredictor(8, 12, 3)  # conv5_mask (2x2 deconv) -> ReLU -> 1x1 mask_fcn_logits
    x = torch.randn(5, 8, 6, 7).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(5, 3, 12, 14)
    ref, ref_gx, ref_gp = _predictor_grads(predictor, x, grad)
    with cpu_speedups_context(predictor, enabled=True):
        assert "forward" in vars(predictor) and "forward" not in vars(predictor.conv5_mask)
        out, gx, gp = _predictor_grads(predictor, x, grad)
        assert type(out.grad_fn).__name__ == "_PatchPredictorBackward"
    assert "forward" not in vars(predictor)
    assert ref.abs().max() > 0.1 and ref_gx.abs().max() > 0.1
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx, ref_gx, rtol=1e-5, atol=1e-5)
    assert gx.is_contiguous(memory_format=torch.channels_last)
    assert set(gp) == set(ref_gp)
    for name, g in gp.items():
        assert ref_gp[name].abs().max() > 0.01, name
        torch.testing.assert_close(g, ref_gp[name], rtol=1e-5, atol=1e-4)


def test_mask_predictor_fused_under_bf16_autocast_matches_torchvision():
    predictor = MaskRCNNPredictor(8, 6, 2)
    x = torch.randn(3, 8, 4, 4)
    grad = torch.randn(3, 2, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref, ref_gx, ref_gp = _predictor_grads(predictor, x, grad)
        with cpu_speedups_context(predictor, enabled=True):
            out, gx, gp = _predictor_grads(predictor, x, grad)
    assert out.dtype == ref.dtype == torch.bfloat16 and gx.dtype == torch.float32
    torch.testing.assert_close(out.float(), ref.float(), rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(gx, ref_gx, rtol=2e-2, atol=5e-2)
    for name, g in gp.items():
        assert g.dtype == torch.float32
        torch.testing.assert_close(g, ref_gp[name], rtol=2e-2, atol=0.1)


def test_other_mask_predictors_keep_their_path():
    odd = nn.Sequential(nn.ConvTranspose2d(4, 4, 2, 2), nn.ReLU(), nn.Conv2d(4, 2, 3, padding=1))
    with cpu_speedups_context(odd, enabled=True):
        assert "forward" not in vars(odd)
        assert "forward" in vars(odd[0])  # the up-sampling alone still runs as one matrix product


def test_overlapping_deconvolution_keeps_torch_path():
    deconv = nn.ConvTranspose2d(2, 2, 3, stride=2)
    with cpu_speedups_context(deconv, enabled=True):
        assert "forward" not in vars(deconv)


def test_cpu_speedups_context_converts_and_restores_the_model():
    model = train_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = list(model.parameters())
    pooler = model.roi_heads.box_roi_pool
    assert isinstance(pooler, MultiScaleRoIAlign)
    with cpu_speedups_context(model, enabled=True):
        assert model.backbone.body.conv1.weight.is_contiguous(memory_format=torch.channels_last)
        assert not model.backbone.body.conv1.weight.is_contiguous()
        assert "forward" in vars(pooler)
        assert "forward" in vars(model.roi_heads.mask_predictor)
    assert "forward" not in vars(pooler)
    assert "forward" not in vars(model.roi_heads.mask_predictor)
    assert all(p.is_contiguous() for p in model.parameters())
    assert all(a is b for a, b in zip(params, model.parameters(), strict=True))  # same Parameter objects
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_resolve_cpu_speedups_auto_and_errors():
    conv = nn.Conv2d(1, 1, 1)
    assert resolve_cpu_speedups(None, model=conv, device=torch.device("cpu")) is True
    assert resolve_cpu_speedups(None, model=conv, device=torch.device("meta")) is False
    assert resolve_cpu_speedups(None, model=nn.DataParallel(conv), device=torch.device("cpu")) is False
    assert resolve_cpu_speedups(True, model=nn.DataParallel(conv), device=torch.device("cpu")) is True
    with pytest.raises(TypeError, match="cpu_speedups"):
        resolve_cpu_speedups("yes", model=conv, device=torch.device("cpu"))  # type: ignore[arg-type]


def _plain_step(model, optimizer, images, targets):
    loss_dict = model(images, targets)
    losses = sum(loss_dict.values())
    values = {k: v.item() for k, v in loss_dict.items()}
    values["loss"] = losses.item()
    optimizer.zero_grad()
    losses.backward()
    optimizer.step()
    return values


def _sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.003, momentum=0.9, weight_decay=1e-4)


def _plain_then_library(*, batch_seed: int, **options):
    """One plain step and one ``train_one_epoch`` step from the same weights, batch and RNG seed."""
    plain = train_model(seed=0)
    library = copy.deepcopy(plain)
    images, targets = rod_batch(2, 64, seed=batch_seed)
    plain.train()
    torch.manual_seed(7)
    expected = _plain_step(plain, _sgd(plain), images, targets)
    torch.manual_seed(7)  # the same sampled anchors and RoIs
    stats = train_one_epoch(library, _sgd(library), [(images, targets)], "cpu", 1, progress=False, **options)
    return plain, library, expected, stats


def test_default_train_one_epoch_gives_the_plain_loop_losses_and_weights():
    plain, library, expected, stats = _plain_then_library(batch_seed=3)
    assert expected["loss"] > 0.1
    for name, value in expected.items():
        assert stats[name] == pytest.approx(value, abs=1e-5), name
    for (name, p), q in zip(plain.named_parameters(), library.parameters(), strict=True):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6, msg=name)
    assert all(p.is_contiguous() for p in library.parameters())  # back in the user's memory format


def test_cpu_speedups_false_is_the_plain_loop_bit_for_bit():
    _, _, expected, stats = _plain_then_library(batch_seed=4, cpu_speedups=False)
    assert {k: stats[k] for k in expected} == expected
