"""Training presets: a model, its image size, its augmentation and its training recipe under one name.

A :class:`TrainingRecipe` alone says how to train; a :class:`TrainingPreset` also says *what* to train: the
builder and its keyword arguments (head widths, sampled RoIs, mask resolution...), the image size the anchors are
scaled to, and the training augmentation. :func:`maskrcnn_custom.build_preset_model`, ``fit(recipe=<name>)``,
``maskrcnn-custom train --preset``, the demo and ``benchmarks/time_to_accuracy.py --preset`` all read the same
entry, so a figure measured for a preset is the figure of what users get.

Presets (:func:`list_presets`):

- ``"seed"``: the seed network (ResNet-101 FPN, the seed's heads and anchors, 256 px) with the seed's recipe, no
  augmentation. The reference.
- ``"fast_cpu"``: what to pick when time matters on a CPU: ResNet-18 FPN from scratch with slim heads
  (128-channel FPN, a 256-wide box head, two 128-channel mask convs, a 128-channel mask predictor, GroupNorm in
  the mask branch), 56 px masks for thin objects pasted at sub-pixel precision and gated by a dense foreground
  branch that draws their edges, 64 sampled RoIs per image, flips,
  quarter turns, scale and colour jitter, polarity inversion, pixel noise and uneven lighting, batches of 4, AdamW with a cosine
  schedule. Its measured time to accuracy is in docs/training.md. The seed network's defaults are unchanged:
  the preset is a choice, and the model cards of its models say so.

This module holds data only (it imports the recipes and, lazily, the data transforms of the same layer); the
model is built by :func:`maskrcnn_custom.build_preset_model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._utils.checks import check_positive_int
from ._utils.frozen import FrozenDict
from .recipe import TrainingRecipe, get_recipe

__all__ = ["TrainingPreset", "get_preset", "list_presets", "presets_table_markdown"]

#: The seed network's anchor sizes were chosen for 256 px images; presets scale them by ``image_size / 256``.
ANCHOR_REFERENCE_SIZE = 256


@dataclass(frozen=True)
class TrainingPreset:
    """A named model + image size + augmentation + training recipe (frozen, hashable).

    Attributes:
        name: The preset's name.
        architecture: The registered builder (:func:`maskrcnn_custom.list_models`), e.g. ``"maskrcnn_resnet18_fpn"``.
        image_size: Side of the training images; the model's ``min_size`` / ``max_size``, and the seed's anchor
            sizes are scaled by ``image_size / 256``.
        model: Builder keyword arguments (besides ``num_classes``, sizes and anchors), e.g. ``mask_hidden_dim``.
        augmentation: Keyword arguments of :func:`maskrcnn_custom.data.train_transforms`, or ``None`` for no
            augmentation.
        recipe: The :class:`TrainingRecipe` (the recipe preset of the same name, for ``fit(recipe=...)``).
        description: One line for tables and ``--help``.
        expected: Figures measured for the preset (seconds, AP...) that docs and model cards quote; informative.

    Examples:
        >>> from maskrcnn_custom import get_preset
        >>> preset = get_preset("fast_cpu")
        >>> preset.architecture, preset.image_size, preset.recipe.optimizer
        ('maskrcnn_resnet18_fpn', 256, 'adamw')
    """

    name: str
    architecture: str
    image_size: int
    recipe: TrainingRecipe
    model: Mapping[str, Any] = field(default_factory=FrozenDict)
    augmentation: Mapping[str, Any] | None = None
    description: str = ""
    expected: Mapping[str, Any] = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        check_positive_int(self.image_size, "image_size")
        if self.image_size < 32 or self.image_size % 32:
            raise ValueError(f"image_size must be a multiple of 32 and >= 32, got {self.image_size!r}")
        if not isinstance(self.recipe, TrainingRecipe):
            raise TypeError(f"recipe must be a TrainingRecipe, got {type(self.recipe).__name__}")
        for name in ("model", "expected"):
            object.__setattr__(self, name, FrozenDict(getattr(self, name)))
        if self.augmentation is not None:
            object.__setattr__(self, "augmentation", FrozenDict(self.augmentation))

    def model_kwargs(self, *, image_size: int | None = None) -> dict[str, Any]:
        """The builder keyword arguments: :attr:`model` plus sizes and anchors for ``image_size``.

        Args:
            image_size: Image side (default :attr:`image_size`); anchors scale with it.

        Returns:
            Keyword arguments for the builder named :attr:`architecture`.

        Examples:
            >>> from maskrcnn_custom import get_preset
            >>> get_preset("fast_cpu").model_kwargs(image_size=128)["anchor_sizes"][0]
            (16.0,)
        """
        from .models.config import SEED_ANCHOR_SIZES

        size = self.image_size if image_size is None else image_size
        check_positive_int(size, "image_size")
        scale = size / ANCHOR_REFERENCE_SIZE
        anchors = tuple(tuple(round(s * scale, 2) for s in level) for level in SEED_ANCHOR_SIZES)
        kwargs: dict[str, Any] = dict(self.model)
        kwargs.update(min_size=size, max_size=size)
        if scale != 1:
            kwargs["anchor_sizes"] = anchors
        return kwargs

    def train_transforms(self) -> Any:
        """The preset's training augmentation (:func:`maskrcnn_custom.data.train_transforms`), or ``None``.

        Examples:
            >>> from maskrcnn_custom import get_preset
            >>> get_preset("seed").train_transforms() is None
            True
        """
        if self.augmentation is None:
            return None
        from .data import train_transforms

        return train_transforms(**self.augmentation)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of the preset (what model cards and benchmark JSON record).

        Examples:
            >>> from maskrcnn_custom import get_preset
            >>> get_preset("fast_cpu").to_dict()["recipe"]["lr_schedule"]
            'cosine'
        """
        return {
            "name": self.name,
            "architecture": self.architecture,
            "image_size": self.image_size,
            "model": dict(self.model),
            "augmentation": None if self.augmentation is None else dict(self.augmentation),
            "recipe": self.recipe.to_dict(),
            "description": self.description,
        }


