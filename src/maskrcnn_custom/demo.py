"""The end-to-end demo: synthetic data, a short training run, held-out evaluation, save, reload and pictures.

:func:`run_demo` is what ``maskrcnn-custom demo`` runs. It trains a training preset (default ``"fast_cpu"``,
:func:`maskrcnn_custom.get_preset`): the preset's model (:func:`maskrcnn_custom.build_preset_model`), image size,
training augmentation and recipe. It needs nothing from the network: the backbone starts from random weights
and the data is generated on the fly, so it works offline on a fresh machine. The figures it reports are
measured on held-out images of a differently configured generator (``SyntheticConfig.heldout()``), so they
measure generalisation, not recall of the training images.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ._utils.atomic import atomic_path, atomic_write_text
from ._utils.checks import check_fraction, check_non_negative_int, check_number, check_positive_int
from .presets import TrainingPreset, get_preset, list_presets
from .recipe import TrainingRecipe

__all__ = [
    "DEMO_BACKBONES",
    "DEMO_METRICS",
    "HELDOUT_SEED",
    "DemoReport",
    "DemoSettings",
    "demo_settings",
    "run_demo",
]

logger = logging.getLogger(__name__)

#: Backbones of the registered presets, accepted by the deprecated ``backbone=`` argument (the preset decides).
DEMO_BACKBONES: tuple[str, ...] = ("resnet18", "resnet101")

#: The metric groups of :func:`maskrcnn_custom.evaluate` the demo keeps, reports and writes to metrics.json:
#: COCO box and mask AP, Boundary AP and the skeleton scores (clDice, ...).
DEMO_METRICS: tuple[str, ...] = ("bbox", "segm", "boundary", "skeleton")

#: Seed of the demo's held-out validation images (``SyntheticConfig.heldout()``), the same for every run.
HELDOUT_SEED = 1000

_DEFAULT_PRESET = "fast_cpu"

#: Fields resolved from the preset when left ``None``: field -> (where, key).
_FROM_PRESET = {
    "image_size": ("preset", "image_size"),
    "epochs": ("recipe", "epochs"),
    "iters_per_epoch": ("recipe", "iters_per_epoch"),
    "batch_size": ("recipe", "batch_size"),
    "optimizer": ("recipe", "optimizer"),
    "lr": ("recipe", "lr"),
    "warmup_iters": ("recipe", "warmup_iters"),
    "box_batch_size_per_image": ("model", "box_batch_size_per_image"),
    "max_detections": ("model", "box_detections_per_img"),
}


@dataclass(frozen=True)
class DemoSettings:
    """Sizes and recipe of a demo run, derived from a training preset.

    Fields left ``None`` take the value of the preset named by :attr:`preset` (its image size, its recipe's
    epochs, iterations, batch size, optimiser, rate and warm-up, its model's sampled RoIs and detections per
    image), so ``DemoSettings()`` is the ``"fast_cpu"`` preset as it is; :func:`demo_settings` is the usual way
    to make them. :attr:`recipe` is the recipe :func:`run_demo` trains with.

    Attributes:
        preset: Name of the training preset (:func:`maskrcnn_custom.list_presets`).
        image_size: Side of the square synthetic images and the model's ``min_size``/``max_size``; the seed's
            anchor sizes are scaled by ``image_size / 256``. ``None``: the preset's.
        num_train: Training images (default generator, ``SyntheticConfig()``, seed ``seed``; generated on
            demand and augmented with the preset's ``train_transforms()``).
        num_val: Held-out validation images (``SyntheticConfig.heldout()``, seed :data:`HELDOUT_SEED`) for the
            final evaluation.
        num_curve_val: The first this many held-out images are evaluated during training, for the learning
            curve (0: none).
        curve_points: Most evaluations during training (every ``ceil(epochs / curve_points)`` epochs and after
            the last).
        epochs: Training epochs (``None``: the preset's).
        iters_per_epoch: Iterations per epoch (``None``: the preset's).
        batch_size: Images per iteration (``None``: the preset's).
        optimizer: ``"adamw"`` or ``"sgd"`` (``None``: the preset's).
        lr: Peak learning rate (``None``: the preset's).
        warmup_iters: Linear warm-up iterations (``None``: the preset's).
        box_batch_size_per_image: RoIs sampled per image for the box and mask heads (``None``: the preset's).
        max_detections: Most detections per image (``box_detections_per_img``; ``None``: the preset's).
        num_objects: ``(min, max)`` objects per training image (``None``: the generator's default).
        width_range: ``(min, max)`` training object width as a fraction of the image side (``None``: the
            generator's default).
        num_overlays: Held-out images drawn as ground truth | prediction pictures.
        score_threshold: The pictures and the detection counts keep detections with a score above this.
    """

    preset: str = _DEFAULT_PRESET
    image_size: int | None = None
    num_train: int = 2000
    num_val: int = 50
    num_curve_val: int = 16
    curve_points: int = 8
    epochs: int | None = None
    iters_per_epoch: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    warmup_iters: int | None = None
    box_batch_size_per_image: int | None = None
    max_detections: int | None = None
    num_objects: tuple[int, int] | None = None
    width_range: tuple[float, float] | None = None
    num_overlays: int = 4
    score_threshold: float = 0.5

    def __post_init__(self) -> None:
        preset = get_preset(self.preset)  # ValueError naming the presets
        from .data import SyntheticConfig

        defaults = SyntheticConfig()
        sources = {
            "preset": {"image_size": preset.image_size},
            "recipe": preset.recipe.to_dict(),
            "model": dict(preset.model),
        }
        for name, (where, key) in _FROM_PRESET.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, sources[where].get(key))
        for name in ("num_objects", "width_range"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, getattr(defaults, name))
        for name in (
            "image_size",
            "num_train",
            "num_val",
            "epochs",
            "iters_per_epoch",
            "batch_size",
            "curve_points",
        ):
            check_positive_int(getattr(self, name), name)
        for name in ("box_batch_size_per_image", "max_detections"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        if self.image_size < 32 or self.image_size % 32:  # type: ignore[operator]
            raise ValueError(f"image_size must be a multiple of 32 and >= 32, got {self.image_size!r}")
        for name in ("num_overlays", "num_curve_val"):
            check_non_negative_int(getattr(self, name), name)
        if self.warmup_iters is not None:  # None: the recipe's rule, min(1000, iters_per_epoch - 1)
            check_non_negative_int(self.warmup_iters, "warmup_iters")
        if self.num_overlays > self.num_val:
            raise ValueError(f"num_overlays ({self.num_overlays}) must be <= num_val ({self.num_val})")
        if self.num_curve_val > self.num_val:
            raise ValueError(f"num_curve_val ({self.num_curve_val}) must be <= num_val ({self.num_val})")
        check_number(self.lr, "lr", minimum=0, maximum=1, min_inclusive=False, max_inclusive=False)
        self.recipe  # noqa: B018 (checks the optimiser and the other recipe fields)
        check_fraction(self.score_threshold, "score_threshold")
        SyntheticConfig(num_objects=self.num_objects, width_range=self.width_range)  # checks both ranges

    @property
    def training_preset(self) -> TrainingPreset:
        """The :class:`~maskrcnn_custom.TrainingPreset` named by :attr:`preset`."""
        return get_preset(self.preset)

    @property
    def recipe(self) -> TrainingRecipe:
        """The preset's recipe with these settings' epochs, iterations, batch size, optimiser, rate and warm-up.

        Examples:
            >>> from maskrcnn_custom import get_preset
            >>> from maskrcnn_custom.demo import demo_settings
            >>> demo_settings().recipe == get_preset("fast_cpu").recipe
            True
        """
        return self.training_preset.recipe.replace(
            epochs=self.epochs,
            iters_per_epoch=self.iters_per_epoch,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            lr=self.lr,
            warmup_iters=self.warmup_iters,
        )

    @property
    def eval_every(self) -> int:
        """Epochs between the evaluations of the learning curve (at most :attr:`curve_points` of them)."""
        return max(1, math.ceil(self.epochs / self.curve_points))  # type: ignore[operator]

    def model_overrides(self) -> dict[str, Any]:
        """Builder arguments these settings set over the preset's (sampled RoIs, detections per image)."""
        out = {
            "box_batch_size_per_image": self.box_batch_size_per_image,
            "box_detections_per_img": self.max_detections,
        }
        return {k: v for k, v in out.items() if v is not None}


def demo_settings(*, preset: str = _DEFAULT_PRESET, fast: bool = False, **overrides: Any) -> DemoSettings:
    """The demo's settings for training preset ``preset``, or the tiny ``fast`` ones, with ``overrides`` applied.

    Args:
        preset: A training preset name (:func:`maskrcnn_custom.list_presets`); default ``"fast_cpu"``.
        fast: Tiny images (64 px) and 3 iterations, seconds: checks the whole pipeline, trains nothing useful.
        **overrides: Any :class:`DemoSettings` field.

    Returns:
        The settings, every field resolved.

    Raises:
        ValueError: For an unknown preset or field, or an invalid value (the message names it).

    Examples:
        >>> from maskrcnn_custom import get_preset
        >>> from maskrcnn_custom.demo import demo_settings
        >>> demo_settings().image_size == get_preset("fast_cpu").image_size
        True
        >>> demo_settings(fast=True).image_size
        64
    """
    if not isinstance(preset, str) or preset not in list_presets():
        raise ValueError(f"preset must be one of {list_presets()}, got {preset!r}")
    unknown = sorted(set(overrides) - set(DemoSettings.__dataclass_fields__) - {"preset"})
    if unknown or "preset" in overrides:
        raise ValueError(
            f"unknown demo setting(s) {unknown or ['preset']}; pass preset= by name, and settings from "
            f"{sorted(set(DemoSettings.__dataclass_fields__) - {'preset'})}"
        )
    tiny: dict[str, Any] = {}
    if fast:
        tiny = {
            "image_size": 64,
            "num_train": 16,
            "num_val": 4,
            "num_curve_val": 2,
            "epochs": 1,
            "iters_per_epoch": 3,
            "batch_size": 2,
            "warmup_iters": 2,
            "box_batch_size_per_image": 16,
            "max_detections": 20,
            "num_overlays": 2,
        }
    return DemoSettings(preset=preset, **{**tiny, **overrides})


@dataclass
class DemoReport:
    """What :func:`run_demo` produced.

    Attributes:
        out_dir: The output folder.
        pretrained_dir: The ``save_pretrained`` folder (load it with :func:`maskrcnn_custom.from_pretrained`);
            its ``README.md`` is the model card.
        metrics_path: ``metrics.json``.
        overlay_paths: The pictures ``overlays/val_*.png`` (ground truth left, prediction right).
        learning_curve_path: ``learning_curve.png`` (loss and AP against iterations).
        metrics: COCO ``bbox`` and ``segm`` metrics (``AP``, ``AP50``, ...), ``boundary`` (Boundary AP, the same
            12 numbers) and ``skeleton`` (``clDice``, ``Tprec``, ``Tsens``, ``recall``) on the held-out images.
        counts: ``detections_per_image`` (score above the threshold), ``all_detections_per_image`` (as
            evaluated) and ``objects_per_image`` on the held-out images.
        expected: ``{"seconds": ..., "source": ..., "line": ...}``: the time announced before training.
        seconds: Wall time of each stage and in total.
        settings: The settings used.
    """

    out_dir: Path
    pretrained_dir: Path
    metrics_path: Path
    overlay_paths: list[Path] = field(default_factory=list)
    learning_curve_path: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    settings: DemoSettings | None = None

    def summary_table(self) -> str:
        """The final metrics as a plain-text table (what ``maskrcnn-custom demo`` prints).

        Examples:
            >>> from pathlib import Path
            >>> from maskrcnn_custom.demo import DemoReport
            >>> r = DemoReport(Path("d"), Path("d/model"), Path("d/metrics.json"))
            >>> r.summary_table().splitlines()[0]
            'held-out evaluation: no metrics'
        """
        if not self.metrics:
            return "held-out evaluation: no metrics"
        s, m, c = self.settings, self.metrics, self.counts
        n = s.num_val if s is not None else "?"
        thr = s.score_threshold if s is not None else 0.5
        rows = [
            ("segm (mask) AP", m["segm"]["AP"], m["segm"]["AP50"]),
            ("bbox AP", m["bbox"]["AP"], m["bbox"]["AP50"]),
            ("boundary AP", m["boundary"]["AP"], m["boundary"]["AP50"]),
        ]
        lines = [
            f"held-out evaluation: {n} images of the 'heldout' synthetic generator (seed {HELDOUT_SEED}), "
            "never seen in training",
            "",
            f"{'metric':<34}{'AP':>8}{'AP50':>8}",
            *(f"{name:<34}{ap:>8.3f}{ap50:>8.3f}" for name, ap, ap50 in rows),
            f"{'clDice (matched objects)':<34}"
            + (
                f"{m['skeleton']['clDice']:>8.3f}"
                if m["skeleton"]["clDice"] >= 0
                else "     n/a  (no object matched)"
            ),
            f"{f'detections per image (score > {thr:g})':<34}{c.get('detections_per_image', float('nan')):>8.2f}",
            f"{'objects per image':<34}{c.get('objects_per_image', float('nan')):>8.2f}",
            f"{'seconds (total / training)':<34}{self.seconds.get('total', float('nan')):>8.0f}"
            f"{self.seconds.get('train', float('nan')):>8.0f}",
        ]
        if self.expected.get("seconds") is not None:
            lines.append(
                f"{'seconds expected':<34}{self.expected['seconds']:>8.0f}  ({self.expected['source']})"
            )
        return "\n".join(lines)


def _write_json_atomic(data: Any, path: Path) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def _write_png_atomic(image: torch.Tensor, path: Path) -> Path:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(image.permute(1, 2, 0).contiguous().numpy()).save(tmp, format="PNG")
    return path


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir {str(out_dir)!r} is a file; pass a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(
            f"out_dir {str(out_dir)!r} is not empty; pass another folder or overwrite=True (--overwrite) to "
            "replace the demo's files in it"
        )


def _require_coco_backend() -> None:
    """Fail before any work when no COCO backend is installed (the library's one check, ``require`` inside)."""
    from .engine.coco import coco_api

    coco_api("auto")


def run_demo(
    out_dir: str | os.PathLike[str],
    *,
    preset: str | None = None,
    backbone: str | None = None,
    fast: bool = False,
    settings: DemoSettings | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> DemoReport:
    """Train a training preset on synthetic data, evaluate it on held-out images, save, reload and draw.

    Steps, each logged (``logging``, INFO) with progress bars for training, evaluation and prediction:

    1. data: ``num_train`` training images of the default generator (``SyntheticConfig()``, seed ``seed``)
       augmented with the preset's ``train_transforms()``, and ``num_val`` held-out images of the differently
       configured generator (``SyntheticElongatedDataset(num_val, seed=1000, config="heldout")``), so the
       reported figures measure generalisation;
    2. the preset's model (:func:`maskrcnn_custom.build_preset_model`) at the settings' image size, from random
       weights (nothing is downloaded);
    3. the expected time, logged before training: the preset's measured ``expected["demo_seconds"]`` when the
       settings are the preset's defaults, else an estimate from timing 5 training iterations on a copy of
       the model;
    4. training with :func:`maskrcnn_custom.fit` and the preset's recipe (checkpoints and logs in
       ``out_dir/training``), evaluating the first ``num_curve_val`` held-out images every
       :attr:`DemoSettings.eval_every` epochs for the learning curve;
    5. COCO ``bbox``/``segm``, Boundary AP and clDice on all held-out images (:func:`maskrcnn_custom.evaluate`);
    6. :func:`~maskrcnn_custom.save_pretrained` to ``out_dir/model`` (its model card records the held-out
       metrics, the preset and its recipe), then :func:`~maskrcnn_custom.from_pretrained` from it; the reloaded
       model must predict what the trained one does;
    7. pictures ``out_dir/overlays/val_*.png`` (ground truth left, the reloaded model's prediction right,
       :func:`~maskrcnn_custom.inference.draw_comparison`), ``out_dir/learning_curve.png`` and
       ``out_dir/metrics.json``.

    Args:
        out_dir: Output folder (created; must be empty unless ``overwrite``).
        preset: Training preset (:func:`maskrcnn_custom.list_presets`); ``None``: ``settings.preset`` if
            ``settings`` is given, else ``"fast_cpu"``.
        backbone: Deprecated and optional: the preset decides the model. If given it must be the preset's
            backbone (``"resnet18"`` for ``"fast_cpu"``, ``"resnet101"`` for ``"seed"``).
        fast: Tiny settings that finish in seconds (see :func:`demo_settings`); ignored if ``settings`` is given.
        settings: Explicit :class:`DemoSettings`.
        seed: Seed of the training data and of training (the held-out images always use seed 1000).
        device: ``"cpu"``, ``"cuda"`` or ``None`` (CUDA when available).
        progress: Show progress bars.
        overwrite: Allow a non-empty ``out_dir`` (the demo's files in it are replaced).

    Returns:
        A :class:`DemoReport` (also written to ``out_dir/metrics.json``).

    Raises:
        ValueError: For an unknown ``preset`` or ``backbone``, a ``backbone`` that is not the preset's, settings
            of another preset, invalid settings, or an ``out_dir`` that is a file.
        TypeError: If ``settings`` is not a :class:`DemoSettings`.
        FileExistsError: If ``out_dir`` is not empty and ``overwrite`` is false.
        ImportError: If pycocotools is missing (``pip install "maskrcnn-custom[coco]"``).
        RuntimeError: If the reloaded model does not reproduce the trained model's predictions.

    Examples:
        >>> from maskrcnn_custom.demo import run_demo
        >>> report = run_demo("demo/", fast=True, progress=False)  # doctest: +SKIP
        >>> report.metrics["segm"]["AP"], report.overlay_paths[0].name  # doctest: +SKIP
        (0.0, 'val_000.png')
    """
    settings = _check_demo_arguments(preset, backbone, fast, settings, seed)
    training_preset = settings.training_preset
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, overwrite)
    _require_coco_backend()
    start = time.perf_counter()
    seconds: dict[str, float] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    s = settings
    logger.info(
        "demo: preset %r, %d px images, %d epochs x %d iterations of %d images, output in %s",
        s.preset,
        s.image_size,
        s.epochs,
        s.iters_per_epoch,
        s.batch_size,
        out_dir,
    )
    train_set, val_set = _make_data(s, seed)
    model = _make_model(s, train_set, seed)
    expected = _expected_time(model, train_set, s, device=device)
    logger.info("[3/7] %s", expected["line"])
    with _timed(seconds, "train"):
        history = _train(
            model,
            train_set,
            val_set,
            s,
            out_dir=out_dir,
            seed=seed,
            device=device,
            progress=progress,
            overwrite=overwrite,
        )
    curve_eval = sum(float(r.get("eval_time_s", 0.0)) for r in history)
    seconds["curve_evaluations"] = curve_eval
    logger.info(
        "training took %.0f s (of which %.0f s, %.0f %%, evaluating %d held-out images for the learning curve);"
        " mean loss per epoch: %s",
        seconds["train"],
        curve_eval,
        100 * curve_eval / max(seconds["train"], 1e-9),
        min(s.num_curve_val, s.num_val),
        [round(float(r["train"]["loss"]), 4) for r in history],
    )
    with _timed(seconds, "evaluate"):
        metrics, counts, run_device = _evaluate(model, val_set, s, progress=progress)
    with _timed(seconds, "save_reload"):
        pretrained_dir = out_dir / "model"
        reloaded, images = _save_and_reload(model, val_set, s, metrics, pretrained_dir, seed=seed)
    with _timed(seconds, "pictures"):
        overlay_paths, detections = _draw_overlays(reloaded, val_set, images, s, out_dir, progress=progress)
        curve_path = _draw_learning_curve(history, metrics, s, out_dir / "learning_curve.png")
    seconds["total"] = time.perf_counter() - start
    report = DemoReport(
        out_dir=out_dir,
        pretrained_dir=pretrained_dir,
        metrics_path=out_dir / "metrics.json",
        overlay_paths=overlay_paths,
        learning_curve_path=curve_path,
        metrics={k: metrics[k] for k in DEMO_METRICS if k in metrics},
        counts=counts,
        expected=expected,
        seconds={k: round(v, 2) for k, v in seconds.items()},
        settings=s,
    )
    _write_report(report, metrics, detections, history, training_preset, seed=seed, device=run_device)
    logger.info(
        "done in %.0f s (expected about %.0f s): held-out segm AP %.3f, bbox AP %.3f, boundary AP %.3f, "
        "clDice %.3f; %s, %s",
        seconds["total"],
        expected["seconds"],
        metrics["segm"]["AP"],
        metrics["bbox"]["AP"],
        metrics["boundary"]["AP"],
        metrics["skeleton"]["clDice"],
        report.metrics_path,
        pretrained_dir,
    )
    return report


def _backbone_of(preset: TrainingPreset) -> str:
    """``"resnet18"`` for ``maskrcnn_resnet18_fpn``: the backbone named by a preset's architecture."""
    return preset.architecture.removeprefix("maskrcnn_").removesuffix("_fpn")


def _check_demo_arguments(
    preset: str | None, backbone: str | None, fast: bool, settings: DemoSettings | None, seed: int
) -> DemoSettings:
    """Check ``run_demo``'s arguments and return the settings to use."""
    if preset is not None and (not isinstance(preset, str) or preset not in list_presets()):
        raise ValueError(f"preset must be one of {list_presets()}, got {preset!r}")
    if backbone is not None and backbone not in DEMO_BACKBONES:
        raise ValueError(
            f"backbone must be one of {DEMO_BACKBONES} (or None: the preset's), got {backbone!r}"
        )
    if settings is None:
        settings = demo_settings(preset=preset or _DEFAULT_PRESET, fast=fast)
    elif not isinstance(settings, DemoSettings):
        raise TypeError(
            f"settings must be a DemoSettings (see demo_settings()), got {type(settings).__name__}"
        )
    elif preset is not None and settings.preset != preset:
        raise ValueError(
            f"settings are for preset {settings.preset!r} but preset={preset!r}; make them with "
            f"demo_settings(preset={preset!r})"
        )
    own = _backbone_of(settings.training_preset)
    if backbone is not None and backbone != own:
        others = [n for n in list_presets() if _backbone_of(get_preset(n)) == backbone]
        raise ValueError(
            f"backbone={backbone!r} is not the backbone of preset {settings.preset!r} ({own}); the preset "
            f"decides the model: pass preset={others[0]!r} instead"
            if others
            else f"backbone={backbone!r} is not the backbone of preset {settings.preset!r} ({own})"
        )
    check_non_negative_int(seed, "seed")
    return settings


@contextlib.contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    """Record the wall time of the ``with`` block as ``seconds[stage]``."""
    t = time.perf_counter()
    yield
    seconds[stage] = time.perf_counter() - t


def _make_data(s: DemoSettings, seed: int) -> tuple[Any, Any]:
    """Step 1: augmented training images of the default generator, held-out images of the other one."""
    from .data import SyntheticConfig, SyntheticElongatedDataset

    train_config = SyntheticConfig(num_objects=s.num_objects, width_range=s.width_range)
    train_set = SyntheticElongatedDataset(
        s.num_train,
        image_size=s.image_size,  # type: ignore[arg-type]
        seed=seed,
        config=train_config,
        transforms=s.training_preset.train_transforms(),
    )
    val_set = SyntheticElongatedDataset(
        s.num_val,
        image_size=s.image_size,  # type: ignore[arg-type]
        seed=HELDOUT_SEED,
        config="heldout",
    )
    logger.info(
        "[1/7] synthetic data: %d training images (default generator, %s augmentation) and %d held-out "
        "validation images of a differently configured generator (SyntheticConfig.heldout(): longer, thinner, "
        "fainter objects on other backgrounds), so the figures measure generalisation",
        s.num_train,
        "the preset's" if train_set.transforms is not None else "no",
        s.num_val,
    )
    return train_set, val_set


def _make_model(s: DemoSettings, train_set: Any, seed: int) -> Any:
    """Step 2: the preset's model from random weights seeded with ``seed``."""
    from .models import build_preset_model

    torch.manual_seed(seed)
    model = build_preset_model(
        s.training_preset,
        num_classes=train_set.num_classes,
        class_names=("background", *train_set.category_names),
        image_size=s.image_size,
        weights_backbone=None,
        **s.model_overrides(),
    )
    n_params = sum(p.numel() for p in model.parameters())
    logger.info(
        "[2/7] model: preset %r, %s from scratch, %.1f M parameters",
        s.preset,
        s.training_preset.architecture,
        n_params / 1e6,
    )
    return model


def _time_iterations(
    model: Any, train_set: Any, s: DemoSettings, *, device: Any, n: int
) -> tuple[float, float]:
    """Seconds per training iteration (median of ``n``) and per predicted image, on a copy of ``model``."""
    from torch.utils.data import DataLoader

    from .data import collate_fn
    from .engine.optim import make_optimizer

    probe = copy.deepcopy(model)
    run_device = (
        torch.device(device)
        if device is not None
        else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    )
    probe.to(run_device).train()
    params = [p for p in probe.parameters() if p.requires_grad]
    optimizer = make_optimizer(s.recipe.optimizer, params, lr=s.recipe.lr, weight_decay=s.recipe.weight_decay)
    loader = DataLoader(train_set, batch_size=s.batch_size, shuffle=True, collate_fn=collate_fn)
    times = []
    batches = iter(loader)
    for _ in range(n):
        t = time.perf_counter()
        try:
            images, targets = next(batches)
        except StopIteration:
            batches = iter(loader)
            images, targets = next(batches)
        images = [im.to(run_device) for im in images]
        targets = [
            {k: (v.to(run_device) if torch.is_tensor(v) else v) for k, v in t_.items()} for t_ in targets
        ]
        loss = sum(probe(images, targets).values())
        optimizer.zero_grad()
        loss.backward()  # type: ignore[union-attr]
        optimizer.step()
        if run_device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    probe.eval()
    with torch.no_grad():
        t = time.perf_counter()
        probe([train_set[0][0].to(run_device)])
        eval_image = time.perf_counter() - t
    del probe, optimizer
    return sorted(times)[len(times) // 2], eval_image


def _expected_time(model: Any, train_set: Any, s: DemoSettings, *, device: Any) -> dict[str, Any]:
    """Step 3: the preset's measured demo time for its default settings, else an estimate timed here."""
    measured = s.training_preset.expected.get("demo_seconds")
    iterations = s.epochs * s.iters_per_epoch  # type: ignore[operator]
    if measured is not None and s == demo_settings(preset=s.preset):
        machine = s.training_preset.expected.get("machine")
        where = (
            f" on a {machine}"
            if machine and not str(machine).startswith(("a ", "an "))
            else (f" on {machine}" if machine else "")
        )
        seconds = float(measured)
        source = f"measured{where} for the {s.preset!r} preset"
        line = f"expected about {_minutes(seconds)} (measured{where}; a busy machine takes longer)"
    else:
        n = min(5, iterations)
        per_iteration, per_image = _time_iterations(model, train_set, s, device=device, n=n)
        curve_evals = math.ceil(s.epochs / s.eval_every) if s.num_curve_val else 0  # type: ignore[operator]
        predicted = s.num_val + s.num_curve_val * curve_evals + 2 * s.num_overlays
        # COCO matching, Boundary AP and clDice roughly double the cost of predicting an image
        seconds = per_iteration * iterations + 2 * per_image * predicted
        source = f"estimated from timing {n} training iterations and one prediction on this machine"
        line = (
            f"expected about {_minutes(seconds)} on this machine ({iterations} iterations at "
            f"{per_iteration:.2f} s, timed on {n}, and {predicted} evaluated images)"
        )
    return {"seconds": round(seconds, 1), "source": source, "line": line}


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _train(
    model: Any,
    train_set: Any,
    val_set: Any,
    s: DemoSettings,
    *,
    out_dir: Path,
    seed: int,
    device: str | torch.device | None,
    progress: bool,
    overwrite: bool,
) -> list[dict[str, Any]]:
    """Step 4: :func:`~maskrcnn_custom.fit` with the preset's recipe; returns fit's per-epoch history."""
    from torch.utils.data import Subset

    from .engine import fit

    curve_set = Subset(val_set, range(s.num_curve_val)) if s.num_curve_val else None
    logger.info(
        "[4/7] training for %d iterations; the learning curve evaluates %d held-out images every %d epoch(s)",
        s.epochs * s.iters_per_epoch,  # type: ignore[operator]
        s.num_curve_val,
        s.eval_every,
    )
    fit_result = fit(
        model,
        train_set,
        curve_set,
        output_dir=out_dir / "training",
        recipe=s.recipe,
        device=device,
        seed=seed,
        eval_every=s.eval_every,
        print_freq=max(1, s.iters_per_epoch // 2),  # type: ignore[operator]
        progress=progress,
        tensorboard=False,
        save_pretrained=False,
        overwrite=overwrite,  # run_demo(overwrite=True) replaces a previous demo's training run
    )
    return list(fit_result.history)


def _evaluate(
    model: Any, val_set: Any, s: DemoSettings, *, progress: bool
) -> tuple[dict[str, Any], dict[str, float], torch.device]:
    """Step 5: COCO ``bbox``/``segm``, Boundary AP and clDice on every held-out image, and detection counts."""
    from torch.utils.data import DataLoader

    from .data import collate_fn
    from .engine import evaluate

    logger.info("[5/7] COCO evaluation on %d held-out images", s.num_val)
    model.eval()
    val_loader = DataLoader(val_set, batch_size=s.batch_size, shuffle=False, collate_fn=collate_fn)
    run_device = next(model.parameters()).device
    kept: list[int] = []

    def count(_module: Any, _inputs: Any, outputs: Any) -> None:
        if isinstance(outputs, list):
            kept.extend(int((o["scores"] > s.score_threshold).sum()) for o in outputs)

    hook = model.register_forward_hook(count)
    try:
        metrics = evaluate(model, val_loader, run_device, progress=progress)
    finally:
        hook.remove()
    objects = sum(len(val_set[i][1]["boxes"]) for i in range(len(val_set)))
    counts = {
        "detections_per_image": round(sum(kept) / max(1, len(kept)), 3),
        "all_detections_per_image": round(metrics["num_detections"] / max(1, metrics["num_images"]), 3),
        "objects_per_image": round(objects / max(1, len(val_set)), 3),
    }
    logger.info(
        "held-out segm AP %.3f (AP50 %.3f), bbox AP %.3f (AP50 %.3f), boundary AP %.3f (AP50 %.3f), clDice %.3f; "
        "%.2f detections per image with score > %g for %.2f objects",
        metrics["segm"]["AP"],
        metrics["segm"]["AP50"],
        metrics["bbox"]["AP"],
        metrics["bbox"]["AP50"],
        metrics["boundary"]["AP"],
        metrics["boundary"]["AP50"],
        metrics["skeleton"]["clDice"],
        counts["detections_per_image"],
        s.score_threshold,
        counts["objects_per_image"],
    )
    return metrics, counts, run_device


def _heldout_description(s: DemoSettings) -> str:
    return (
        f"{s.num_val} held-out images ({s.image_size} px) of the 'heldout' synthetic generator "
        f"(SyntheticConfig.heldout(), seed {HELDOUT_SEED}), configured differently from the training generator"
    )


def _save_and_reload(
    model: Any,
    val_set: Any,
    s: DemoSettings,
    metrics: dict[str, Any],
    pretrained_dir: Path,
    *,
    seed: int,
) -> tuple[Any, list[torch.Tensor]]:
    """Step 6: ``save_pretrained`` then ``from_pretrained``; the reloaded model must predict the same.

    Returns the reloaded model and the held-out images drawn in step 7.
    """
    from .hub import from_pretrained, save_pretrained
    from .inference import predict

    save_pretrained(
        model.cpu(),
        pretrained_dir,
        metrics={
            "segm_AP": float(metrics["segm"]["AP"]),
            "segm_AP50": float(metrics["segm"]["AP50"]),
            "bbox_AP": float(metrics["bbox"]["AP"]),
            "bbox_AP50": float(metrics["bbox"]["AP50"]),
            "boundary_AP": float(metrics["boundary"]["AP"]),
            "clDice": float(metrics["skeleton"]["clDice"]),
        },
        dataset_name=_heldout_description(s),
        recipe={
            **s.recipe.to_dict(),
            "training_images": f"{s.num_train} of SyntheticConfig() (seed {seed}), the preset's augmentation",
            "image_size": s.image_size,
            "seed": seed,
        },
        preset=s.training_preset,
        model_name=f"maskrcnn-custom demo ({s.preset} preset)",
        notes=(
            "Trained by `maskrcnn-custom demo` on synthetic data, from a random backbone; the metrics are "
            "measured on held-out images of a differently configured generator."
        ),
    )
    reloaded = from_pretrained(pretrained_dir)
    images = [val_set[i][0] for i in range(s.num_overlays or 1)]
    before = predict(model, images[:1], score_threshold=s.score_threshold)[0]
    after = predict(reloaded, images[:1], score_threshold=s.score_threshold)[0]
    if len(before) != len(after) or not torch.allclose(before.boxes, after.boxes, atol=1e-3):
        raise RuntimeError(
            f"the model reloaded from {str(pretrained_dir)!r} predicts {len(after)} objects where the trained "
            f"model predicts {len(before)}; the saved folder does not reproduce the model"
        )
    logger.info("[6/7] saved to %s and reloaded with from_pretrained (same predictions)", pretrained_dir)
    return reloaded, images


def _draw_overlays(
    model: Any, val_set: Any, images: list[torch.Tensor], s: DemoSettings, out_dir: Path, *, progress: bool
) -> tuple[list[Path], list[dict[str, int]]]:
    """Step 7: ``out_dir/overlays/val_*.png``, ground truth left and ``model``'s prediction right."""
    from .inference import draw_comparison, predict

    overlay_dir = out_dir / "overlays"
    overlay_dir.mkdir(exist_ok=True)
    overlay_paths: list[Path] = []
    predictions = predict(
        model, images[: s.num_overlays], score_threshold=s.score_threshold, progress=progress
    )
    detections = []
    for i, pred in enumerate(predictions):
        image, target = val_set[i]
        picture = draw_comparison(image, target, pred, score_threshold=s.score_threshold)
        overlay_paths.append(_write_png_atomic(picture, overlay_dir / f"val_{i:03d}.png"))
        detections.append({"image": i, "objects": len(target["boxes"]), "detections": len(pred)})
    logger.info(
        "[7/7] %d pictures in %s (ground truth left, prediction right, score > %g)",
        len(overlay_paths),
        overlay_dir,
        s.score_threshold,
    )
    return overlay_paths, detections


def _curve_points(
    history: list[dict[str, Any]], metrics: dict[str, Any], s: DemoSettings
) -> dict[str, list[tuple[float, float]]]:
    """Loss (each epoch's mean, at its middle) and AP (end of epoch; the final full evaluation last)."""
    iters = s.iters_per_epoch
    loss = [((r["epoch"] + 0.5) * iters, float(r["train"]["loss"])) for r in history]  # type: ignore[operator]
    points = {"loss": loss}
    for kind in ("segm", "bbox"):
        points[f"{kind}_AP_subset"] = [
            ((r["epoch"] + 1) * iters, float(r[kind]["AP"]))  # type: ignore[operator]
            for r in history
            if isinstance(r.get(kind), dict) and "AP" in r[kind]
        ]
        points[f"{kind}_AP_final"] = [(float(s.epochs * iters), float(metrics[kind]["AP"]))]  # type: ignore[operator]
    return points


def _draw_learning_curve(
    history: list[dict[str, Any]], metrics: dict[str, Any], s: DemoSettings, path: Path
) -> Path:
    """``learning_curve.png``: training loss (top) and held-out AP (bottom) against training iterations."""
    from PIL import Image, ImageDraw

    from ._utils.drawing import Series, font, line_chart

    points = _curve_points(history, metrics, s)
    total = float(s.epochs * s.iters_per_epoch)  # type: ignore[operator]
    img = Image.new("RGB", (960, 780), "white")
    draw = ImageDraw.Draw(img)
    draw.text(
        (480, 20),
        f"Learning curve of the demo: preset {s.preset!r}, {int(total)} iterations of "
        f"{s.batch_size} images, {s.image_size} px",
        fill="black",
        font=font(19),
        anchor="mt",
    )
    line_chart(
        img,
        (80, 80, 930, 340),
        [Series("training loss (mean of each epoch)", points["loss"], (31, 119, 180))],
        x_max=total,
        x_label="training iterations",
        y_label="training loss (sum of the Mask R-CNN losses)",
        y_format="{:g}",
    )
    blue, red = (31, 119, 180), (214, 39, 40)
    n_sub, n_all = min(s.num_curve_val, s.num_val), s.num_val
    ap_values = [y for k, v in points.items() if "AP" in k for _, y in v]
    line_chart(
        img,
        (80, 420, 930, 690),
        [
            Series(f"segm (mask) AP, {n_sub} held-out images", points["segm_AP_subset"], blue),
            Series(f"bbox AP, {n_sub} held-out images", points["bbox_AP_subset"], red, dashed=True),
            Series(
                f"segm AP, all {n_all} held-out images (final)",
                points["segm_AP_final"],
                blue,
                line=False,
                marker_size=7,
            ),
            Series(
                f"bbox AP, all {n_all} held-out images (final)",
                points["bbox_AP_final"],
                red,
                line=False,
                marker_size=7,
            ),
        ],
        x_max=total,
        y_label="COCO AP on held-out images (differently configured generator)",
        x_label="training iterations",
        y_max=max([0.05, *ap_values]) * 1.15,
        legend="left",
    )
    draw.text(
        (480, 760),
        "AP during training on the first held-out images; the big dots: the final evaluation on all of them",
        fill=(80, 80, 80),
        font=font(13),
        anchor="mm",
    )
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path


def _write_report(
    report: DemoReport,
    metrics: dict[str, Any],
    detections: list[dict[str, int]],
    history: list[dict[str, Any]],
    preset: TrainingPreset,
    *,
    seed: int,
    device: torch.device,
) -> None:
    """``out_dir/metrics.json``: preset, settings, recipe, expected time, losses, held-out metrics, pictures."""
    out_dir, s = report.out_dir, report.settings
    settings = s if s is not None else demo_settings()
    curve = _curve_points(history, metrics, settings)
    _write_json_atomic(
        {
            "preset": preset.to_dict(),
            "backbone": _backbone_of(preset),
            "seed": seed,
            "device": str(device),
            "settings": asdict(settings),
            "recipe": settings.recipe.to_dict(),
            "expected_time": report.expected,
            "validation": {
                "what": _heldout_description(settings),
                "generator": "heldout",
                "seed": HELDOUT_SEED,
                "images": settings.num_val,
                "held_out": True,
                "note": "the metrics measure generalisation: no validation image or its generator's settings "
                "is seen in training",
            },
            "train_loss_per_epoch": [round(float(r["train"]["loss"]), 4) for r in history],
            **{k: metrics[k] for k in DEMO_METRICS},
            "segm_elongation": metrics.get("segm_elongation"),
            **report.counts,
            "score_threshold": settings.score_threshold,
            "learning_curve": {
                "path": str(report.learning_curve_path.relative_to(out_dir))
                if report.learning_curve_path is not None
                else None,
                "curve_images": min(settings.num_curve_val, settings.num_val),
                "eval_every_epochs": settings.eval_every,
                **{k: [[round(x, 1), round(y, 5)] for x, y in v] for k, v in curve.items()},
            },
            "overlays": [
                {**d, "path": str(p.relative_to(out_dir))}
                for d, p in zip(detections, report.overlay_paths, strict=True)
            ],
            "pretrained_dir": str(report.pretrained_dir.relative_to(out_dir)),
            "seconds": report.seconds,
            "torch": torch.__version__,
        },
        report.metrics_path,
    )
