"""The training loop with the seed's recipe: :func:`fit`.

Recipe (the seed's defaults): SGD with lr 0.003, momentum 0.9, weight decay 1e-4 (or AdamW with
``optimizer="adamw"``); StepLR with gamma 0.5;
30 epochs of 300 iterations. The seed's text says the learning rate is halved "every 6 epochs" while its
code passes ``step_size=10``; ``lr_step_size`` is therefore a parameter, with default 6 (the text).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, SequentialSampler
from torch.utils.data.distributed import DistributedSampler

from .._version import __version__
from ..data.collate import collate_fn as default_collate_fn
from ..hub.atomic import atomic_write_text
from .amp import AmpLike, make_grad_scaler, resolve_amp_dtype
from .checkpoint import CHECKPOINT_FORMAT, atomic_torch_save, get_rng_state, load_checkpoint, set_rng_state
from .distributed import (
    all_gather_objects,
    barrier,
    broadcast_buffers,
    init_distributed,
    is_distributed,
    is_main_process,
)
from .evaluate import evaluate
from .metrics_log import MetricsLog, flatten_metrics
from .optim import check_optimizer_name, make_optimizer
from .pretrained import export_pretrained
from .sampling import InfiniteSampler
from .train import train_one_epoch

__all__ = ["FitResult", "fit", "seed_everything"]

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "checkpoint_last.pt"
BEST_CHECKPOINT = "checkpoint_best.pt"


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators.

    Examples:
        >>> from maskrcnn_custom.engine.fit import seed_everything
        >>> seed_everything(0)
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002
    torch.manual_seed(seed)


@dataclass
class FitResult:
    """What :func:`fit` produced.

    Attributes:
        output_dir: The run folder.
        history: One record per epoch (``epoch``, ``lr``, ``train`` losses, ``bbox``/``segm`` metrics...).
        best_epoch: Epoch of the best ``best_metric`` (``None`` without validation).
        best_metric: Its value.
        last_checkpoint: Path of ``checkpoint_last.pt``.
        best_checkpoint: Path of ``checkpoint_best.pt`` (``None`` without validation).
        pretrained_dir: The ``save_pretrained`` folder (``None`` if not written).
    """

    output_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    last_checkpoint: Path | None = None
    best_checkpoint: Path | None = None
    pretrained_dir: Path | None = None


def _positive_int(name: str, value: Any, *, allow_none: bool = False, minimum: int = 1) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"{name} must be an int >= {minimum}{' or None' if allow_none else ''}, got {value!r}"
        )


def _positive_float(name: str, value: Any, *, allow_zero: bool = False) -> None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def _find_resume(resume: bool | str | os.PathLike[str] | None, output_dir: Path) -> Path | None:
    if resume is None or resume is False:
        return None
    if resume is True:
        path = output_dir / LAST_CHECKPOINT
        if not path.is_file():
            logger.info("resume=True but %s does not exist yet: starting from scratch", path)
            return None
        return path
    path = Path(resume)
    if path.is_dir():
        path = path / LAST_CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(
            f"resume={str(resume)!r}: no checkpoint there; pass a checkpoint_*.pt file, its run folder, "
            "or resume=True to continue output_dir's run when it exists"
        )
    return path


def _model_config_dict(model: nn.Module) -> dict[str, Any] | None:
    config = getattr(model, "config", None)
    return config.to_dict() if config is not None and hasattr(config, "to_dict") else None


def fit(
    model: nn.Module,
    train_dataset: Dataset,
    val_dataset: Dataset | None = None,
    *,
    output_dir: str | os.PathLike[str],
    epochs: int = 30,
    iters_per_epoch: int | None = 300,
    batch_size: int = 2,
    val_batch_size: int | None = None,
    lr: float = 0.003,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    lr_step_size: int = 6,
    lr_gamma: float = 0.5,
    warmup_iters: int | None = None,
    warmup_factor: float = 1.0 / 1000,
    max_grad_norm: float | None = None,
    amp: AmpLike = False,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    shuffle: bool = True,
    seed: int = 0,
    resume: bool | str | os.PathLike[str] | None = None,
    eval_every: int = 1,
    best_metric: str = "segm/AP",
    print_freq: int = 20,
    progress: bool = True,
    tensorboard: bool | None = None,
    save_pretrained: bool = True,
    config: Mapping[str, Any] | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> FitResult:
    """Train ``model`` with the seed's recipe, evaluating, logging and checkpointing every epoch.

    Each epoch runs ``iters_per_epoch`` iterations of :func:`train_one_epoch` over an endless, seeded
    stream of the training set (the loader is cycled; pass ``p`` over the data is a permutation seeded with
    ``seed + p``), steps the StepLR schedule, evaluates on ``val_dataset`` (:func:`evaluate`), appends a
    record to ``metrics.csv`` / ``metrics.jsonl`` (and TensorBoard when installed), and writes
    ``checkpoint_last.pt`` atomically (model, optimiser, scheduler, scaler, epoch, history, the RNG
    states of Python/NumPy/torch of every process, the model config and this recipe); the best epoch by
    ``best_metric`` is also kept as ``checkpoint_best.pt``. At the end the best model (the last one
    without validation) is written as a ``save_pretrained`` folder ``output_dir/pretrained``.

    A run resumed from ``checkpoint_last.pt`` continues with identical state: same data order, same
    random numbers, same optimiser/scheduler/scaler state, so on CPU with deterministic data a resumed run
    is bit-identical to an uninterrupted one.

    Under ``torchrun --nproc_per_node=N`` the same call trains with DistributedDataParallel (gloo on CPU,
    nccl on CUDA), each process gets its share of the stream (``batch_size`` is per process), validation
    uses a ``DistributedSampler``, losses and metrics are reduced across processes, and only rank 0 writes
    files.

    Args:
        model: A torchvision-style Mask R-CNN, e.g. from :func:`maskrcnn_custom.maskrcnn_resnet101_fpn`.
        train_dataset: Map-style dataset of ``(image, target)`` pairs.
        val_dataset: Validation dataset (targets need a unique ``image_id``); ``None`` skips evaluation.
        output_dir: Folder for checkpoints, logs and the final ``pretrained`` folder.
        epochs: Number of epochs (seed: 30).
        iters_per_epoch: Iterations per epoch (seed: 300); ``None`` = one pass over the data.
        batch_size: Images per iteration and process.
        val_batch_size: Validation batch size (default ``batch_size``).
        lr: Peak learning rate (seed: 0.003, for SGD with an ImageNet backbone).
        optimizer: ``"sgd"`` (the seed's: momentum ``momentum``, L2 ``weight_decay``) or ``"adamw"``
            (``torch.optim.AdamW`` with decoupled ``weight_decay``; ``momentum`` is unused). AdamW suits
            short runs from a random backbone: the demo reaches about twice the AP of SGD in the same
            iterations (see docs/training.md); use a smaller ``lr`` with it (1e-4 to 1e-3).
        momentum: SGD momentum (seed: 0.9).
        weight_decay: Weight decay (seed: 1e-4).
        lr_step_size: StepLR step in epochs (default 6: the seed's text; its code used 10).
        lr_gamma: StepLR factor (seed: 0.5).
        warmup_iters: Linear warm-up iterations in epoch 0 (``None``: ``min(1000, iters_per_epoch - 1)``,
            torchvision's rule; 0 disables).
        warmup_factor: Learning-rate multiplier at the first warm-up iteration.
        max_grad_norm: Gradient clipping by total norm (``None``: off).
        amp: Mixed precision: ``False``, ``True`` (float16 + GradScaler on CUDA, bfloat16 on CPU),
            ``"float16"``, ``"bfloat16"``.
        device: ``"cuda"``, ``"cpu"`` or ``None`` (CUDA when available).
        num_workers: DataLoader worker processes.
        collate_fn: Batch collation (default :func:`maskrcnn_custom.data.collate_fn`).
        shuffle: Shuffle the training stream.
        seed: Seed of the global generators (offset by the rank) and of the data order.
        resume: ``True`` to continue ``output_dir/checkpoint_last.pt`` if it exists, a checkpoint path or
            run folder, or ``None``/``False`` to start fresh.
        eval_every: Evaluate every this many epochs (and always after the last).
        best_metric: Flattened metric name that selects the best checkpoint, e.g. ``"segm/AP"``.
        print_freq: Log a training line every this many iterations.
        progress: Show progress bars.
        tensorboard: Write TensorBoard scalars (``None``: when installed).
        save_pretrained: Write ``output_dir/pretrained`` at the end.
        config: Extra JSON-serialisable settings to record in the checkpoints (e.g. the dataset's).
        on_epoch_end: Called on every process with each epoch's record, after its checkpoint is written.

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError: On invalid arguments (before any training).
        FileNotFoundError: If ``resume`` names a missing checkpoint.
        FloatingPointError: If a loss becomes NaN/inf (the message names it).

    Examples:
        >>> from maskrcnn_custom import fit, maskrcnn_resnet101_fpn
        >>> model = maskrcnn_resnet101_fpn(num_classes=2)  # doctest: +SKIP
        >>> result = fit(model, train_set, val_set, output_dir="runs/rods")  # doctest: +SKIP
        >>> result.best_metric  # segm AP of the best epoch  # doctest: +SKIP
    """
    _positive_int("epochs", epochs)
    _positive_int("iters_per_epoch", iters_per_epoch, allow_none=True)
    _positive_int("batch_size", batch_size)
    _positive_int("val_batch_size", val_batch_size, allow_none=True)
    _positive_int("lr_step_size", lr_step_size)
    _positive_int("eval_every", eval_every)
    _positive_int("num_workers", num_workers, minimum=0)
    _positive_float("lr", lr)
    check_optimizer_name(optimizer)
    _positive_float("momentum", momentum, allow_zero=True)
    _positive_float("weight_decay", weight_decay, allow_zero=True)
    _positive_float("lr_gamma", lr_gamma)
    if not hasattr(train_dataset, "__len__") or len(train_dataset) == 0:  # type: ignore[arg-type]
        raise ValueError("train_dataset must be a non-empty map-style dataset (with __len__ and __getitem__)")
    if val_dataset is not None and (not hasattr(val_dataset, "__len__") or len(val_dataset) == 0):  # type: ignore[arg-type]
        raise ValueError("val_dataset must be a non-empty map-style dataset, or None to skip evaluation")
    output_dir = Path(output_dir)
    info = init_distributed(device)
    device = info.device
    amp_dtype = resolve_amp_dtype(amp, device)
    resume_path = _find_resume(resume, output_dir)
    collate = collate_fn or default_collate_fn
    if iters_per_epoch is None:
        iters_per_epoch = max(1, len(train_dataset) // (batch_size * info.world_size))  # type: ignore[arg-type]

    recipe: dict[str, Any] = {
        "epochs": epochs,
        "iters_per_epoch": iters_per_epoch,
        "batch_size": batch_size,
        "world_size": info.world_size,
        "lr": lr,
        "optimizer": optimizer,
        "momentum": momentum,
        "weight_decay": weight_decay,
        "lr_step_size": lr_step_size,
        "lr_gamma": lr_gamma,
        "warmup_iters": warmup_iters,
        "warmup_factor": warmup_factor,
        "max_grad_norm": max_grad_norm,
        "amp": None if amp_dtype is None else str(amp_dtype).replace("torch.", ""),
        "shuffle": shuffle,
        "seed": seed,
        "best_metric": best_metric,
    }
    if config is not None:
        json.dumps(dict(config))  # must be JSON-serialisable; raises TypeError naming the bad value
    model_config = _model_config_dict(model)

    model.to(device)
    train_model: nn.Module = model
    if is_distributed():
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (all requires_grad=False)")
    opt = make_optimizer(optimizer, params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=lr_step_size, gamma=lr_gamma)
    scaler = make_grad_scaler(device, amp_dtype)

    result = FitResult(output_dir=output_dir)
    start_epoch = 0
    if resume_path is not None:
        ckpt = load_checkpoint(resume_path)
        if model_config is not None and ckpt.get("model_config") not in (None, model_config):
            raise ValueError(
                f"checkpoint {str(resume_path)!r} was trained with a different model config; build the model "
                "from the checkpoint's 'model_config' (MaskRCNNConfig.from_dict) or start a new output_dir"
            )
        saved_optimizer = ckpt["recipe"].get("optimizer", "sgd")
        if saved_optimizer != optimizer:
            raise ValueError(
                f"checkpoint {str(resume_path)!r} was trained with optimizer={saved_optimizer!r}, this call "
                f"asks for optimizer={optimizer!r}; pass optimizer={saved_optimizer!r} to resume it or start a "
                "new output_dir"
            )
        changed = {k: (ckpt["recipe"].get(k), v) for k, v in recipe.items() if ckpt["recipe"].get(k) != v}
        if changed:
            logger.warning("resuming with a changed recipe (checkpoint value, new value): %s", changed)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["lr_scheduler"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        start_epoch = int(ckpt["epoch"])
        result.history = list(ckpt.get("history", []))
        result.best_epoch = ckpt.get("best_epoch")
        result.best_metric = ckpt.get("best_metric")
        rng = ckpt.get("rng") or []
        if len(rng) == info.world_size:
            set_rng_state(rng[info.rank])
        else:
            logger.warning(
                "checkpoint holds RNG states of %d processes, this run has %d: reseeding, the run will not be "
                "bit-identical to an uninterrupted one",
                len(rng),
                info.world_size,
            )
            seed_everything(seed + 1000 * start_epoch + info.rank)
        logger.info("resumed from %s at epoch %d", resume_path, start_epoch)
    else:
        seed_everything(seed + info.rank)

    log = None
    if is_main_process():
        output_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            output_dir / "run_config.json",
            json.dumps(
                {"recipe": recipe, "model_config": model_config, "config": dict(config or {})}, indent=2
            )
            + "\n",
        )
        log = MetricsLog(output_dir, tensorboard=tensorboard)
        if result.history:
            log.write(result.history)
    val_loader = None
    if val_dataset is not None:
        val_sampler = (
            DistributedSampler(val_dataset, shuffle=False)
            if is_distributed()
            else SequentialSampler(val_dataset)
        )
        val_loader = DataLoader(
            val_dataset,
            batch_size=val_batch_size or batch_size,
            sampler=val_sampler,
            num_workers=num_workers,
            collate_fn=collate,
        )

    try:
        for epoch in range(start_epoch, epochs):
            t0 = time.perf_counter()
            sampler = InfiniteSampler(
                len(train_dataset),  # type: ignore[arg-type]
                shuffle=shuffle,
                seed=seed,
                rank=info.rank,
                world_size=info.world_size,
                start=epoch * iters_per_epoch * batch_size,
            )
            loader = DataLoader(
                train_dataset,
                batch_size=batch_size,
                sampler=sampler,
                num_workers=num_workers,
                collate_fn=collate,
                pin_memory=device.type == "cuda",
            )
            train_stats = train_one_epoch(
                train_model,
                opt,
                loader,
                device,
                epoch,
                scaler=scaler,
                amp=amp_dtype or False,
                warmup_iters=warmup_iters,
                warmup_factor=warmup_factor,
                max_grad_norm=max_grad_norm,
                print_freq=print_freq,
                progress=progress,
                num_iters=iters_per_epoch,
            )
            del loader
            broadcast_buffers(model)
            scheduler.step()
            record: dict[str, Any] = {"epoch": epoch, "lr": train_stats.pop("lr")}
            record["train_time_s"] = train_stats.pop("time_s")
            record["train"] = train_stats
            if val_loader is not None and ((epoch + 1) % eval_every == 0 or epoch == epochs - 1):
                metrics = evaluate(model, val_loader, device, amp=amp_dtype or False, progress=progress)
                record["eval_time_s"] = metrics.pop("time_s")
                record.update(metrics)
            record["epoch_time_s"] = time.perf_counter() - t0
            result.history.append(record)
            flat = flatten_metrics(record)
            is_best = False
            if best_metric in flat and isinstance(flat[best_metric], (int, float)):
                value = float(flat[best_metric])
                if result.best_metric is None or value > result.best_metric:
                    result.best_metric, result.best_epoch, is_best = value, epoch, True
            rng_states = all_gather_objects(get_rng_state())
            if is_main_process():
                ckpt = {
                    "format": CHECKPOINT_FORMAT,
                    "library_version": __version__,
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "lr_scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict() if scaler is not None else None,
                    "rng": rng_states,
                    "model_config": model_config,
                    "recipe": recipe,
                    "config": dict(config or {}),
                    "history": result.history,
                    "best_epoch": result.best_epoch,
                    "best_metric": result.best_metric,
                }
                atomic_torch_save(ckpt, output_dir / LAST_CHECKPOINT)
                if is_best:
                    atomic_torch_save(ckpt, output_dir / BEST_CHECKPOINT)
                if log is not None:
                    log.write(result.history)
                logger.info(
                    "epoch %d done in %.1fs: loss %.4f%s",
                    epoch,
                    record["epoch_time_s"],
                    train_stats["loss"],
                    f", {best_metric} {flat[best_metric]:.4f}" if best_metric in flat else "",
                )
            barrier()
            if on_epoch_end is not None:
                on_epoch_end(record)
    finally:
        if log is not None:
            log.close()

    result.last_checkpoint = output_dir / LAST_CHECKPOINT
    if (output_dir / BEST_CHECKPOINT).is_file():
        result.best_checkpoint = output_dir / BEST_CHECKPOINT
    if save_pretrained and is_main_process():
        source = result.best_checkpoint or result.last_checkpoint
        final_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        best = load_checkpoint(source)
        model.load_state_dict(best["model"])
        best_record = next((r for r in best["history"] if r["epoch"] == best["epoch"] - 1), {})
        metrics = {
            f"{t}_{k}": float(v)
            for t in ("bbox", "segm")
            for k, v in best_record.get(t, {}).items()
            if k in ("AP", "AP50", "AP75")
        }
        result.pretrained_dir = export_pretrained(
            model, output_dir / "pretrained", metrics=metrics or None, recipe=recipe
        )
        model.load_state_dict(final_state)
    elif save_pretrained:
        result.pretrained_dir = output_dir / "pretrained"
    barrier()
    return result
