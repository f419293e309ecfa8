"""The end-to-end demo: synthetic data, a short training run, COCO evaluation, save, reload and overlay pictures.

:func:`run_demo` is what ``maskrcnn-custom demo`` runs. It needs nothing from the network: the backbone starts
from random weights and the data is generated on the fly, so it works offline on a fresh machine.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ._utils.atomic import atomic_path, atomic_write_text
from ._utils.checks import check_fraction, check_non_negative_int, check_number, check_positive_int
from .recipe import TrainingRecipe, get_recipe

__all__ = ["DEMO_BACKBONES", "DEMO_METRICS", "DemoReport", "DemoSettings", "demo_settings", "run_demo"]

logger = logging.getLogger(__name__)

#: Backbones the demo can train: ResNet-18 (fast, the default) and ResNet-101 (the seed network).
DEMO_BACKBONES: tuple[str, ...] = ("resnet18", "resnet101")

#: The metric groups of :func:`maskrcnn_custom.evaluate` the demo keeps, reports and writes to metrics.json:
#: COCO box and mask AP, Boundary AP and the skeleton scores (clDice, ...).
DEMO_METRICS: tuple[str, ...] = ("bbox", "segm", "boundary", "skeleton")

_DEMO = get_recipe("demo")


@dataclass(frozen=True)
class DemoSettings:
    """Sizes and recipe of a demo run.

    The training fields start from the ``"demo"`` :class:`~maskrcnn_custom.TrainingRecipe` preset
    (:func:`maskrcnn_custom.get_recipe`); :attr:`recipe` is the recipe :func:`run_demo` trains with.

    Attributes:
        image_size: Side of the square synthetic images and the model's ``min_size``/``max_size``. The seed's
            anchor sizes are scaled by ``image_size / 256`` (the objects are sized relative to the image).
        num_train: Training images (generated on demand, so this only bounds the variety).
        num_val: Held-out validation images (a different seed) for the COCO evaluation.
        epochs: Training epochs.
        iters_per_epoch: Iterations per epoch.
        batch_size: Images per iteration.
        optimizer: ``"adamw"`` (default) or ``"sgd"`` (momentum 0.9), both with the preset's weight decay,
            linear warm-up, the rate halved for the last epoch and gradients clipped at norm 10 (AdamW reaches
            about twice SGD's AP here; see docs/training.md).
        lr: Peak learning rate (5e-4 suits AdamW; about 0.02 suits SGD from scratch).
        warmup_iters: Linear warm-up iterations.
        box_batch_size_per_image: RoIs sampled per image for the box and mask heads (torchvision: 512). Fewer
            RoIs make a CPU step several times cheaper; the mask head's cost grows with the positives.
        max_detections: Most detections per image at evaluation (the model's ``box_detections_per_img``).
        num_objects: ``(min, max)`` objects per synthetic image (see :class:`~maskrcnn_custom.SyntheticConfig`).
        width_range: ``(min, max)`` object width as a fraction of the image side. The demo's objects are a
            little thicker than the generator's default (0.012-0.04), so that a few minutes of training from
            scratch at 128 px find them.
        num_overlays: Validation images drawn with their predictions.
        score_threshold: Detections drawn on the overlays score above this.
    """

    image_size: int = 128
    num_train: int = 2000
    num_val: int = 50
    epochs: int = _DEMO.epochs
    iters_per_epoch: int = _DEMO.iters_per_epoch or 1
    batch_size: int = _DEMO.batch_size
    optimizer: str = _DEMO.optimizer
    lr: float = _DEMO.lr
    warmup_iters: int = _DEMO.warmup_iters or 0
    box_batch_size_per_image: int = 32
    max_detections: int = 100
    num_objects: tuple[int, int] = (1, 5)
    width_range: tuple[float, float] = (0.025, 0.06)
    num_overlays: int = 4
    score_threshold: float = 0.5

    def __post_init__(self) -> None:
        for name in (
            "image_size",
            "num_train",
            "num_val",
            "epochs",
            "iters_per_epoch",
            "batch_size",
            "box_batch_size_per_image",
            "max_detections",
        ):
            check_positive_int(getattr(self, name), name)
        if self.image_size < 32 or self.image_size % 32:
            raise ValueError(f"image_size must be a multiple of 32 and >= 32, got {self.image_size!r}")
        for name in ("warmup_iters", "num_overlays"):
            check_non_negative_int(getattr(self, name), name)
        if self.num_overlays > self.num_val:
            raise ValueError(f"num_overlays ({self.num_overlays}) must be <= num_val ({self.num_val})")
        check_number(self.lr, "lr", minimum=0, maximum=1, min_inclusive=False, max_inclusive=False)
        self.recipe  # noqa: B018 (checks the optimiser and the other recipe fields)
        check_fraction(self.score_threshold, "score_threshold")
        from .data import SyntheticConfig

        SyntheticConfig(num_objects=self.num_objects, width_range=self.width_range)  # checks both ranges

    @property
    def recipe(self) -> TrainingRecipe:
        """The ``"demo"`` preset with these settings' training fields; the rate halves for the last epoch.

        Examples:
            >>> from maskrcnn_custom.demo import demo_settings
            >>> demo_settings(epochs=4).recipe.lr_step_size
            3
        """
        return _DEMO.replace(
            epochs=self.epochs,
            iters_per_epoch=self.iters_per_epoch,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            lr=self.lr,
            warmup_iters=self.warmup_iters,
            lr_step_size=max(1, self.epochs - 1),
        )


def demo_settings(*, fast: bool = False, **overrides: Any) -> DemoSettings:
    """The demo's default settings, or the tiny ``fast`` ones (seconds, for tests), with ``overrides`` applied.

    Args:
        fast: Tiny images and a few iterations: checks the whole pipeline, trains nothing useful.
        **overrides: Any :class:`DemoSettings` field.

    Returns:
        The settings.

    Raises:
        ValueError: For an unknown field or an invalid value.

    Examples:
        >>> from maskrcnn_custom.demo import demo_settings
        >>> demo_settings(fast=True).image_size
        64
    """
    base = DemoSettings()
    if fast:
        base = replace(
            base,
            image_size=64,
            num_train=16,
            num_val=4,
            epochs=1,
            iters_per_epoch=3,
            batch_size=2,
            warmup_iters=2,
            box_batch_size_per_image=16,
            max_detections=20,
            num_overlays=2,
        )
    unknown = sorted(set(overrides) - set(DemoSettings.__dataclass_fields__))
    if unknown:
        raise ValueError(
            f"unknown demo setting(s) {unknown}; known: {sorted(DemoSettings.__dataclass_fields__)}"
        )
    return replace(base, **overrides)


@dataclass
class DemoReport:
    """What :func:`run_demo` produced.

    Attributes:
        out_dir: The output folder.
        pretrained_dir: The ``save_pretrained`` folder (load it with :func:`maskrcnn_custom.from_pretrained`).
        metrics_path: ``metrics.json``.
        overlay_paths: The overlay pictures (ground truth left, prediction right).
        metrics: COCO ``bbox`` and ``segm`` metrics (``AP``, ``AP50``, ...), ``boundary`` (Boundary AP, the same
            12 numbers) and ``skeleton`` (``clDice``, ``Tprec``, ``Tsens``, ``recall``) on the validation images.
        seconds: Wall time of each stage and in total.
        settings: The settings used.
    """

    out_dir: Path
    pretrained_dir: Path
    metrics_path: Path
    overlay_paths: list[Path] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    settings: DemoSettings | None = None


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


def _build_model(
    backbone: str, settings: DemoSettings, num_classes: int, class_names: tuple[str, ...]
) -> Any:
    from .models import SEED_ANCHOR_SIZES, maskrcnn_resnet18_fpn, maskrcnn_resnet101_fpn

    builder = maskrcnn_resnet18_fpn if backbone == "resnet18" else maskrcnn_resnet101_fpn
    scale = settings.image_size / 256
    anchor_sizes = tuple(tuple(round(s * scale, 2) for s in level) for level in SEED_ANCHOR_SIZES)
    return builder(
        weights_backbone=None,
        num_classes=num_classes,
        class_names=class_names,
        anchor_sizes=anchor_sizes,
        min_size=settings.image_size,
        max_size=settings.image_size,
        box_batch_size_per_image=settings.box_batch_size_per_image,
        box_detections_per_img=settings.max_detections,
        rpn_pre_nms_top_n_train=1000,
        rpn_post_nms_top_n_train=600,
    )


def _ground_truth_overlay(image: torch.Tensor, target: dict[str, torch.Tensor]) -> torch.Tensor:
    from .inference import Prediction, draw_overlay

    n = len(target["boxes"])
    truth = Prediction(
        boxes=target["boxes"].float(),
        labels=target["labels"],
        scores=torch.ones(n),
        masks=target["masks"].bool(),
        image_size=(int(image.shape[-2]), int(image.shape[-1])),
    )
    return draw_overlay(image, truth, labels=False)


def run_demo(
    out_dir: str | os.PathLike[str],
    *,
    backbone: str = "resnet18",
    fast: bool = False,
    settings: DemoSettings | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> DemoReport:
    """Generate synthetic data, train briefly, evaluate, save, reload and draw predictions.

    Steps, each logged (``logging``, INFO) with progress bars for training, evaluation and prediction:

    1. synthetic train and validation sets (:class:`~maskrcnn_custom.SyntheticElongatedDataset`, two seeds);
    2. a Mask R-CNN with the seed's architecture on ``backbone``, from random weights (nothing is downloaded);
    3. training with :func:`maskrcnn_custom.fit` (checkpoints and logs in ``out_dir/training``);
    4. COCO ``bbox``/``segm``, Boundary AP and clDice on the validation set (:func:`maskrcnn_custom.evaluate`);
    5. :func:`~maskrcnn_custom.save_pretrained` to ``out_dir/model``, then
       :func:`~maskrcnn_custom.from_pretrained` from it; the reloaded model must predict what the trained one
       does;
    6. overlay pictures ``out_dir/overlays/val_*.png`` (ground truth left, the reloaded model's prediction right)
       and ``out_dir/metrics.json``.

    Args:
        out_dir: Output folder (created; must be empty unless ``overwrite``).
        backbone: ``"resnet18"`` (fast) or ``"resnet101"`` (the seed network; several times slower).
        fast: Tiny settings that finish in seconds (see :func:`demo_settings`); ignored if ``settings`` is given.
        settings: Explicit :class:`DemoSettings`.
        seed: Seed of the data (train uses ``seed``, validation ``seed + 1``) and of training.
        device: ``"cpu"``, ``"cuda"`` or ``None`` (CUDA when available).
        progress: Show progress bars.
        overwrite: Allow a non-empty ``out_dir`` (the demo's files in it are replaced).

    Returns:
        A :class:`DemoReport` (also written to ``out_dir/metrics.json``).

    Raises:
        ValueError: For an unknown ``backbone``, invalid settings, or an ``out_dir`` that is a file.
        FileExistsError: If ``out_dir`` is not empty and ``overwrite`` is false.
        ImportError: If pycocotools is missing (``pip install "maskrcnn-custom[coco]"``).
        RuntimeError: If the reloaded model does not reproduce the trained model's predictions.

    Examples:
        >>> from maskrcnn_custom.demo import run_demo
        >>> report = run_demo("demo/", fast=True, progress=False)  # doctest: +SKIP
        >>> report.metrics["segm"]["AP"], report.overlay_paths[0].name  # doctest: +SKIP
        (0.0, 'val_000.png')
    """
    settings = _check_demo_arguments(backbone, fast, settings, seed)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, overwrite)
    _require_coco_backend()
    start = time.perf_counter()
    seconds: dict[str, float] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    s = settings
    logger.info(
        "demo: %s, %d px images, %d epochs x %d iterations of %d images, output in %s",
        backbone,
        s.image_size,
        s.epochs,
        s.iters_per_epoch,
        s.batch_size,
        out_dir,
    )
    train_set, val_set = _make_data(s, seed)
    model = _make_model(backbone, s, train_set, seed)
    with _timed(seconds, "train"):
        losses = _train(
            model,
            train_set,
            s,
            out_dir=out_dir,
            seed=seed,
            device=device,
            progress=progress,
            overwrite=overwrite,
        )
    logger.info("training took %.0f s; mean loss per epoch: %s", seconds["train"], losses)
    with _timed(seconds, "evaluate"):
        metrics, run_device = _evaluate(model, val_set, s, progress=progress)
    with _timed(seconds, "save_reload"):
        pretrained_dir = out_dir / "model"
        reloaded, images = _save_and_reload(
            model, val_set, s, metrics, pretrained_dir, backbone=backbone, seed=seed
        )
    with _timed(seconds, "overlays"):
        overlay_paths, detections = _draw_overlays(reloaded, val_set, images, s, out_dir, progress=progress)
    seconds["total"] = time.perf_counter() - start
    report = DemoReport(
        out_dir=out_dir,
        pretrained_dir=pretrained_dir,
        metrics_path=out_dir / "metrics.json",
        overlay_paths=overlay_paths,
        metrics={k: metrics[k] for k in DEMO_METRICS if k in metrics},
        seconds={k: round(v, 2) for k, v in seconds.items()},
        settings=s,
    )
    _write_report(report, metrics, detections, backbone=backbone, seed=seed, device=run_device, losses=losses)
    logger.info(
        "done in %.0f s: segm AP %.3f, bbox AP %.3f, boundary AP %.3f, clDice %.3f; %s, %s",
        seconds["total"],
        metrics["segm"]["AP"],
        metrics["bbox"]["AP"],
        metrics["boundary"]["AP"],
        metrics["skeleton"]["clDice"],
        report.metrics_path,
        pretrained_dir,
    )
    return report


def _check_demo_arguments(
    backbone: str, fast: bool, settings: DemoSettings | None, seed: int
) -> DemoSettings:
    """Check ``run_demo``'s arguments and return the settings to use."""
    if backbone not in DEMO_BACKBONES:
        raise ValueError(f"backbone must be one of {DEMO_BACKBONES}, got {backbone!r}")
    if settings is None:
        settings = demo_settings(fast=fast)
    elif not isinstance(settings, DemoSettings):
        raise TypeError(
            f"settings must be a DemoSettings (see demo_settings()), got {type(settings).__name__}"
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
    """Step 1: the synthetic train (``seed``) and validation (``seed + 1``) sets."""
    from .data import SyntheticConfig, SyntheticElongatedDataset

    data_config = SyntheticConfig(num_objects=s.num_objects, width_range=s.width_range)
    train_set = SyntheticElongatedDataset(s.num_train, image_size=s.image_size, seed=seed, config=data_config)
    val_set = SyntheticElongatedDataset(s.num_val, image_size=s.image_size, seed=seed + 1, config=data_config)
    logger.info(
        "[1/6] synthetic data: %d train / %d validation images (generated on demand)", s.num_train, s.num_val
    )
    return train_set, val_set


def _make_model(backbone: str, s: DemoSettings, train_set: Any, seed: int) -> Any:
    """Step 2: the seed architecture on ``backbone``, from random weights seeded with ``seed``."""
    torch.manual_seed(seed)
    class_names = ("background", *train_set.category_names)
    model = _build_model(backbone, s, train_set.num_classes, class_names)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("[2/6] model: Mask R-CNN %s-FPN from scratch, %.1f M parameters", backbone, n_params / 1e6)
    return model


def _train(
    model: Any,
    train_set: Any,
    s: DemoSettings,
    *,
    out_dir: Path,
    seed: int,
    device: str | torch.device | None,
    progress: bool,
    overwrite: bool,
) -> list[float]:
    """Step 3: :func:`~maskrcnn_custom.fit` with the settings' recipe; returns the mean loss of each epoch."""
    from .engine import fit

    logger.info("[3/6] training for %d iterations", s.epochs * s.iters_per_epoch)
    fit_result = fit(
        model,
        train_set,
        None,
        output_dir=out_dir / "training",
        recipe=s.recipe,
        device=device,
        seed=seed,
        print_freq=max(1, s.iters_per_epoch // 2),
        progress=progress,
        tensorboard=False,
        save_pretrained=False,
        overwrite=overwrite,  # run_demo(overwrite=True) replaces a previous demo's training run
    )
    return [round(float(r["train"]["loss"]), 4) for r in fit_result.history]


def _evaluate(
    model: Any, val_set: Any, s: DemoSettings, *, progress: bool
) -> tuple[dict[str, Any], torch.device]:
    """Step 4: COCO ``bbox``/``segm``, Boundary AP and clDice on the validation set; returns them and the device."""
    from torch.utils.data import DataLoader

    from .data import collate_fn
    from .engine import evaluate

    logger.info("[4/6] COCO evaluation on %d validation images", s.num_val)
    model.eval()
    val_loader = DataLoader(val_set, batch_size=s.batch_size, shuffle=False, collate_fn=collate_fn)
    run_device = next(model.parameters()).device
    metrics = evaluate(model, val_loader, run_device, progress=progress)
    logger.info(
        "segm AP %.3f (AP50 %.3f), bbox AP %.3f (AP50 %.3f), boundary AP %.3f (AP50 %.3f), clDice %.3f",
        metrics["segm"]["AP"],
        metrics["segm"]["AP50"],
        metrics["bbox"]["AP"],
        metrics["bbox"]["AP50"],
        metrics["boundary"]["AP"],
        metrics["boundary"]["AP50"],
        metrics["skeleton"]["clDice"],
    )
    return metrics, run_device


def _save_and_reload(
    model: Any,
    val_set: Any,
    s: DemoSettings,
    metrics: dict[str, Any],
    pretrained_dir: Path,
    *,
    backbone: str,
    seed: int,
) -> tuple[Any, list[torch.Tensor]]:
    """Step 5: ``save_pretrained`` then ``from_pretrained``; the reloaded model must predict the same.

    Returns the reloaded model and the validation images drawn in step 6.
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
        dataset_name=f"maskrcnn-custom synthetic, {s.num_val} validation images of {s.image_size} px",
        recipe={**s.recipe.to_dict(), "demo": asdict(s), "backbone": backbone, "seed": seed},
        model_name=f"maskrcnn-custom demo ({backbone})",
        notes="Trained briefly by `maskrcnn-custom demo` on synthetic data, from a random backbone.",
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
    logger.info("[5/6] saved to %s and reloaded with from_pretrained (same predictions)", pretrained_dir)
    return reloaded, images


def _draw_overlays(
    model: Any, val_set: Any, images: list[torch.Tensor], s: DemoSettings, out_dir: Path, *, progress: bool
) -> tuple[list[Path], list[dict[str, int]]]:
    """Step 6: ``out_dir/overlays/val_*.png``, ground truth left and ``model``'s prediction right."""
    from .inference import draw_overlay, predict

    overlay_dir = out_dir / "overlays"
    overlay_dir.mkdir(exist_ok=True)
    overlay_paths: list[Path] = []
    predictions = predict(
        model, images[: s.num_overlays], score_threshold=s.score_threshold, progress=progress
    )
    detections = []
    for i, pred in enumerate(predictions):
        image, target = val_set[i]
        gap = torch.full((3, image.shape[-2], 4), 255, dtype=torch.uint8)
        picture = torch.cat([_ground_truth_overlay(image, target), gap, draw_overlay(image, pred)], dim=2)
        overlay_paths.append(_write_png_atomic(picture, overlay_dir / f"val_{i:03d}.png"))
        detections.append({"image": i, "objects": len(target["boxes"]), "detections": len(pred)})
    logger.info("[6/6] %d overlay pictures in %s", len(overlay_paths), overlay_dir)
    return overlay_paths, detections


def _write_report(
    report: DemoReport,
    metrics: dict[str, Any],
    detections: list[dict[str, int]],
    *,
    backbone: str,
    seed: int,
    device: torch.device,
    losses: list[float],
) -> None:
    """``out_dir/metrics.json``: settings, recipe, losses, metrics, overlays and timings."""
    out_dir, s = report.out_dir, report.settings
    _write_json_atomic(
        {
            "backbone": backbone,
            "seed": seed,
            "device": str(device),
            "settings": asdict(s) if s is not None else None,
            "recipe": s.recipe.to_dict() if s is not None else None,
            "train_loss_per_epoch": losses,
            **{k: metrics[k] for k in DEMO_METRICS},
            "segm_elongation": metrics.get("segm_elongation"),
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
