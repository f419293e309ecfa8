"""The training loop: :func:`fit`.

Its hyper-parameters come from a :class:`~maskrcnn_custom.TrainingRecipe` (by default the ``"seed"`` preset,
see :mod:`maskrcnn_custom.recipe`); keyword arguments given explicitly override the recipe's fields. The steps,
in order: check the arguments, prepare the run (devices, the effective recipe), build the optimiser and
schedule, resume or seed, open the output folder, then per epoch train, evaluate, log and checkpoint, and
finally export the best model as a ``save_pretrained`` folder.

Outputs and crash safety: a folder that holds a previous run is never replaced silently (``resume=True``
continues it, ``overwrite=True`` removes the previous run's files first); every file is written atomically,
and temporary files left by a killed run are removed when the next run in that folder starts.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
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

from .._utils.atomic import atomic_write_text, remove_stale_temporaries
from .._utils.checks import check_int, check_non_negative_int, check_positive_int
from .._utils.sentinel import Sentinel
from .._version import __version__
from ..data.collate import collate_fn as default_collate_fn
from ..data.validate import model_num_classes, validate_dataset
from ..recipe import TrainingRecipe, get_recipe
from .amp import AmpLike, make_grad_scaler, resolve_amp_dtype
from .checkpoint import (
    CHECKPOINT_FORMAT,
    RESUME_FIXED_FIELDS,
    atomic_torch_save,
    checkpoint_recipe,
    get_rng_state,
    load_checkpoint,
    set_rng_state,
)
from .distributed import (
    DistributedInfo,
    all_gather_objects,
    barrier,
    broadcast_buffers,
    init_distributed,
    is_distributed,
    is_main_process,
)
from .evaluate import evaluate
from .metrics_log import MetricsLog, flatten_metrics
from .optim import make_lr_scheduler, make_optimizer
from .pretrained import export_pretrained
from .sampling import InfiniteSampler
from .train import train_one_epoch

__all__ = ["RUN_FILES", "FitResult", "check_run_folder", "fit", "seed_everything"]

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "checkpoint_last.pt"
BEST_CHECKPOINT = "checkpoint_best.pt"
RUN_CONFIG = "run_config.json"
PRETRAINED_DIR = "pretrained"
#: The files and folders a run writes into ``output_dir``: any of them marks the folder as holding a run.
RUN_FILES: tuple[str, ...] = (
    LAST_CHECKPOINT,
    BEST_CHECKPOINT,
    "metrics.csv",
    "metrics.jsonl",
    RUN_CONFIG,
    PRETRAINED_DIR,
    "tensorboard",
)
_RUN_SWITCHES = "resume=True to continue it or overwrite=True to start over (CLI: --resume, --overwrite)"


#: "Not given": the default of keywords whose value, when given (even equal to a default), is applied.
_UNSET: Any = Sentinel("<from the recipe>")


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
        recipe: The effective :class:`~maskrcnn_custom.TrainingRecipe` (the preset with the explicit keyword
            arguments applied and ``iters_per_epoch`` resolved), as recorded in the checkpoints.
    """

    output_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    last_checkpoint: Path | None = None
    best_checkpoint: Path | None = None
    pretrained_dir: Path | None = None
    recipe: TrainingRecipe | None = None


@dataclass
class _Run:
    """Everything an epoch needs that does not change during the run."""

    output_dir: Path
    recipe: TrainingRecipe
    settings: dict[str, Any]  # the run's other recorded settings: world size, AMP dtype, seed...
    info: DistributedInfo
    amp_dtype: torch.dtype | None
    model_config: dict[str, Any] | None
    config: dict[str, Any]


@dataclass
class _Training:
    """The model (and its DDP wrapper), optimiser, schedule and gradient scaler."""

    model: nn.Module
    train_model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None


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


def _previous_run(output_dir: Path) -> list[str]:
    """The names of :data:`RUN_FILES` present in ``output_dir`` (none for a missing or unrelated folder)."""
    return [name for name in RUN_FILES if os.path.lexists(output_dir / name)]