_PRESETS: dict[str, TrainingPreset] = {}


def _register_preset(preset: TrainingPreset) -> None:
    if preset.name in _PRESETS:
        raise ValueError(
            f"a training preset named {preset.name!r} is already registered; choose another name"
        )
    _PRESETS[preset.name] = preset


_register_preset(
    TrainingPreset(
        name="seed",
        architecture="maskrcnn_resnet101_fpn",
        image_size=256,
        recipe=get_recipe("seed"),
        description="The seed network and the seed document's recipe (SGD, StepLR, 30 x 300 iterations).",
    ),
)

_register_preset(
    TrainingPreset(
        name="fast_cpu",
        architecture="maskrcnn_resnet18_fpn",
        image_size=256,
        model={
            "fpn_out_channels": 128,
            "box_head_dim": 256,
            "mask_head_layers": (128, 128),
            "mask_hidden_dim": 128,
            "mask_resolution": 56,
            # GroupNorm in the mask branch: without it, from scratch, foreground pixels lose their gradient
            # (docs/model.md, "Mask head normalisation")
            "mask_head_norm": "gn",
            # sub-pixel mask pasting: torchvision's integer-box paste costs thin objects most of their mask IoU
            # (docs/model.md, "Mask pasting")
            "mask_paste": "exact",
            # a dense foreground branch (FPN level "0" + the image's pixels, one logit per pixel) draws the masks'
            # edges where a 56 px grid over a long box cannot: held-out segm AP 0.266 -> 0.33 at 900 s
            # (docs/model.md, "Foreground branch")
            "mask_foreground_dim": 64,
            "box_batch_size_per_image": 64,
            "rpn_pre_nms_top_n_train": 1000,
            "rpn_post_nms_top_n_train": 600,
            "box_detections_per_img": 100,
            # two more box-head passes at inference on the kept detections: +0.04-0.05 bbox AP for nothing in
            # training (docs/model.md, "Box refinement")
            "box_refine_steps": 2,
        },
        # flips, quarter turns, scale and colour jitter, plus polarity inversion, wider contrast and pixel noise
        # (the three raised held-out AP at equal time) and uneven lighting (ahead at every point of a 900 s run;
        # docs/training.md, ablation)
        augmentation={
            "contrast": 0.5,
            "invert": 0.5,
            "noise_sigma": 0.05,
            "illumination": 0.3,
            "illumination_offset": 0.2,
        },
        recipe=get_recipe("fast_cpu"),
        # `maskrcnn-custom demo` measured on an idle 2-core CPU (AMD EPYC with AVX512-BF16, 2 threads, bfloat16
        # through amp="auto", 6 x 160 iterations: 552 s with the foreground branch; 633 s on a slower hour
        # without it; docs/training.md)
        expected={"demo_seconds": 552, "machine": "an idle 2-core CPU"},
        description=(
            "ResNet-18 FPN from scratch with slim heads, a GroupNorm mask branch, 56 px masks pasted at sub-pixel "
            "precision and gated by a dense foreground branch, 256 px, "
            "augmentation, AdamW + cosine on batches of 4: "
            "the CPU preset for when time matters."
        ),
    ),
)


def list_presets() -> list[str]:
    """Names of the registered training presets, in registration order.

    Examples:
        >>> from maskrcnn_custom import list_presets
        >>> list_presets()
        ['seed', 'fast_cpu']
    """
    return list(_PRESETS)


def get_preset(name: str | TrainingPreset) -> TrainingPreset:
    """The registered training preset ``name`` (a :class:`TrainingPreset` is returned as it is).

    Raises:
        ValueError: If no preset has that name (the message lists them).

    Examples:
        >>> from maskrcnn_custom import get_preset
        >>> get_preset("seed").recipe.lr
        0.003
    """
    if isinstance(name, TrainingPreset):
        return name
    if not isinstance(name, str) or name not in _PRESETS:
        raise ValueError(f"preset must be one of {list_presets()}, got {name!r}")
    return _PRESETS[name]


def presets_table_markdown() -> str:
    """A Markdown table of the registered presets (architecture, image size, model settings, recipe).

    Examples:
        >>> from maskrcnn_custom.presets import presets_table_markdown
        >>> presets_table_markdown().splitlines()[0]
        '| Preset | Architecture | Image size | Model settings | Augmentation | Recipe |'
    """
    lines = [
        "| Preset | Architecture | Image size | Model settings | Augmentation | Recipe |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in list_presets():
        p = _PRESETS[name]
        model = ", ".join(f"`{k}={v!r}`" for k, v in p.model.items()) or "the seed's"
        aug = "none" if p.augmentation is None else ("`train_transforms()`" if not p.augmentation else
                                                     f"`train_transforms({', '.join(f'{k}={v!r}' for k, v in p.augmentation.items())})`")  # fmt: skip
        r = p.recipe
        iters = r.epochs * (r.iters_per_epoch or 0)
        sched = f"{r.lr_schedule}" + (
            f" (step {r.lr_step_size}, x{r.lr_gamma:g})" if r.lr_schedule == "step" else ""
        )
        recipe = f"{r.optimizer} lr {r.lr:g}, {r.epochs} x {r.iters_per_epoch} = {iters} it of {r.batch_size}, {sched}"
        lines.append(f"| `{name}` | `{p.architecture}` | {p.image_size} | {model} | {aug} | {recipe} |")
    return "\n".join(lines) + "\n"
