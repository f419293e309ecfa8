"""Optimisers :func:`~maskrcnn_custom.fit` can build: the seed's SGD and AdamW."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..recipe import OPTIMIZERS, get_recipe

__all__ = ["OPTIMIZERS", "check_optimizer_name", "make_optimizer"]

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
