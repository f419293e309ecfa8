"""Whole-model weights: ``save_pretrained``, ``from_pretrained``, ``push_to_hub`` and the builders' ``weights=``.

A saved model is a folder with ``config.json`` (the model's :class:`MaskRCNNConfig`, the library version and
the class names), ``model.safetensors`` (the state dict) and ``README.md`` (a model card). The same folder
is what ``push_to_hub`` uploads and what ``from_pretrained`` reads, locally or from the Hub. Nothing is
ever unpickled: weights travel as safetensors only.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import math
import os
import re
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torchvision.models.detection.mask_rcnn import MaskRCNN

from .._utils.atomic import atomic_write, atomic_write_text
from .._version import __version__
from ..models.builder import build_model
from ..models.config import MaskRCNNConfig, as_level_tuples
from ..models.validation import check_detector_kwargs, validate_config
from .card import render_model_card
from .source import (
    CARD_NAME,
    CONFIG_NAME,
    FORMAT_VERSION,
    LIBRARY_NAME,
    WEIGHTS_NAME,
    PretrainedLike,
    WeightsSource,
    locate,
    parse_config,
    read_weights,
)

__all__ = [
    "CLASS_DEPENDENT_PREFIXES",
    "build_with_weights",
    "from_pretrained",
    "push_to_hub",
    "save_pretrained",
]

logger = logging.getLogger(__name__)

#: State-dict prefixes of the layers whose shape depends on ``num_classes``.
CLASS_DEPENDENT_PREFIXES: tuple[str, ...] = (
    "roi_heads.box_predictor.cls_score.",
    "roi_heads.box_predictor.bbox_pred.",
    "roi_heads.mask_predictor.mask_fcn_logits.",
)

_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


# --------------------------------------------------------------------------------------------- saving


def _model_config(model: Any, what: str = "model") -> MaskRCNNConfig:
    config = getattr(model, "config", None)
    if not isinstance(model, torch.nn.Module) or not isinstance(config, MaskRCNNConfig):
        raise TypeError(
            f"{what} must be a Mask R-CNN built by maskrcnn-custom (it carries its MaskRCNNConfig as "
            f"model.config), got {type(model).__name__}. Build it with build_model(config) or a builder such as "
            "maskrcnn_resnet101_fpn"
        )
    cls_score = getattr(getattr(getattr(model, "roi_heads", None), "box_predictor", None), "cls_score", None)
    if isinstance(cls_score, torch.nn.Linear) and cls_score.out_features != config.num_classes:
        raise ValueError(
            f"model.config says num_classes={config.num_classes} but the box predictor has "
            f"{cls_score.out_features} outputs; the heads were replaced after building. Build the model with "
            f"num_classes={cls_score.out_features} instead (or from_pretrained(..., num_classes=N))"
        )
    return config


def _check_metrics(metrics: Mapping[str, float] | None) -> dict[str, float]:
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a mapping of names to numbers, got {type(metrics).__name__}")
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"metrics keys must be non-empty strings, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            raise ValueError(f"metrics[{key!r}] must be a finite number, got {value!r}")
        out[key] = float(value)
    return out


def save_pretrained(
    model: MaskRCNN,
    directory: str | os.PathLike,
    *,
    metrics: Mapping[str, float] | None = None,
    class_names: Sequence[str] | None = None,
    license: str = "mit",
    tags: Sequence[str] = (),
    dataset_name: str = "custom",
    recipe: Mapping[str, Any] | None = None,
    repo_id: str | None = None,
    model_name: str | None = None,
    notes: str | None = None,
) -> Path:
    """Save ``model`` as a folder: ``config.json``, ``model.safetensors`` and a ``README.md`` model card.

    Each file is written atomically (temporary file in the same folder, then ``os.replace``), so an
    interrupted save never leaves a half-written file, and an existing folder is updated in place.

    Args:
        model: A model built by this library (it carries ``model.config``).
        directory: Destination folder (created if needed).
        metrics: Evaluation results for the model card, e.g. ``{"segm_mAP": 0.61}``.
        class_names: Names of the ``num_classes`` classes, background first (stored in ``config.json``;
            default: the config's own).
        license: License of the weights, for the card's front matter.
        tags: Extra tags for the card.
        dataset_name: What ``metrics`` were measured on.
        recipe: Training recipe to record in the card (optimizer, schedule, data, ...).
        repo_id: Hub repository the folder is meant for (used in the card's usage snippet).
        model_name: Title of the card (default: the repo name or the folder name).
        notes: Free text for the card.

    Returns:
        The folder.

    Raises:
        TypeError: If ``model`` was not built by this library, or an argument has the wrong type.
        ValueError: If ``class_names`` or ``metrics`` are invalid, or ``directory`` is a file.

    Examples:
        >>> import tempfile
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn, save_pretrained
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None, num_classes=3)
        >>> folder = save_pretrained(model, tempfile.mkdtemp(), metrics={"segm_mAP": 0.5})
        >>> sorted(p.name for p in folder.iterdir())
        ['README.md', 'config.json', 'model.safetensors']
    """
    from safetensors.torch import save_file

    config = _model_config(model)
    metrics = _check_metrics(metrics)
    if class_names is not None:
        if isinstance(class_names, str) or not isinstance(class_names, Sequence):
            raise TypeError(f"class_names must be a sequence of strings, got {type(class_names).__name__}")
        config = config.replace(class_names=tuple(class_names))
        validate_config(config)
    if repo_id is not None and not _REPO_ID_RE.match(repo_id):
        raise ValueError(f"repo_id must look like 'org/name', got {repo_id!r}")
    folder = Path(directory).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"directory={str(folder)!r} is a file; pass a folder path")
    folder.mkdir(parents=True, exist_ok=True)

    payload = {
        "library_name": LIBRARY_NAME,
        "library_version": __version__,
        "format_version": FORMAT_VERSION,
        **config.to_dict(),
    }
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "pt", "library_name": LIBRARY_NAME, "library_version": __version__}
    name = model_name or (repo_id.split("/")[-1] if repo_id else folder.resolve().name)
    card = render_model_card(
        config,
        name=name,
        repo_id=repo_id,
        license=license,
        tags=tags,
        metrics=metrics,
        dataset_name=dataset_name,
        recipe=recipe,
        notes=notes,
    )
    atomic_write(folder / WEIGHTS_NAME, lambda p: save_file(tensors, str(p), metadata=meta))
    atomic_write_text(folder / CONFIG_NAME, json.dumps(payload, indent=2) + "\n")
    atomic_write_text(folder / CARD_NAME, card)
    logger.info("saved %s (%d tensors) to %s", config.backbone.name, len(tensors), folder)
    return folder


# --------------------------------------------------------------------------------------------- loading


def _check_num_classes(num_classes: Any) -> None:
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
    ):
        raise ValueError(
            f"num_classes must be None (keep the weights' classes) or an int >= 2 (your classes plus the "
            f"background), got {num_classes!r}"
        )


def _device(map_location: Any) -> torch.device:
    try:
        return torch.device(map_location)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"map_location must name a torch device such as 'cpu' or 'cuda:0', got {map_location!r}"
        ) from exc


def _is_class_dependent(key: str) -> bool:
    return key.startswith(CLASS_DEPENDENT_PREFIXES)


def _materialise(
    config: MaskRCNNConfig,
    state: dict[str, torch.Tensor],
    origin: str,
    *,
    num_classes: int | None,
    device: torch.device,
) -> MaskRCNN:
    """Build the model from ``config`` and load ``state`` strictly (except re-initialised class layers)."""
    dropped: list[str] = []
    saved_classes = config.num_classes
    if num_classes is not None and num_classes != config.num_classes:
        config = config.replace(num_classes=num_classes, class_names=None)
        dropped = sorted(k for k in state if _is_class_dependent(k))
        state = {k: v for k, v in state.items() if k not in dropped}
    model = build_model(config)  # output layers get init_output_layers' small normal initialisation
    target = model.state_dict()
    fresh = {k for k in target if _is_class_dependent(k)} if dropped else set()
    missing = sorted(set(target) - set(state) - fresh)
    unexpected = sorted(set(state) - set(target))
    shapes = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(target[k].shape)}"
        for k in set(state) & set(target)
        if state[k].shape != target[k].shape
    )
    if missing or unexpected or shapes:

        def show(items: list[str]) -> str:
            return f"{items[:10]}{' ...' if len(items) > 10 else ''} ({len(items)})"

        raise ValueError(
            f"the weights of {origin} do not fit the model its {CONFIG_NAME} describes: missing keys "
            f"{show(missing)}, unexpected keys {show(unexpected)}, shape mismatches {show(shapes)}. "
            f"{CONFIG_NAME} and {WEIGHTS_NAME} do not belong together (edited, or mixed from two saves): save the "
            "model again with save_pretrained, or use the matching files"
        )
    result = model.load_state_dict(state, strict=not dropped)
    if dropped and (sorted(result.missing_keys) != sorted(fresh) or result.unexpected_keys):
        raise RuntimeError(
            f"internal error: unexpected keys after partial load: {result}"
        )  # pragma: no cover
    if dropped:
        warnings.warn(
            f"from_pretrained(num_classes={num_classes}): the weights of {origin} have {saved_classes} classes, so "
            f"the class-dependent layers were re-initialised and {len(dropped)} keys of the checkpoint were "
            f"dropped: {', '.join(dropped)}. Fine-tune the model before use.",
            UserWarning,
            stacklevel=3,
        )
    model.eval()
    if device.type != "cpu":
        model.to(device)
    return model


def from_pretrained(
    repo_id_or_path: PretrainedLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    num_classes: int | None = None,
    map_location: str | torch.device = "cpu",
    progress: bool = True,
) -> MaskRCNN:
    """Load a model saved with :func:`save_pretrained`, from a folder or the Hugging Face Hub.

    The model is rebuilt from ``config.json`` (so the architecture always matches the weights), the
    weights are loaded strictly from ``model.safetensors``, and the model is returned in eval mode.
    Hub downloads go through ``huggingface_hub``: ``HF_HOME``, ``HF_HUB_OFFLINE=1`` (cache only) and
    ``HF_ENDPOINT`` are honoured.

    Args:
        repo_id_or_path: A local folder, a Hub repo id (``"org/name"`` or ``"org/name@revision"``), or a
            :class:`MaskRCNNWeights` member (or its name). An existing folder wins over a repo id spelled
            the same way.
        revision: Hub branch, tag or commit hash.
        cache_dir: Hugging Face cache folder (default: ``HF_HOME/hub``).
        local_files_only: Use the cache only, never the network.
        token: Hub token for private repositories.
        num_classes: Number of classes to fine-tune for. When it differs from the weights', only the
            class-dependent layers (box ``cls_score`` and ``bbox_pred``, mask ``mask_fcn_logits``) are
            re-initialised and a ``UserWarning`` lists every dropped key.
        map_location: Device to put the model on.
        progress: Show download progress bars.

    Returns:
        The model in eval mode, with its config in ``model.config``.

    Raises:
        FileNotFoundError: If the folder, repo, revision or file does not exist, or nothing is cached while
            offline (the message names what was tried and what to do).
        ValueError: If ``config.json`` comes from a newer library, or the weights do not fit it, or the
            weights file is corrupt, or an argument is invalid.

    Examples:
        >>> import tempfile
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn, save_pretrained, from_pretrained
        >>> folder = save_pretrained(maskrcnn_resnet18_fpn(weights_backbone=None), tempfile.mkdtemp())
        >>> model = from_pretrained(folder)
        >>> model.training
        False
    """
    _check_num_classes(num_classes)
    device = _device(map_location)
    source = locate(repo_id_or_path, revision=revision)
    kw = {"cache_dir": cache_dir, "local_files_only": local_files_only, "token": token, "progress": progress}
    config = parse_config(source.file(CONFIG_NAME, **kw), source.origin)
    state = read_weights(source.file(WEIGHTS_NAME, **kw), source.origin)
    return _materialise(config, state, source.origin, num_classes=num_classes, device=device)


# --------------------------------------------------------------------------------------------- pushing


def push_to_hub(
    model: MaskRCNN,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload maskrcnn-custom model",
    revision: str | None = None,
    metrics: Mapping[str, float] | None = None,
    **card_kwargs: Any,
) -> str:
    """Save ``model`` with :func:`save_pretrained` into a temporary folder and upload it to the Hub.

    The repository is created if needed (``HfApi.create_repo(exist_ok=True)``), a ``revision`` branch too,
    then the folder is uploaded in one commit (``HfApi.upload_folder``).

    Args:
        model: A model built by this library.
        repo_id: Target repository, ``"org/name"``.
        private: Create the repository as private (only when it does not exist yet).
        token: Hub token with write access (default: the logged-in user's).
        commit_message: Message of the upload commit.
        revision: Branch to upload to (created from the default branch if missing; default: ``main``).
        metrics: Evaluation results for the model card.
        **card_kwargs: Further :func:`save_pretrained` arguments (``class_names``, ``license``, ``tags``,
            ``dataset_name``, ``recipe``, ``model_name``, ``notes``).

    Returns:
        The URL of the commit.

    Raises:
        TypeError: If ``model`` was not built by this library.
        ValueError: If ``repo_id`` is not ``"org/name"``.

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn, push_to_hub  # doctest: +SKIP
        >>> push_to_hub(maskrcnn_resnet18_fpn(weights_backbone=None), "me/thin-objects", private=True)  # doctest: +SKIP
    """
    from huggingface_hub import HfApi

    if not isinstance(repo_id, str) or not _REPO_ID_RE.match(repo_id):
        raise ValueError(
            f"repo_id must look like 'org/name' (no revision suffix; use revision=), got {repo_id!r}"
        )
    _model_config(model)
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="maskrcnn-custom-push-") as tmp:
        folder = save_pretrained(model, Path(tmp) / "model", metrics=metrics, repo_id=repo_id, **card_kwargs)
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision is not None and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            commit_message=commit_message,
            revision=revision,
            repo_type="model",
        )
    url = str(getattr(info, "commit_url", info))
    logger.info("pushed %s to %s", repo_id, url)
    return url


# --------------------------------------------------------------------------------------------- builders


def _given(arch: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The builder keyword arguments the caller actually set (those that differ from the builder's defaults)."""
    from ..models.registry import get_model_builder

    params = inspect.signature(get_model_builder(f"maskrcnn_{arch}_fpn")).parameters
    given = {}
    for key, value in kwargs.items():
        p = params.get(key)
        if (
            p is not None
            and p.default is not inspect.Parameter.empty
            and (value is p.default or value == p.default)
        ):
            continue
        given[key] = value
    return given


def _apply_builder_kwargs(config: MaskRCNNConfig, given: dict[str, Any], origin: str) -> MaskRCNNConfig:
    """Check builder kwargs against the weights' config; apply the ones that do not change the architecture."""
    given = dict(given)
    levels = len(config.backbone.featmap_names)
    fixed: dict[str, tuple[Any, Any]] = {}
    if "anchor_sizes" in given:
        fixed["anchor_sizes"] = (
            as_level_tuples(given.pop("anchor_sizes"), name="anchor_sizes"),
            config.anchors.sizes,
        )
    if "aspect_ratios" in given:
        value = as_level_tuples(given.pop("aspect_ratios"), name="aspect_ratios", levels=levels)
        fixed["aspect_ratios"] = (value, config.anchors.aspect_ratios)
    for key, current in (
        ("box_roi_pool", config.box_roi_pool),
        ("mask_roi_pool", config.mask_roi_pool),
        ("mask_hidden_dim", config.mask_head.hidden_dim),
        ("backbone_norm", config.backbone.norm),
    ):
        if key in given:
            fixed[key] = (given.pop(key), current)
    if "mask_head_layers" in given:
        fixed["mask_head_layers"] = (tuple(given.pop("mask_head_layers")), config.mask_head.conv_layers)
    clashes = [f"{k}={v!r} (the weights have {w!r})" for k, (v, w) in fixed.items() if v != w]
    if clashes:
        raise ValueError(
            f"weights={origin} fix the architecture, but {', '.join(clashes)}. Drop these arguments (the "
            f"architecture comes from the weights' {CONFIG_NAME}), or build without weights="
        )
    changes: dict[str, Any] = {}
    if "trainable_backbone_layers" in given:
        n = given.pop("trainable_backbone_layers")
        if n is not None:
            if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 5:
                raise ValueError(f"trainable_backbone_layers must be None or an int in [0, 5], got {n!r}")
            changes["backbone"] = dataclasses.replace(config.backbone, trainable_layers=n)
    if "class_names" in given:
        names = given.pop("class_names")
        changes["class_names"] = None if names is None else tuple(names)
    for key in ("min_size", "max_size", "rpn_batch_size_per_image"):
        if key in given:
            value = given.pop(key)
            changes[key] = tuple(value) if isinstance(value, list) else value
    if given:
        check_detector_kwargs(given)
        changes["detector_kwargs"] = {
            **dict(config.detector_kwargs),
            **{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()},
        }
    config = config.replace(**changes) if changes else config
    validate_config(config)
    return config


def build_with_weights(
    arch: str, weights: Any, *, num_classes: int | None, progress: bool, **kwargs: Any
) -> MaskRCNN:
    """Build ``maskrcnn_{arch}_fpn(weights=...)``: the model described by the weights, with the weights loaded.

    The weights' ``config.json`` decides the architecture. Builder arguments that would change it
    (anchors, RoI pools, mask head, backbone norm) must agree with it; settings that leave the weights
    valid (``trainable_backbone_layers``, ``class_names``, ``min_size``, ``box_score_thresh`` and other
    scalar ``MaskRCNN`` options) are applied on top. Everything is checked after ``config.json`` is read
    and before ``model.safetensors`` is downloaded.

    Args:
        arch: The builder's backbone, e.g. ``"resnet101"``.
        weights: A :class:`MaskRCNNWeights` member or its name, a Hub repo id, or a local folder.
        num_classes: Must be ``None`` or the weights' own number of classes.
        progress: Show download progress bars.
        **kwargs: The builder's other keyword arguments.

    Returns:
        The model in eval mode.

    Raises:
        ValueError: If the weights are for another backbone, ``num_classes`` differs from theirs (use
            ``from_pretrained(..., num_classes=N)`` to fine-tune), or an argument contradicts their config.

    Examples:
        >>> import tempfile
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn, save_pretrained
        >>> folder = save_pretrained(maskrcnn_resnet18_fpn(weights_backbone=None), tempfile.mkdtemp())
        >>> maskrcnn_resnet18_fpn(weights=folder, box_score_thresh=0.5).roi_heads.score_thresh
        0.5
    """
    _check_num_classes(num_classes)
    source: WeightsSource = locate(weights, what="weights")
    config = parse_config(source.file(CONFIG_NAME, progress=progress), source.origin)
    if config.backbone.name != arch:
        raise ValueError(
            f"weights={source.origin} are for a {config.backbone.name} backbone but maskrcnn_{arch}_fpn builds a "
            f"{arch}; call maskrcnn_{config.backbone.name}_fpn(weights=...) or from_pretrained(...) instead"
        )
    if num_classes is not None and num_classes != config.num_classes:
        raise ValueError(
            f"num_classes={num_classes} conflicts with weights={source.origin}, which have "
            f"{config.num_classes} classes. To fine-tune them for {num_classes} classes use "
            f"from_pretrained(..., num_classes={num_classes}), which re-initialises only the class-dependent layers"
        )
    config = _apply_builder_kwargs(config, _given(arch, kwargs), source.origin)
    state = read_weights(source.file(WEIGHTS_NAME, progress=progress), source.origin)
    return _materialise(config, state, source.origin, num_classes=None, device=torch.device("cpu"))
