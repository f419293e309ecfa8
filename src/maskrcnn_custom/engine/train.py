"""One training epoch: :func:`train_one_epoch`, the library's version of torchvision's reference loop."""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from .._utils.checks import check_int, check_non_negative_int, check_positive_int
from ..data.validate import model_num_classes, validate_batch
from ..recipe import get_recipe
from .amp import AmpLike, autocast, resolve_amp_dtype
from .distributed import is_main_process, reduce_mean
from .progress import progress_bar
from .speed import cpu_speedups_context, resolve_cpu_speedups

__all__ = ["check_finite_losses", "move_to_device", "train_one_epoch", "warmup_factor_at"]

logger = logging.getLogger(__name__)

_SEED = get_recipe("seed")


def move_to_device(
    images: Iterable[torch.Tensor], targets: Iterable[Mapping[str, Any]] | None, device: torch.device
) -> tuple[list[torch.Tensor], list[dict[str, Any]] | None]:
    """Move a batch (images and torchvision-style targets) to ``device``; non-tensor fields pass through."""
    imgs = [img.to(device, non_blocking=True) for img in images]
    if targets is None:
        return imgs, None
    tgts = [
        {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in t.items()}
        for t in targets
    ]
    return imgs, tgts


def warmup_factor_at(iteration: int, *, warmup_iters: int, warmup_factor: float) -> float:
    """Linear warm-up multiplier of the learning rate at ``iteration`` (as torchvision's ``LinearLR``).

    It rises linearly from ``warmup_factor`` at iteration 0 to 1 at ``warmup_iters`` and stays 1 after.

    Examples:
        >>> from maskrcnn_custom.engine.train import warmup_factor_at
        >>> warmup_factor_at(0, warmup_iters=10, warmup_factor=0.001)
        0.001
        >>> warmup_factor_at(10, warmup_iters=10, warmup_factor=0.001)
        1.0
    """
    if warmup_iters <= 0 or iteration >= warmup_iters:
        return 1.0
    return warmup_factor + (1.0 - warmup_factor) * iteration / warmup_iters


def check_finite_losses(losses: Mapping[str, float], *, epoch: int, iteration: int) -> None:
    """Raise ``FloatingPointError`` naming every loss that is NaN or infinite.

    Raises:
        FloatingPointError: If any value is not finite.

    Examples:
        >>> from maskrcnn_custom.engine.train import check_finite_losses
        >>> check_finite_losses({"loss_mask": 0.7}, epoch=0, iteration=0)  # fine: nothing raised
    """
    bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
    if bad:
        names = ", ".join(f"{k}={v}" for k, v in sorted(bad.items()))
        raise FloatingPointError(
            f"non-finite loss at epoch {epoch}, iteration {iteration}: {names} (all losses: "
            f"{ {k: round(v, 4) if math.isfinite(v) else v for k, v in losses.items()} }). Lower the learning "
            "rate, keep the linear warm-up (warmup_iters), set max_grad_norm (e.g. 10.0) or turn off float16 AMP."
        )