def check_run_folder(
    output_dir: str | os.PathLike[str],
    *,
    resume: bool | str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Path | None:
    """Check, as :func:`fit` does first, that a run may write into ``output_dir``; return the checkpoint to resume.

    A folder holding a previous run (any of :data:`RUN_FILES`) is refused unless ``resume`` continues it
    (``True``, or a checkpoint inside it) or ``overwrite=True``; a missing, empty or unrelated folder is fine.
    Nothing is written.

    Args:
        output_dir: The run folder.
        resume: As in :func:`fit`.
        overwrite: As in :func:`fit`.

    Returns:
        The checkpoint :func:`fit` would resume from, or ``None``.

    Raises:
        TypeError: If ``overwrite`` is not a bool.
        ValueError: For ``resume=True`` together with ``overwrite=True``.
        FileNotFoundError: If ``resume`` names a missing checkpoint.
        FileExistsError: If ``output_dir`` holds a previous run that the call would replace.

    Examples:
        >>> import tempfile
        >>> from maskrcnn_custom.engine.fit import check_run_folder
        >>> check_run_folder(tempfile.mkdtemp()) is None  # an empty folder: a fresh run
        True
    """
    output_dir = Path(output_dir)
    resume_path = _find_resume(resume, output_dir)
    _check_output_dir(output_dir, resume, resume_path, overwrite)
    return resume_path


def _check_output_dir(
    output_dir: Path, resume: bool | str | os.PathLike[str] | None, resume_path: Path | None, overwrite: bool
) -> None:
    """The checks of :func:`check_run_folder`."""
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    if output_dir.exists() and not output_dir.is_dir():
        raise FileExistsError(f"output_dir {str(output_dir)!r} is a file; pass a folder for the run")
    if resume is True and overwrite:
        raise ValueError(
            "resume=True continues the run in output_dir and overwrite=True starts it over: pass only one"
        )
    found = _previous_run(output_dir)
    if not found or overwrite:
        return
    if resume_path is not None and resume_path.parent.resolve() == output_dir.resolve():
        return  # continuing this folder's own run
    if resume is True:  # nothing to resume: start in place, unless trained outputs would be replaced
        trained = [name for name in (BEST_CHECKPOINT, PRETRAINED_DIR) if name in found]
        if not trained:
            return
        raise FileExistsError(
            f"output_dir {str(output_dir)!r} holds a previous run's {', '.join(trained)} but no "
            f"{LAST_CHECKPOINT} to resume; pass overwrite=True (CLI: --overwrite) to start over and replace "
            "it, or choose another output_dir"
        )
    raise FileExistsError(
        f"output_dir {str(output_dir)!r} holds a previous run ({', '.join(found)}); pass {_RUN_SWITCHES} "
        "and replace it, or choose another output_dir"
    )


def _validate_datasets(model: nn.Module, train_dataset: Dataset, val_dataset: Dataset | None) -> None:
    """:func:`~maskrcnn_custom.data.validate_dataset` on the first 8 samples of each set, naming the set."""
    num_classes = model_num_classes(model)
    for name, dataset in (("train_dataset", train_dataset), ("val_dataset", val_dataset)):
        if dataset is None:
            continue
        try:
            validate_dataset(dataset, num_classes=num_classes, max_samples=8)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{name}: {exc}") from exc


def _clear_previous_run(output_dir: Path) -> None:
    """``overwrite=True``: remove the previous run's :data:`RUN_FILES` (other files in the folder stay)."""
    for name in _previous_run(output_dir):
        path = output_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    logger.info("overwrite=True: removed the previous run in %s", output_dir)


def _remove_temporaries(output_dir: Path) -> None:
    """Remove the temporary files of writes a killed run left in the run folder and its ``pretrained/``."""
    removed = [
        *remove_stale_temporaries(output_dir, legacy_targets=RUN_FILES),
        *remove_stale_temporaries(output_dir / PRETRAINED_DIR),
    ]
    if removed:
        logger.warning(
            "removed %d temporary file(s) left by an interrupted write in %s: %s",
            len(removed),
            output_dir,
            ", ".join(p.name for p in removed),
        )


def _model_config_dict(model: nn.Module) -> dict[str, Any] | None:
    config = getattr(model, "config", None)
    return config.to_dict() if config is not None and hasattr(config, "to_dict") else None


def _resolve_recipe(recipe: TrainingRecipe | str | None, overrides: Mapping[str, Any]) -> TrainingRecipe:
    """The preset (``None``: ``"seed"``) with the explicitly given keyword arguments applied."""
    if recipe is None:
        base = get_recipe("seed")
    elif isinstance(recipe, str):
        base = get_recipe(recipe)
    elif isinstance(recipe, TrainingRecipe):
        base = recipe
    else:
        raise TypeError(
            f"recipe must be a TrainingRecipe, a preset name (see list_recipes()) or None, "
            f"got {type(recipe).__name__}"
        )
    overrides = dict(overrides)
    if isinstance(overrides.get("amp"), torch.dtype):
        overrides["amp"] = str(overrides["amp"]).replace("torch.", "")
    return base.replace(**overrides)


def _validate_arguments(
    train_dataset: Dataset,
    val_dataset: Dataset | None,
    *,
    val_batch_size: int | None,
    eval_every: int,
    num_workers: int,
    config: Mapping[str, Any] | None,
) -> None:
    """Check the arguments that are not recipe fields (the recipe checked its own)."""
    check_int(val_batch_size, "val_batch_size", minimum=1, allow_none=True, hint="None uses batch_size")
    check_positive_int(eval_every, "eval_every")
    check_non_negative_int(num_workers, "num_workers", hint="0 loads the data in the main process")
    if not hasattr(train_dataset, "__len__") or len(train_dataset) == 0:  # type: ignore[arg-type]
        raise ValueError("train_dataset must be a non-empty map-style dataset (with __len__ and __getitem__)")
    if val_dataset is not None and (not hasattr(val_dataset, "__len__") or len(val_dataset) == 0):  # type: ignore[arg-type]
        raise ValueError("val_dataset must be a non-empty map-style dataset, or None to skip evaluation")
    if config is not None:
        json.dumps(dict(config))  # must be JSON-serialisable; raises TypeError naming the bad value


def _prepare_run(
    model: nn.Module,
    train_size: int,
    recipe: TrainingRecipe,
    *,
    output_dir: Path,
    device: str | torch.device | None,
    shuffle: bool,
    seed: int,
    best_metric: str,
    config: Mapping[str, Any] | None,
) -> _Run:
    """Start the process group, resolve the AMP dtype and ``iters_per_epoch`` (the effective recipe)."""
    info = init_distributed(device)
    amp_dtype = resolve_amp_dtype(recipe.amp, info.device)
    if recipe.iters_per_epoch is None:
        recipe = recipe.replace(iters_per_epoch=max(1, train_size // (recipe.batch_size * info.world_size)))
    settings = {
        "world_size": info.world_size,
        "amp_dtype": None if amp_dtype is None else str(amp_dtype).replace("torch.", ""),
        "shuffle": shuffle,
        "seed": seed,
        "best_metric": best_metric,
    }
    return _Run(
        output_dir=output_dir,
        recipe=recipe,
        settings=settings,
        info=info,
        amp_dtype=amp_dtype,
        model_config=_model_config_dict(model),
        config=dict(config or {}),
    )


def _build_training(model: nn.Module, run: _Run) -> _Training:
    """Move the model to the device, wrap it for DDP, build the optimiser, StepLR and gradient scaler."""
    device, recipe = run.info.device, run.recipe
    model.to(device)
    train_model: nn.Module = model
    if is_distributed():
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (all requires_grad=False)")
    optimizer = make_optimizer(
        recipe.optimizer, params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )
    scheduler = make_lr_scheduler(optimizer, recipe)
    return _Training(model, train_model, optimizer, scheduler, make_grad_scaler(device, run.amp_dtype))


def _check_resumable(ckpt: Mapping[str, Any], path: Path, run: _Run) -> None:
    """Refuse a checkpoint whose model config or optimiser/schedule fields differ from this run's."""
    if run.model_config is not None and ckpt.get("model_config") not in (None, run.model_config):
        raise ValueError(
            f"checkpoint {str(path)!r} was trained with a different model config; build the model "
            "from the checkpoint's 'model_config' (MaskRCNNConfig.from_dict) or start a new output_dir"
        )
    try:
        saved, saved_settings = checkpoint_recipe(ckpt)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint {str(path)!r} holds an invalid training recipe: {exc}") from None
    for name in RESUME_FIXED_FIELDS:
        old, new = getattr(saved, name), getattr(run.recipe, name)
        if old != new:
            raise ValueError(
                f"checkpoint {str(path)!r} was trained with {name}={old!r}, this call asks for {name}={new!r}; "
                f"the checkpoint's optimiser and schedule states would override it: pass {name}={old!r} to "
                "resume it or start a new output_dir"
            )
    changed = {
        k: (v, new)
        for k, v in {**saved.to_dict(), **saved_settings}.items()
        if v != (new := {**run.recipe.to_dict(), **run.settings}.get(k, v))
    }
    if changed:
        logger.warning("resuming with a changed recipe (checkpoint value, new value): %s", changed)


def _resume_or_seed(training: _Training, run: _Run, resume_path: Path | None, result: FitResult) -> int:
    """Restore the state of ``resume_path`` into ``training`` and ``result``, or seed; return the start epoch."""
    info, seed = run.info, run.settings["seed"]
    if resume_path is None:
        seed_everything(seed + info.rank)
        return 0
    ckpt = load_checkpoint(resume_path)
    _check_resumable(ckpt, resume_path, run)
    training.model.load_state_dict(ckpt["model"])
    training.optimizer.load_state_dict(ckpt["optimizer"])
    training.scheduler.load_state_dict(ckpt["lr_scheduler"])
    if training.scaler is not None and ckpt.get("scaler"):
        training.scaler.load_state_dict(ckpt["scaler"])
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
    return start_epoch


def _open_output(
    run: _Run, history: list[dict[str, Any]], tensorboard: bool | None, *, overwrite: bool
) -> MetricsLog | None:
    """On the main process: prepare the folder, write ``run_config.json`` and open the metrics log.

    With ``overwrite`` the previous run's files are removed first; stale temporary files always are.
    """
    if not is_main_process():
        return None
    if overwrite:
        _clear_previous_run(run.output_dir)
    _remove_temporaries(run.output_dir)
    run.output_dir.mkdir(parents=True, exist_ok=True)
    run_config = {
        "recipe": run.recipe.to_dict(),
        "run": run.settings,
        "model_config": run.model_config,
        "config": run.config,
    }
    atomic_write_text(run.output_dir / RUN_CONFIG, json.dumps(run_config, indent=2) + "\n")
    log = MetricsLog(run.output_dir, tensorboard=tensorboard)
    if history:
        log.write(history)
    return log


def _val_loader(
    val_dataset: Dataset | None, *, batch_size: int, num_workers: int, collate: Callable[[list[Any]], Any]
) -> DataLoader | None:
    if val_dataset is None:
        return None
    sampler = (
        DistributedSampler(val_dataset, shuffle=False) if is_distributed() else SequentialSampler(val_dataset)
    )
    return DataLoader(
        val_dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, collate_fn=collate
    )


def _train_loader(
    train_dataset: Dataset, run: _Run, epoch: int, *, num_workers: int, collate: Callable[[list[Any]], Any]
) -> DataLoader:
    """This epoch's slice of the endless, seeded training stream."""
    recipe, info = run.recipe, run.info
    sampler = InfiniteSampler(
        len(train_dataset),  # type: ignore[arg-type]
        shuffle=run.settings["shuffle"],
        seed=run.settings["seed"],
        rank=info.rank,
        world_size=info.world_size,
        start=epoch * int(recipe.iters_per_epoch or 1) * recipe.batch_size,
    )
    return DataLoader(
        train_dataset,
        batch_size=recipe.batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=info.device.type == "cuda",
    )


def _train_epoch(
    training: _Training, run: _Run, loader: DataLoader, epoch: int, **opts: Any
) -> dict[str, Any]:
    """One epoch of training and the StepLR step; returns the epoch's record (without evaluation)."""
    recipe = run.recipe
    stats = train_one_epoch(
        training.train_model,
        training.optimizer,
        loader,
        run.info.device,
        epoch,
        scaler=training.scaler,
        amp=run.amp_dtype or False,
        warmup_iters=recipe.warmup_iters,
        warmup_factor=recipe.warmup_factor,
        max_grad_norm=recipe.max_grad_norm,
        num_iters=recipe.iters_per_epoch,
        **opts,
    )
    broadcast_buffers(training.model)
    training.scheduler.step()
    return {"epoch": epoch, "lr": stats.pop("lr"), "train_time_s": stats.pop("time_s"), "train": stats}


def _evaluate_epoch(model: nn.Module, val_loader: DataLoader, run: _Run, *, progress: bool) -> dict[str, Any]:
    """COCO metrics of this epoch's model, with ``eval_time_s``."""
    metrics = evaluate(model, val_loader, run.info.device, amp=run.amp_dtype or False, progress=progress)
    return {"eval_time_s": metrics.pop("time_s"), **metrics}


def _update_best(result: FitResult, record: Mapping[str, Any], best_metric: str) -> bool:
    """Record ``record``'s ``best_metric`` in ``result`` if it is the best so far; return whether it is."""
    flat = flatten_metrics(dict(record))
    value = flat.get(best_metric)
    if not isinstance(value, (int, float)) or (
        result.best_metric is not None and value <= result.best_metric
    ):
        return False
    result.best_metric, result.best_epoch = float(value), int(record["epoch"])
    return True


def _save_checkpoints(
    training: _Training, run: _Run, result: FitResult, epoch: int, *, is_best: bool
) -> None:
    """Gather every process's RNG state; the main process writes ``checkpoint_last.pt`` (and ``_best``)."""
    rng_states = all_gather_objects(get_rng_state())
    if not is_main_process():
        return
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "library_version": __version__,
        "epoch": epoch + 1,
        "model": training.model.state_dict(),
        "optimizer": training.optimizer.state_dict(),
        "lr_scheduler": training.scheduler.state_dict(),
        "scaler": training.scaler.state_dict() if training.scaler is not None else None,
        "rng": rng_states,
        "model_config": run.model_config,
        "recipe": run.recipe.to_dict(),
        "run": run.settings,
        "config": run.config,
        "history": result.history,
        "best_epoch": result.best_epoch,
        "best_metric": result.best_metric,
    }
    atomic_torch_save(ckpt, run.output_dir / LAST_CHECKPOINT)
    if is_best:
        atomic_torch_save(ckpt, run.output_dir / BEST_CHECKPOINT)


def _log_epoch(record: Mapping[str, Any], best_metric: str) -> None:
    flat = flatten_metrics(dict(record))
    logger.info(
        "epoch %d done in %.1fs: loss %.4f%s",
        record["epoch"],
        record["epoch_time_s"],
        record["train"]["loss"],
        f", {best_metric} {flat[best_metric]:.4f}" if best_metric in flat else "",
    )


def _export_best(model: nn.Module, run: _Run, result: FitResult) -> Path:
    """Write the best checkpoint's model (the last without validation) to ``output_dir/pretrained``.

    The model object keeps its final weights afterwards.
    """
    source = result.best_checkpoint or result.last_checkpoint
    final_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    best = load_checkpoint(source)  # type: ignore[arg-type]
    model.load_state_dict(best["model"])
    best_record = next((r for r in best["history"] if r["epoch"] == best["epoch"] - 1), {})
    metrics = {
        f"{t}_{k}": float(v)
        for t in ("bbox", "segm")
        for k, v in best_record.get(t, {}).items()
        if k in ("AP", "AP50", "AP75")
    }
    path = export_pretrained(
        model,
        run.output_dir / PRETRAINED_DIR,
        metrics=metrics or None,
        recipe={**run.recipe.to_dict(), **run.settings},
    )
    model.load_state_dict(final_state)
    return path


def fit(
    model: nn.Module,
    train_dataset: Dataset,
    val_dataset: Dataset | None = None,
    *,
    output_dir: str | os.PathLike[str],
    recipe: TrainingRecipe | str | None = None,
    epochs: int = _UNSET,
    iters_per_epoch: int | None = _UNSET,
    batch_size: int = _UNSET,
    lr: float = _UNSET,
    optimizer: str = _UNSET,
    momentum: float = _UNSET,
    weight_decay: float = _UNSET,
    lr_step_size: int = _UNSET,
    lr_gamma: float = _UNSET,
    lr_schedule: str = _UNSET,
    warmup_iters: int | None = _UNSET,
    warmup_factor: float = _UNSET,
    max_grad_norm: float | None = _UNSET,
    amp: AmpLike = _UNSET,
    val_batch_size: int | None = None,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    shuffle: bool = True,
    seed: int = 0,
    resume: bool | str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    eval_every: int = 1,
    best_metric: str = "segm/AP",
    print_freq: int = 20,
    progress: bool = True,
    tensorboard: bool | None = None,
    save_pretrained: bool = True,
    config: Mapping[str, Any] | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    cpu_speedups: bool | None = None,
) -> FitResult:
    """Train ``model`` with a training recipe, evaluating, logging and checkpointing every epoch.

    The hyper-parameters come from ``recipe`` (default: the ``"seed"`` preset, see
    :func:`maskrcnn_custom.get_recipe`); each recipe keyword below that is given overrides that field, even
    when its value equals the preset's. The result is the *effective recipe*, recorded in the checkpoints,
    ``run_config.json``, the model card and :attr:`FitResult.recipe`.

    Each epoch runs ``iters_per_epoch`` iterations of :func:`train_one_epoch` over an endless, seeded
    stream of the training set (the loader is cycled; pass ``p`` over the data is a permutation seeded with
    ``seed + p``), steps the StepLR schedule, evaluates on ``val_dataset`` (:func:`evaluate`), appends a
    record to ``metrics.csv`` / ``metrics.jsonl`` (and TensorBoard when installed), and writes
    ``checkpoint_last.pt`` atomically (model, optimiser, scheduler, scaler, epoch, history, the RNG
    states of Python/NumPy/torch of every process, the model config and the recipe); the best epoch by
    ``best_metric`` is also kept as ``checkpoint_best.pt``. At the end the best model (the last one
    without validation) is written as a ``save_pretrained`` folder ``output_dir/pretrained``.

    Before anything is built or written, the first 8 samples of ``train_dataset`` (and ``val_dataset``) are
    checked with :func:`maskrcnn_custom.data.validate_dataset` (with the model's number of classes), and
    ``output_dir`` is checked: a folder holding a previous run (``checkpoint_last.pt``, ``metrics.*``,
    ``run_config.json``, ``pretrained/``...) is refused unless ``resume`` continues it or ``overwrite=True``
    starts over; an empty folder or one holding other files is fine. At the start (and on resume) the
    temporary files that a killed write left in ``output_dir`` are removed (only files named like the
    library's own temporaries, ``.<name>.<random>.maskrcnn.tmp``). A full disk raises an ``OSError`` naming the
    file and saying that the previous checkpoint is intact.

    A run resumed from ``checkpoint_last.pt`` continues with identical state: same data order, same
    random numbers, same optimiser/scheduler/scaler state, so on CPU with deterministic data a resumed run
    is bit-identical to an uninterrupted one. Resuming with another ``optimizer``, ``lr``, ``momentum``,
    ``weight_decay``, ``lr_step_size``, ``lr_gamma`` or ``lr_schedule`` is refused (the restored optimiser and schedule states
    would silently override them); other changed fields, e.g. more ``epochs``, are logged as a warning.

    Under ``torchrun --nproc_per_node=N`` the same call trains with DistributedDataParallel (gloo on CPU,
    nccl on CUDA), each process gets its share of the stream (``batch_size`` is per process), validation
    uses a ``DistributedSampler``, losses and metrics are reduced across processes, and only rank 0 writes
    files.

    Args:
        model: A torchvision-style Mask R-CNN, e.g. from :func:`maskrcnn_custom.maskrcnn_resnet101_fpn`.
        train_dataset: Map-style dataset of ``(image, target)`` pairs.
        val_dataset: Validation dataset (targets need a unique ``image_id``); ``None`` skips evaluation.
        output_dir: Folder for checkpoints, logs and the final ``pretrained`` folder.
        recipe: A :class:`~maskrcnn_custom.TrainingRecipe`, a preset name (:func:`~maskrcnn_custom.list_recipes`)
            or ``None`` for ``"seed"``.
        epochs: Overrides the recipe's number of epochs (seed: 30).
        iters_per_epoch: Overrides the iterations per epoch (seed: 300); ``None`` = one pass over the data.
        batch_size: Overrides the images per iteration and process (seed: 2).
        lr: Overrides the peak learning rate (seed: 0.003, for SGD with an ImageNet backbone).
        optimizer: Overrides the optimiser, ``"sgd"`` (the seed's) or ``"adamw"`` (suits short runs from a
            random backbone with a smaller ``lr``, 1e-4 to 1e-3; see docs/training.md).
        momentum: Overrides the SGD momentum (seed: 0.9).
        weight_decay: Overrides the weight decay (seed: 1e-4).
        lr_step_size: Overrides the StepLR step in epochs (seed: 6, the
            :data:`~maskrcnn_custom.recipe.SEED_LR_STEP_SIZE`).
        lr_gamma: Overrides the StepLR factor (seed: 0.5).
        lr_schedule: Overrides the schedule: ``"step"`` (StepLR, the seed's) or ``"cosine"`` (half a cosine
            over the epochs, stepped per epoch).
        warmup_iters: Overrides the linear warm-up iterations in epoch 0 (seed: ``None``,
            ``min(1000, iters_per_epoch - 1)``, torchvision's rule; 0 disables).
        warmup_factor: Overrides the learning-rate multiplier at the first warm-up iteration (seed: 0.001).
        max_grad_norm: Overrides gradient clipping by total norm (seed: ``None``, off).
        amp: Overrides mixed precision: ``False`` (seed), ``True`` (float16 + GradScaler on CUDA, bfloat16 on
            CPU), ``"float16"``, ``"bfloat16"``.
        val_batch_size: Validation batch size (default: the recipe's ``batch_size``).
        device: ``"cuda"``, ``"cpu"`` or ``None`` (CUDA when available).
        num_workers: DataLoader worker processes.
        collate_fn: Batch collation (default :func:`maskrcnn_custom.data.collate_fn`).
        shuffle: Shuffle the training stream.
        seed: Seed of the global generators (offset by the rank) and of the data order.
        resume: ``True`` to continue ``output_dir/checkpoint_last.pt`` if it exists, a checkpoint path or
            run folder, or ``None``/``False`` to start fresh. ``True`` with no ``checkpoint_last.pt`` yet
            starts fresh (refused if the folder holds a ``checkpoint_best.pt`` or ``pretrained/``).
        overwrite: Start over in an ``output_dir`` holding a previous run: its run files
            (:data:`RUN_FILES`: checkpoints, metrics, ``run_config.json``, ``pretrained/``, ``tensorboard/``) are
            removed once every check has passed, just before the new run writes its first file; other files
            in the folder are kept. Cannot be combined with ``resume=True``.
        eval_every: Evaluate every this many epochs (and always after the last).
        best_metric: Flattened metric name that selects the best checkpoint, e.g. ``"segm/AP"``.
        print_freq: Log a training line every this many iterations.
        progress: Show progress bars.
        tensorboard: Write TensorBoard scalars (``None``: when installed).
        save_pretrained: Write ``output_dir/pretrained`` at the end.
        config: Extra JSON-serialisable settings to record in the checkpoints (e.g. the dataset's).
        on_epoch_end: Called on every process with each epoch's record, after its checkpoint is written.
        cpu_speedups: The CPU speed-ups of :func:`train_one_epoch` (``None``: on for CPU training without DDP;
            the same math, float additions in another order; ``False``: torchvision's kernels).

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError: On invalid arguments, a wrong sample among the first 8 of a dataset (the message names
            the dataset, the sample and the field) or a checkpoint that cannot be resumed (before any
            training and before any file is written).
        TypeError: If ``recipe`` is neither a recipe, a preset name nor ``None``.
        FileNotFoundError: If ``resume`` names a missing checkpoint.
        FileExistsError: If ``output_dir`` holds a previous run and neither ``resume`` nor ``overwrite``
            is given (before any training and before any file is written).
        OSError: If a checkpoint cannot be written (a full disk); the previous one is intact.
        FloatingPointError: If a loss becomes NaN/inf (the message names it).

    Examples:
        >>> from maskrcnn_custom import fit, maskrcnn_resnet101_fpn
        >>> model = maskrcnn_resnet101_fpn(num_classes=2)  # doctest: +SKIP
        >>> result = fit(model, train_set, val_set, output_dir="runs/rods")  # doctest: +SKIP
        >>> result = fit(model, train_set, recipe="demo", epochs=5, output_dir="runs/short")  # doctest: +SKIP
        >>> result = fit(model, train_set, output_dir="runs/rods", resume=True)  # doctest: +SKIP
        >>> result.recipe.optimizer, result.recipe.epochs  # doctest: +SKIP
        ('adamw', 5)
    """
    given = {
        "epochs": epochs,
        "iters_per_epoch": iters_per_epoch,
        "batch_size": batch_size,
        "lr": lr,
        "optimizer": optimizer,
        "momentum": momentum,
        "weight_decay": weight_decay,
        "lr_step_size": lr_step_size,
        "lr_gamma": lr_gamma,
        "lr_schedule": lr_schedule,
        "warmup_iters": warmup_iters,
        "warmup_factor": warmup_factor,
        "max_grad_norm": max_grad_norm,
        "amp": amp,
    }
    effective = _resolve_recipe(recipe, {k: v for k, v in given.items() if v is not _UNSET})
    _validate_arguments(
        train_dataset,
        val_dataset,
        val_batch_size=val_batch_size,
        eval_every=eval_every,
        num_workers=num_workers,
        config=config,
    )
    output_dir = Path(output_dir)
    resume_path = check_run_folder(output_dir, resume=resume, overwrite=overwrite)
    _validate_datasets(model, train_dataset, val_dataset)
    run = _prepare_run(
        model,
        len(train_dataset),  # type: ignore[arg-type]
        effective,
        output_dir=output_dir,
        device=device,
        shuffle=shuffle,
        seed=seed,
        best_metric=best_metric,
        config=config,
    )
    training = _build_training(model, run)
    result = FitResult(output_dir=output_dir, recipe=run.recipe)
    start_epoch = _resume_or_seed(training, run, resume_path, result)
    log = _open_output(run, result.history, tensorboard, overwrite=overwrite)
    collate = collate_fn or default_collate_fn
    val_loader = _val_loader(
        val_dataset,
        batch_size=val_batch_size or run.recipe.batch_size,
        num_workers=num_workers,
        collate=collate,
    )
    try:
        for epoch in range(start_epoch, run.recipe.epochs):
            t0 = time.perf_counter()
            loader = _train_loader(train_dataset, run, epoch, num_workers=num_workers, collate=collate)
            record = _train_epoch(
                training,
                run,
                loader,
                epoch,
                print_freq=print_freq,
                progress=progress,
                cpu_speedups=cpu_speedups,
            )
            del loader
            if val_loader is not None and ((epoch + 1) % eval_every == 0 or epoch == run.recipe.epochs - 1):
                record.update(_evaluate_epoch(model, val_loader, run, progress=progress))
            record["epoch_time_s"] = time.perf_counter() - t0
            result.history.append(record)
            is_best = _update_best(result, record, best_metric)
            _save_checkpoints(training, run, result, epoch, is_best=is_best)
            if log is not None:
                log.write(result.history)
                _log_epoch(record, best_metric)
            barrier()
            if on_epoch_end is not None:
                on_epoch_end(record)
    finally:
        if log is not None:
            log.close()

    result.last_checkpoint = output_dir / LAST_CHECKPOINT
    if (output_dir / BEST_CHECKPOINT).is_file():
        result.best_checkpoint = output_dir / BEST_CHECKPOINT
    if save_pretrained:
        result.pretrained_dir = (
            _export_best(model, run, result) if is_main_process() else output_dir / "pretrained"
        )
    barrier()
    return result
