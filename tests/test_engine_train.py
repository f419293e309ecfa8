import math

import pytest
import torch
from torch import nn

from helpers.models import train_model
from helpers.rods import TinyRods
from maskrcnn_custom import train_one_epoch
from maskrcnn_custom.data import collate_fn
from maskrcnn_custom.engine.train import warmup_factor_at

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class ToyDetector(nn.Module):
    """Returns a loss dict like a detection model; can be told to produce NaN and records autocast."""

    def __init__(self, nan_at: int | None = None):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([3.0, -4.0]))
        self.calls = 0
        self.nan_at = nan_at
        self.autocast_seen: list[tuple[bool, torch.dtype]] = []

    def forward(self, images, targets):
        self.autocast_seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        x = torch.stack([img.mean() for img in images]).mean()
        loss_mask = (self.w**2).sum() * (1 + 0 * x)
        loss_box = (self.w - 1).abs().sum()
        if self.nan_at is not None and self.calls == self.nan_at:
            loss_mask = loss_mask * float("nan")
        self.calls += 1
        return {"loss_box_reg": loss_box, "loss_mask": loss_mask}


def _toy_loader(n):
    target = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
    return [([torch.rand(3, 8, 8)], [target])] * n


def _batch(ds, idx):
    return collate_fn([ds[i] for i in idx])


def test_a_few_iterations_reduce_the_loss():
    ds = TinyRods(n=2, size=64)
    images, targets = _batch(ds, [0, 1])
    model = train_model()
    opt = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9, weight_decay=1e-4
    )
    first = train_one_epoch(model, opt, [(images, targets)] * 6, "cpu", 0, warmup_iters=2, progress=False)
    second = train_one_epoch(
        model, opt, [(images, targets)] * 6, "cpu", 1, progress=False, max_grad_norm=10.0
    )
    third = train_one_epoch(model, opt, [(images, targets)] * 6, "cpu", 2, progress=False, max_grad_norm=10.0)
    assert set(first) >= {
        "loss",
        "loss_classifier",
        "loss_box_reg",
        "loss_mask",
        "loss_objectness",
        "loss_rpn_box_reg",
    }
    assert first["iterations"] == 6.0
    for stats in (first, second, third):
        parts = sum(v for k, v in stats.items() if k.startswith("loss_"))
        assert stats["loss"] == pytest.approx(parts, rel=1e-5)
    assert third["loss"] < 0.6 * first["loss"]
    assert third["lr"] == pytest.approx(0.01)


def test_warmup_is_linear_in_epoch_zero_only_and_restores_lr():
    assert warmup_factor_at(0, warmup_iters=4, warmup_factor=0.1) == pytest.approx(0.1)
    assert warmup_factor_at(2, warmup_iters=4, warmup_factor=0.1) == pytest.approx(0.55)
    assert warmup_factor_at(4, warmup_iters=4, warmup_factor=0.1) == 1.0
    model = ToyDetector()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    seen = []
    orig_step = opt.step

    def step(*a, **k):
        seen.append(opt.param_groups[0]["lr"])
        return orig_step(*a, **k)

    opt.step = step
    stats = train_one_epoch(
        model, opt, _toy_loader(3), "cpu", 0, warmup_iters=4, warmup_factor=0.1, progress=False
    )
    assert seen == pytest.approx([0.05, 0.5 * 0.325, 0.5 * 0.55])
    assert stats["lr"] == pytest.approx(0.5 * 0.55)
    assert opt.param_groups[0]["lr"] == 0.5  # restored for the epoch scheduler
    seen.clear()
    train_one_epoch(model, opt, _toy_loader(3), "cpu", 1, warmup_iters=4, warmup_factor=0.1, progress=False)
    assert seen == [0.5, 0.5, 0.5]
    seen.clear()
    # torchvision's default rule: min(1000, len - 1) iterations
    train_one_epoch(model, opt, _toy_loader(3), "cpu", 0, warmup_factor=0.1, progress=False)
    assert seen == pytest.approx([0.05, 0.5 * 0.55, 0.5])


