"""Training recipes: the one place where the training defaults live.

A :class:`TrainingRecipe` holds the hyper-parameters of a run (epochs, iterations, batch size, optimiser,
learning-rate schedule, warm-up, clipping, mixed precision). :func:`maskrcnn_custom.fit`, the
``maskrcnn-custom train`` command, the demo, the checkpoints and the model cards all read their defaults from
it. Named presets are listed by :func:`list_recipes` and returned by :func:`get_recipe`:

- ``"seed"``: the seed document's recipe, SGD with lr 0.003, momentum 0.9, weight decay 1e-4, StepLR halving
  the learning rate every ``SEED_LR_STEP_SIZE`` (6) epochs, 30 epochs of 300 iterations of 2 images. The
  seed's text says "every 6 epochs" while its code passes ``step_size=10``; the library follows the text.
- ``"demo"``: a short AdamW run, lr 5e-4 for 3 epochs of 80 iterations from a random backbone, the rate halved
  for the last epoch and gradients clipped at norm 10.
- ``"fast_cpu"``: the recipe of the ``fast_cpu`` training preset (:mod:`maskrcnn_custom.presets`, which adds the
  model and augmentation): AdamW at lr 1e-3 on batches of 4, 100 warm-up iterations, a cosine schedule over
  6 x 160 iterations, clipping at norm 10, bfloat16 autocast on a CPU with native bfloat16 (``amp="auto"``).

A new preset is one ``_register(name, TrainingRecipe(...), description)`` call in this module: ``list_recipes``,
``maskrcnn-custom train --recipe`` and its ``--help``, and the table of docs/training.md
(:func:`recipes_table_markdown`) pick it up. This module imports only the argument checkers of ``_utils``, so
every layer above it can use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._utils.checks import check_int, check_number, check_optional_positive_int, check_positive_int

__all__ = [
    "AMP_VALUES",
    "LR_SCHEDULES",
    "OPTIMIZERS",
    "SEED_LR_STEP_SIZE",
    "TrainingRecipe",
    "get_recipe",
    "list_recipes",
    "recipe_description",
    "recipes_table_markdown",
]

#: Names accepted by ``TrainingRecipe(optimizer=...)``, ``fit(optimizer=...)`` and ``train --optimizer``.
OPTIMIZERS: tuple[str, ...] = ("sgd", "adamw")

#: Names accepted by ``TrainingRecipe(lr_schedule=...)``: ``"step"`` (StepLR, the seed's) or ``"cosine"``
#: (the rate follows half a cosine from ``lr`` towards 0 over the epochs, stepped once per epoch).
LR_SCHEDULES: tuple[str, ...] = ("step", "cosine")

#: Values accepted by ``TrainingRecipe(amp=...)``: off, on (float16 on CUDA, bfloat16 elsewhere), ``"auto"``
#: (float16 on CUDA, bfloat16 on a CPU with native bfloat16, else off) or a dtype.
AMP_VALUES: tuple[bool | str, ...] = (False, True, "auto", "float16", "bfloat16")

#: The seed recipe's StepLR period in epochs: its text says 6 ("halved every 6 epochs"), its code used 10.
SEED_LR_STEP_SIZE = 6

_AMP_ALIASES = {"fp16": "float16", "bf16": "bfloat16", "off": False, "none": False, "fp32": False}


@dataclass(frozen=True)
class TrainingRecipe:
    """The hyper-parameters of a training run (frozen, hashable, JSON-friendly).

    Start from a preset (:func:`get_recipe`) and change fields with :meth:`replace`; every value is checked
    when the recipe is made, so a bad value fails before any training.

    Attributes:
        epochs: Number of epochs.
        iters_per_epoch: Iterations per epoch; ``None`` means one pass over the data per epoch.
        batch_size: Images per iteration and process.
        lr: Peak learning rate.
        optimizer: ``"sgd"`` (momentum ``momentum``, L2 ``weight_decay``) or ``"adamw"`` (decoupled
            ``weight_decay``; ``momentum`` is unused). AdamW suits short runs from a random backbone with a
            smaller ``lr`` (1e-4 to 1e-3).
        momentum: SGD momentum.
        weight_decay: Weight decay.
        lr_step_size: StepLR period in epochs (``lr_schedule="step"`` only).
        lr_gamma: StepLR factor (``lr_schedule="step"`` only).
        lr_schedule: ``"step"`` (StepLR by ``lr_gamma`` every ``lr_step_size`` epochs) or ``"cosine"``
            (epoch ``e`` of ``E`` trains at ``lr * (1 + cos(pi * e / E)) / 2``, stepped once per epoch as in
            timm; ``lr_step_size`` and ``lr_gamma`` are then unused).
        warmup_iters: Linear warm-up iterations in epoch 0 (``None``: ``min(1000, iters_per_epoch - 1)``,
            torchvision's rule; 0 disables).
        warmup_factor: Learning-rate multiplier at the first warm-up iteration, in (0, 1].
        max_grad_norm: Gradient clipping by total norm (``None``: off).
        amp: Mixed precision: ``False``, ``True`` (float16 with a gradient scaler on CUDA, bfloat16 on CPU),
            ``"auto"`` (as ``True``, but float32 on a CPU without native bfloat16 instructions, where bfloat16
            is emulated and slow; see :func:`~maskrcnn_custom.engine.amp.cpu_has_native_bf16`),
            ``"float16"`` or ``"bfloat16"`` (``"fp16"``/``"bf16"`` are accepted and stored by full name).

    Raises:
        ValueError: If a field has a wrong value, or an int field a wrong type (the message names the field).
        TypeError: If a number field (``lr``, ``momentum``, ...) is not a finite number.

    Examples:
        >>> from maskrcnn_custom import TrainingRecipe, get_recipe
        >>> recipe = get_recipe("seed").replace(epochs=12)
        >>> recipe.epochs, recipe.lr, recipe.lr_step_size
        (12, 0.003, 6)
        >>> TrainingRecipe.from_dict(recipe.to_dict()) == recipe
        True
    """

    epochs: int = 30
    iters_per_epoch: int | None = 300
    batch_size: int = 2
    lr: float = 0.003
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_step_size: int = SEED_LR_STEP_SIZE
    lr_gamma: float = 0.5
    lr_schedule: str = "step"
    warmup_iters: int | None = None
    warmup_factor: float = 0.001
    max_grad_norm: float | None = None
    amp: bool | str = False

    def __post_init__(self) -> None:
        check_positive_int(self.epochs, "epochs")
        check_optional_positive_int(
            self.iters_per_epoch, "iters_per_epoch", hint="None: one pass over the data"
        )
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.lr_step_size, "lr_step_size", hint="epochs between learning-rate steps")
        check_int(self.warmup_iters, "warmup_iters", minimum=0, allow_none=True, hint="0 disables warm-up")
        if not isinstance(self.optimizer, str) or self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}, got {self.optimizer!r}"
            )
        if not isinstance(self.lr_schedule, str) or self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"lr_schedule must be one of {', '.join(map(repr, LR_SCHEDULES))}, got {self.lr_schedule!r}"
            )
        positive = {"minimum": 0, "min_inclusive": False}
        floats = {
            "lr": check_number(self.lr, "lr", **positive),
            "momentum": check_number(self.momentum, "momentum", minimum=0),
            "weight_decay": check_number(self.weight_decay, "weight_decay", minimum=0),
            "lr_gamma": check_number(self.lr_gamma, "lr_gamma", **positive),
            "warmup_factor": check_number(self.warmup_factor, "warmup_factor", maximum=1, **positive),
            "max_grad_norm": check_number(
                self.max_grad_norm, "max_grad_norm", allow_none=True, hint="None: no clipping", **positive
            ),
        }
        amp = False if self.amp is None else self.amp
        if isinstance(amp, str):
            amp = _AMP_ALIASES.get(amp.lower(), amp.lower())
        if not any(amp is v if isinstance(v, bool) else amp == v for v in AMP_VALUES):
            raise ValueError(
                f"amp must be False, True, 'auto', 'float16'/'fp16' or 'bfloat16'/'bf16', got {self.amp!r}"
            )
        for name, value in {**floats, "amp": amp}.items():  # store ints given for floats as floats
            object.__setattr__(self, name, value)

    def replace(self, **overrides: Any) -> TrainingRecipe:
        """A copy with ``overrides`` applied (checked like a new recipe).

        Raises:
            ValueError: For an unknown field (the message lists the known ones) or an invalid value.

        Examples:
            >>> from maskrcnn_custom import get_recipe
            >>> get_recipe("seed").replace(optimizer="adamw", lr=5e-4).optimizer
            'adamw'
        """
        _check_keys(overrides, "replace()")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain JSON-serialisable dict (what checkpoints and model cards store).

        Examples:
            >>> from maskrcnn_custom import get_recipe
            >>> get_recipe("seed").to_dict()["optimizer"]
            'sgd'
        """
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingRecipe:
        """Read back :meth:`to_dict`'s output (e.g. from a checkpoint), strictly.

        Missing fields take the class defaults; unknown fields and values of the wrong type are refused.

        Raises:
            TypeError: If ``data`` is not a mapping.
            ValueError: For an unknown field or an invalid value (the message names it).

        Examples:
            >>> from maskrcnn_custom import TrainingRecipe
            >>> TrainingRecipe.from_dict({"epochs": 2, "optimizer": "adamw"}).epochs
            2
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a training recipe must be a mapping of field names, got {type(data).__name__}")
        _check_keys(data, "TrainingRecipe.from_dict()")
        return cls(**dict(data))


_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrainingRecipe))


def _check_keys(data: Mapping[str, Any], where: str) -> None:
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
        raise ValueError(
            f"{where}: unknown training recipe field(s) {unknown}; known fields: {list(_FIELDS)}"
        )


_RECIPES: dict[str, tuple[TrainingRecipe, str]] = {}


def _register(name: str, recipe: TrainingRecipe, description: str) -> None:
    if name in _RECIPES:
        raise ValueError(f"a training recipe named {name!r} is already registered; choose another name")
    _RECIPES[name] = (recipe, description)


_register(
    "seed",
    TrainingRecipe(),
    "The seed document's recipe: SGD, StepLR halving every 6 epochs, 30 x 300 iterations.",
)
_register(
    "demo",
    TrainingRecipe(
        epochs=3,
        iters_per_epoch=80,
        batch_size=2,
        lr=5e-4,
        optimizer="adamw",
        lr_step_size=2,
        warmup_iters=30,
        max_grad_norm=10.0,
    ),
    "maskrcnn-custom demo: AdamW from a random backbone, 3 x 80 iterations, halved for the last epoch.",
)


_register(
    "fast_cpu",
    TrainingRecipe(
        epochs=6,
        # 960 iterations: the demo in about 10 minutes on an idle 2-core CPU with native bfloat16 (docs/training.md)
        iters_per_epoch=160,
        batch_size=4,
        lr=1e-3,
        optimizer="adamw",
        weight_decay=1e-4,
        lr_schedule="cosine",
        warmup_iters=100,
        max_grad_norm=10.0,
        # bfloat16 autocast where the CPU computes it natively (AVX512-BF16: 1.23 instead of 1.52 s a step in-run), float32 elsewhere
        amp="auto",
    ),
    "The fast_cpu training preset's recipe: AdamW, batches of 4, 100 warm-up iterations, cosine over 6 x 160 "
    "iterations, bfloat16 autocast where the CPU has it natively.",
)


def list_recipes() -> list[str]:
    """Names of the registered training recipes, in registration order.

    Examples:
        >>> from maskrcnn_custom import list_recipes
        >>> list_recipes()[:2]
        ['seed', 'demo']
    """
    return list(_RECIPES)


def get_recipe(name: str) -> TrainingRecipe:
    """The registered training recipe ``name``.

    Raises:
        ValueError: If no recipe has that name (the message lists them).

    Examples:
        >>> from maskrcnn_custom import get_recipe
        >>> get_recipe("demo").optimizer
        'adamw'
    """
    if not isinstance(name, str) or name not in _RECIPES:
        raise ValueError(f"recipe must be one of {list_recipes()}, got {name!r}")
    return _RECIPES[name][0]


def recipe_description(name: str) -> str:
    """One-line description of the registered recipe ``name``.

    Raises:
        ValueError: If no recipe has that name.

    Examples:
        >>> from maskrcnn_custom.recipe import recipe_description
        >>> recipe_description("seed").startswith("The seed")
        True
    """
    get_recipe(name)
    return _RECIPES[name][1]


def recipes_table_markdown() -> str:
    """A Markdown table of every registered recipe's fields (the one in docs/training.md), and their descriptions.

    Examples:
        >>> from maskrcnn_custom.recipe import recipes_table_markdown
        >>> recipes_table_markdown().splitlines()[0]
        '| Field | `seed` | `demo` | `fit` keyword | CLI flag |'
    """
    names = list_recipes()

    def cell(value: Any) -> str:
        return (
            "`None`" if value is None else f"`{value!r}`" if isinstance(value, (bool, str)) else f"{value:g}"
        )

    lines = [
        "| Field | " + " | ".join(f"`{n}`" for n in names) + " | `fit` keyword | CLI flag |",
        "| --- | " + " | ".join("---" for _ in names) + " | --- | --- |",
    ]
    for name in _FIELDS:
        values = " | ".join(cell(getattr(get_recipe(n), name)) for n in names)
        lines.append(f"| {name} | {values} | `{name}=` | `--{name.replace('_', '-')}` |")
    lines.append("")
    lines.extend(f"- `{n}`: {recipe_description(n)}" for n in names)
    return "\n".join(lines) + "\n"
