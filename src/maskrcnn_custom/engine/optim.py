"""Optimisers and learning-rate schedules :func:`~maskrcnn_custom.fit` can build: SGD or AdamW, StepLR or cosine."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from ..recipe import OPTIMIZERS, TrainingRecipe, get_recipe

__all__ = ["OPTIMIZERS", "CosineFactor", "check_optimizer_name", "make_lr_scheduler", "make_optimizer"]

_SEED = get_recipe("seed")


def check_optimizer_name(name: object) -> str:
    """Return ``name`` if it is one of :data:`OPTIMIZERS`, else raise a ``ValueError`` naming ``optimizer``.

    Examples:
        >>> from maskrcnn_custom.engine.optim import check_optimizer_name
        >>> check_optimizer_name("adamw")
        'adamw'
    """
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}, got {name!r}")
    return name


def make_optimizer(
    name: str,
    params: Iterable[torch.nn.Parameter],
    *,
    lr: float,
    momentum: float = _SEED.momentum,
    weight_decay: float = _SEED.weight_decay,
) -> torch.optim.Optimizer:
    """Build the optimiser ``name`` over ``params``.

    Args:
        name: ``"sgd"`` (momentum ``momentum``, L2 ``weight_decay``: the seed's) or ``"adamw"``
            (decoupled ``weight_decay``; ``momentum`` is not used).
        params: Parameters to optimise.
        lr: Learning rate.
        momentum: SGD momentum (default: the ``"seed"`` recipe's, 0.9).
        weight_decay: Weight decay (default: the ``"seed"`` recipe's, 1e-4).

    Returns:
        A ``torch.optim.SGD`` or ``torch.optim.AdamW``.

    Raises:
        ValueError: If ``name`` is not one of :data:`OPTIMIZERS`.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.engine.optim import make_optimizer
        >>> type(make_optimizer("adamw", [torch.nn.Parameter(torch.zeros(1))], lr=1e-3)).__name__
        'AdamW'
    """
    if check_optimizer_name(name) == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


class CosineFactor:
    """Learning-rate multiplier of epoch ``e`` under ``lr_schedule="cosine"``: ``(1 + cos(pi * e / epochs)) / 2``.

    A small class rather than a lambda so that ``LambdaLR.state_dict()`` (and so a checkpoint) holds it as data.

    Examples:
        >>> from maskrcnn_custom.engine.optim import CosineFactor
        >>> [round(CosineFactor(4)(e), 3) for e in range(4)]
        [1.0, 0.854, 0.5, 0.146]
    """

    def __init__(self, epochs: int) -> None:
        self.epochs = int(epochs)

    def __call__(self, epoch: int) -> float:
        """The multiplier of epoch ``epoch`` (0-based; epochs past the end keep the last value)."""
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch, self.epochs) / self.epochs))


def make_lr_scheduler(
    optimizer: torch.optim.Optimizer, recipe: TrainingRecipe
) -> torch.optim.lr_scheduler.LRScheduler:
    """The epoch-level schedule of ``recipe``: ``StepLR(lr_step_size, lr_gamma)`` or the cosine of :class:`CosineFactor`.

    Args:
        optimizer: The optimiser whose rates the schedule sets.
        recipe: The training recipe (its ``lr_schedule``, ``epochs``, ``lr_step_size`` and ``lr_gamma``).

    Returns:
        A scheduler to step once per epoch.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import get_recipe
        >>> from maskrcnn_custom.engine.optim import make_lr_scheduler, make_optimizer
        >>> opt = make_optimizer("adamw", [torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        >>> type(make_lr_scheduler(opt, get_recipe("seed"))).__name__
        'StepLR'
    """
    if recipe.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, CosineFactor(recipe.epochs))
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=recipe.lr_step_size, gamma=recipe.lr_gamma)