def test_nan_loss_raises_floating_point_error_naming_the_loss():
    model = ToyDetector(nan_at=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with pytest.raises(FloatingPointError, match=r"loss_mask=nan") as info:
        train_one_epoch(model, opt, _toy_loader(5), "cpu", 3, progress=False)
    assert "iteration 2" in str(info.value) and "epoch 3" in str(info.value)
    assert "loss_box_reg=" not in str(info.value).split("(all losses")[0]
    assert torch.isfinite(model.w).all()  # the NaN step was never applied


def test_gradient_clipping_bounds_the_step():
    model = ToyDetector()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    w0 = model.w.detach().clone()
    train_one_epoch(model, opt, _toy_loader(1), "cpu", 1, max_grad_norm=0.5, progress=False)
    assert torch.linalg.vector_norm(model.w.detach() - w0).item() == pytest.approx(0.5, rel=1e-5)
    model2 = ToyDetector()
    opt2 = torch.optim.SGD(model2.parameters(), lr=1.0)
    train_one_epoch(model2, opt2, _toy_loader(1), "cpu", 1, progress=False)
    assert torch.linalg.vector_norm(model2.w.detach() - w0).item() > 5  # unclipped: |grad| = |2w + sign(w-1)|


def test_amp_bfloat16_autocast_on_cpu():
    model = ToyDetector()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    train_one_epoch(model, opt, _toy_loader(2), "cpu", 1, amp="bf16", progress=False)
    assert model.autocast_seen == [(True, torch.bfloat16)] * 2
    model.autocast_seen.clear()
    train_one_epoch(model, opt, _toy_loader(1), "cpu", 1, progress=False)
    assert model.autocast_seen[0][0] is False


@pytest.mark.parametrize("native", [True, False])
def test_amp_auto_is_bfloat16_only_on_a_cpu_that_computes_it(monkeypatch, native):
    from maskrcnn_custom.engine import amp as amp_module

    monkeypatch.setattr(amp_module, "cpu_has_native_bf16", lambda: native)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert amp_module.resolve_amp_dtype("auto", cpu) == (torch.bfloat16 if native else None)
    assert amp_module.resolve_amp_dtype("auto", cuda) == torch.float16
    assert amp_module.resolve_amp_dtype(True, cpu) == torch.bfloat16  # True stays bfloat16 on any CPU
    model = ToyDetector()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    train_one_epoch(model, opt, _toy_loader(1), "cpu", 1, amp="auto", progress=False)
    assert model.autocast_seen[0][0] is native
    if native:
        assert model.autocast_seen == [(True, torch.bfloat16)]


def test_amp_float16_needs_and_uses_a_grad_scaler():
    model = ToyDetector()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    with pytest.raises(ValueError, match="GradScaler"):
        train_one_epoch(model, opt, _toy_loader(1), "cpu", 1, amp="float16", progress=False)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    w0 = model.w.detach().clone()
    train_one_epoch(
        model, opt, _toy_loader(1), "cpu", 1, amp="fp16", scaler=scaler, max_grad_norm=0.5, progress=False
    )
    assert model.autocast_seen == [(True, torch.float16)]
    # gradients were unscaled before clipping: the step has the clipped norm, not 1024x it
    assert torch.linalg.vector_norm(model.w.detach() - w0).item() == pytest.approx(0.5, rel=1e-3)
    assert scaler.get_scale() == 1024.0


def test_real_model_trains_under_bfloat16_autocast():
    ds = TinyRods(n=2, size=64)
    model = train_model()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.005, momentum=0.9)
    stats = train_one_epoch(model, opt, [_batch(ds, [0, 1])] * 2, "cpu", 1, amp=True, progress=False)
    assert all(math.isfinite(v) for v in stats.values())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epoch": -1}, "epoch"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"amp": "fp8"}, "amp"),
        ({"warmup_iters": -2}, "warmup_iters"),
        ({"print_freq": 0}, "print_freq"),
    ],
)
def test_bad_arguments_raise_before_training(kwargs, match):
    model = ToyDetector()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    args = {"epoch": 0, **kwargs}
    epoch = args.pop("epoch")
    with pytest.raises(ValueError, match=match):
        train_one_epoch(model, opt, _toy_loader(1), "cpu", epoch, progress=False, **args)
    assert model.calls == 0