def _validate(
    epoch: int, warmup_iters: int | None, warmup_factor: float, max_grad_norm: float | None, print_freq: int
) -> None:
    check_non_negative_int(epoch, "epoch", hint="0 is the first epoch, the one with warm-up")
    check_int(
        warmup_iters,
        "warmup_iters",
        minimum=0,
        allow_none=True,
        hint="None follows torchvision, 0 disables warm-up",
    )
    if not 0.0 < float(warmup_factor) <= 1.0:
        raise ValueError(f"warmup_factor must be in (0, 1], got {warmup_factor!r}")
    if max_grad_norm is not None and not (float(max_grad_norm) > 0 and math.isfinite(float(max_grad_norm))):
        raise ValueError(
            f"max_grad_norm must be None (no clipping) or a finite number > 0, got {max_grad_norm!r}"
        )
    check_positive_int(print_freq, "print_freq")


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data_loader: Iterable[Any],
    device: torch.device | str,
    epoch: int,
    *,
    scaler: torch.amp.GradScaler | None = None,
    amp: AmpLike = False,
    warmup_iters: int | None = None,
    warmup_factor: float = _SEED.warmup_factor,
    max_grad_norm: float | None = None,
    print_freq: int = 20,
    progress: bool = True,
    num_iters: int | None = None,
    cpu_speedups: bool | None = None,
) -> dict[str, float]:
    """Train ``model`` for one pass over ``data_loader`` and return the mean of each loss.

    Like torchvision's ``references/detection/engine.py`` but installable: a tqdm progress bar that can be
    switched off, ``logging`` instead of ``print``, ``torch.amp`` autocast, optional gradient clipping, and a
    ``FloatingPointError`` naming the loss that became NaN/inf (the reference calls ``sys.exit``).

    In epoch 0 the learning rate warms up linearly from ``warmup_factor * lr`` to ``lr`` over the first
    ``warmup_iters`` iterations (default ``min(1000, num_iters - 1)``, torchvision's rule); the optimiser's
    learning rates are restored exactly afterwards, so an epoch-level scheduler is unaffected. Under
    ``torchrun`` the losses are averaged over processes every iteration (so every process sees the same
    value and raises together).

    Args:
        model: A detection model in the torchvision convention (train mode returns a dict of losses),
            possibly wrapped in ``DistributedDataParallel``.
        optimizer: The optimiser.
        data_loader: Yields ``(images, targets)`` batches (sequences of CxHxW tensors and target dicts).
        device: Where to train.
        epoch: Epoch index, 0-based; warm-up happens only in epoch 0.
        scaler: A ``torch.amp.GradScaler`` for float16 training (required with float16, as torchvision).
        amp: Mixed precision: ``False``, ``True`` (float16 on CUDA, bfloat16 on CPU), ``"float16"``,
            ``"bfloat16"``.
        warmup_iters: Warm-up length in iterations; ``None`` for torchvision's rule, ``0`` disables.
        warmup_factor: Learning-rate multiplier at the first iteration.
        max_grad_norm: Clip the total gradient norm to this value (``None``: no clipping).
        print_freq: Log a line every this many iterations.
        progress: Show a tqdm progress bar (rank 0 only).
        num_iters: Number of iterations to run (default ``len(data_loader)``); needed for unsized iterables.
        cpu_speedups: The CPU speed-ups of :mod:`maskrcnn_custom.engine.speed` for this epoch: the model in
            ``channels_last``, a vectorised RoIAlign (forward and backward) and the mask predictor as matrix
            products, the same math (float additions in another order). ``None`` (default): on when ``device``
            is the CPU and the model is not wrapped in ``DistributedDataParallel``; the model is back in its own memory format on return.

    Returns:
        ``{"loss": ..., "loss_classifier": ..., ..., "lr": ...}``: the mean of each loss over the epoch
        (averaged across processes), ``lr`` the learning rate of the first parameter group at the last
        iteration, ``iterations`` and ``time_s``.

    Raises:
        FloatingPointError: If a loss becomes NaN or infinite; the message names it.
        ValueError: On invalid arguments, float16 AMP without a ``scaler``, or a wrong sample (checked by
            :func:`~maskrcnn_custom.data.validate_batch` before each forward; the message names the batch,
            the item and the field).

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn, train_one_epoch
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None, min_size=64, max_size=64)
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.003, momentum=0.9, weight_decay=1e-4)
        >>> mask = torch.zeros(1, 64, 64, dtype=torch.uint8); mask[0, 20:26, 5:60] = 1
        >>> target = {"boxes": torch.tensor([[5.0, 20.0, 60.0, 26.0]]), "labels": torch.tensor([1]), "masks": mask}
        >>> loader = [([torch.rand(3, 64, 64)], [target])] * 2
        >>> stats = train_one_epoch(model, optimizer, loader, "cpu", 0, progress=False)
        >>> sorted(stats)[:3]
        ['iterations', 'loss', 'loss_box_reg']
    """
    device = torch.device(device)
    _validate(epoch, warmup_iters, warmup_factor, max_grad_norm, print_freq)
    fast = resolve_cpu_speedups(cpu_speedups, model=model, device=device)
    dtype = resolve_amp_dtype(amp, device)
    if dtype == torch.float16 and scaler is None:
        raise ValueError(
            "float16 AMP needs a gradient scaler: pass scaler=torch.amp.GradScaler(device.type) "
            "(or use amp='bfloat16', which needs none)"
        )
    if num_iters is None:
        try:
            num_iters = len(data_loader)  # type: ignore[arg-type]
        except TypeError:
            raise ValueError("data_loader has no len(); pass num_iters=") from None
    if num_iters < 1:
        raise ValueError(f"the epoch has no iterations (num_iters={num_iters}); give the loader some data")
    if warmup_iters is None:
        warmup_iters = min(1000, num_iters - 1)
    if epoch > 0:
        warmup_iters = 0

    num_classes = model_num_classes(model)
    model.train()
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    sums: dict[str, float] = {}
    count = 0
    lr = base_lrs[0]
    start = time.perf_counter()
    bar = progress_bar(total=num_iters, desc=f"epoch {epoch}", enabled=progress and is_main_process())
    with cpu_speedups_context(model, enabled=fast):
        try:
            for iteration, (images, targets) in enumerate(itertools.islice(data_loader, num_iters)):
                factor = warmup_factor_at(iteration, warmup_iters=warmup_iters, warmup_factor=warmup_factor)
                for group, base in zip(optimizer.param_groups, base_lrs, strict=False):
                    group["lr"] = base * factor
                lr = optimizer.param_groups[0]["lr"]
                # Cheap shape / dtype / range checks of the batch, before the forward (see data.validate).
                validate_batch(images, targets, batch=iteration, num_classes=num_classes)
                images, targets = move_to_device(images, targets, device)
                with autocast(device, dtype):
                    loss_dict = model(images, targets)
                losses = sum(loss_dict.values())
                values = {k: v.detach().float().item() for k, v in loss_dict.items()}
                values["loss"] = float(losses.detach().float().item())
                values = reduce_mean(values, device=device)
                check_finite_losses(values, epoch=epoch, iteration=iteration)

                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(losses).backward()
                    if max_grad_norm is not None:
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    losses.backward()
                    if max_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                    optimizer.step()

                for k, v in values.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
                bar.update(1)
                bar.set_postfix(loss=f"{values['loss']:.4f}", lr=f"{lr:.2e}")
                if count % print_freq == 0 or count == num_iters:
                    logger.info(
                        "epoch %d [%d/%d] lr %.3g %s",
                        epoch,
                        count,
                        num_iters,
                        lr,
                        " ".join(f"{k} {v:.4f}" for k, v in values.items()),
                    )
        finally:
            bar.close()
            for group, base in zip(optimizer.param_groups, base_lrs, strict=False):
                group["lr"] = base
    if count == 0:
        raise ValueError("data_loader yielded no batches; check the dataset and batch size")
    stats = {k: v / count for k, v in sums.items()}
    stats["lr"] = lr
    stats["iterations"] = float(count)
    stats["time_s"] = time.perf_counter() - start
    return stats
