"""Whole-model weights: ``save_pretrained``, ``from_pretrained`` and ``push_to_hub``.

A saved model is a folder with ``config.json`` (the model's :class:`MaskRCNNConfig`, the library version and
the class names), ``model.safetensors`` (the state dict) and ``README.md`` (a model card). The same folder
is what ``push_to_hub`` uploads and what ``from_pretrained`` reads, locally or from the Hub. Nothing is
ever unpickled: weights travel as safetensors only.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torchvision.models.detection.mask_rcnn import MaskRCNN

from .._utils.atomic import atomic_write, atomic_write_text
from .._utils.repo_id import check_repo_id, check_revision
from .._version import __version__
from ..models.config import MaskRCNNConfig
from ..models.loading import (
    CLASS_DEPENDENT_PREFIXES,
    build_with_weights,
    check_num_classes,
    load_state_into_model,
)
from ..models.validation import validate_config
from ..weights.download import hub_is_offline, hub_unreachable_reason
from ..weights.source import (
    CARD_NAME,
    CHECKSUMS_NAME,
    CONFIG_NAME,
    FORMAT_VERSION,
    LIBRARY_NAME,
    WEIGHTS_NAME,
    PretrainedLike,
    build_checksums,
    locate,
)
from .card import render_model_card

__all__ = [
    "CLASS_DEPENDENT_PREFIXES",
    "build_with_weights",
    "from_pretrained",
    "push_to_hub",
    "save_pretrained",
]

logger = logging.getLogger(__name__)


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
    preset: Mapping[str, Any] | Any | None = None,
) -> Path:
    """Save ``model`` as a folder: ``config.json``, ``model.safetensors``, ``README.md`` and ``checksums.json``.

    ``README.md`` is a model card; ``checksums.json`` records the SHA-256 of the other three, and
    ``from_pretrained`` verifies them before reading anything.

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
        preset: The :class:`~maskrcnn_custom.TrainingPreset` (or its ``to_dict()``) the model was trained with;
            the card then records it and its full recipe.

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
        ['README.md', 'checksums.json', 'config.json', 'model.safetensors']
    """
    from safetensors.torch import save_file

    config = _model_config(model)
    metrics = _check_metrics(metrics)
    if class_names is not None:
        if isinstance(class_names, str) or not isinstance(class_names, Sequence):
            raise TypeError(f"class_names must be a sequence of strings, got {type(class_names).__name__}")
        config = config.replace(class_names=tuple(class_names))
        validate_config(config)
    if repo_id is not None:
        check_repo_id(repo_id, what="repo_id")
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
        preset=preset,
    )
    atomic_write(folder / WEIGHTS_NAME, lambda p: save_file(tensors, str(p), metadata=meta))
    atomic_write_text(folder / CONFIG_NAME, json.dumps(payload, indent=2) + "\n")
    atomic_write_text(folder / CARD_NAME, card)
    manifest = build_checksums(folder, (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME))
    atomic_write_text(folder / CHECKSUMS_NAME, json.dumps(manifest, indent=2) + "\n")
    logger.info("saved %s (%d tensors) to %s", config.backbone.name, len(tensors), folder)
    return folder


# --------------------------------------------------------------------------------------------- loading


def _device(map_location: Any) -> torch.device:
    try:
        return torch.device(map_location)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"map_location must name a torch device such as 'cpu' or 'cuda:0', got {map_location!r}"
        ) from exc


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
    weights are loaded strictly from ``model.safetensors``, and the model is returned in eval mode. Both
    files are checked against ``checksums.json`` before they are read; a folder saved by an older version
    without one loads with a ``UserWarning``.
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
        ValueError: If ``config.json`` comes from a newer library, or the weights do not fit it, or a file
            fails its ``checksums.json`` integrity check (the message names the file and both hashes), or the
            weights file is corrupt, or an argument is invalid.

    Examples:
        >>> import tempfile
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn, save_pretrained, from_pretrained
        >>> folder = save_pretrained(maskrcnn_resnet18_fpn(weights_backbone=None), tempfile.mkdtemp())
        >>> model = from_pretrained(folder)
        >>> model.training
        False
    """
    check_num_classes(num_classes)
    device = _device(map_location)
    source = locate(repo_id_or_path, revision=revision)
    kw = {"cache_dir": cache_dir, "local_files_only": local_files_only, "token": token, "progress": progress}
    checksums = source.read_checksums(**kw)
    config = source.read_config(checksums, **kw)
    state = source.read_state_dict(checksums, **kw)
    return load_state_into_model(config, state, source.origin, num_classes=num_classes, device=device)


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
        ValueError: If ``repo_id`` is not ``"org/name"`` or ``revision`` is not a valid branch name.
        ConnectionError: If ``HF_HUB_OFFLINE=1`` is set or the Hub cannot be reached (found within a second).

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn, push_to_hub  # doctest: +SKIP
        >>> push_to_hub(maskrcnn_resnet18_fpn(weights_backbone=None), "me/thin-objects", private=True)  # doctest: +SKIP
    """
    if isinstance(repo_id, str) and "@" in repo_id:
        raise ValueError(
            f"repo_id must look like 'org/name' without an '@revision' suffix (use revision=), got {repo_id!r}"
        )
    check_repo_id(repo_id, what="repo_id")
    check_revision(revision, what="revision")
    _model_config(model)
    if hub_is_offline():
        raise ConnectionError(f"push_to_hub({repo_id!r}): HF_HUB_OFFLINE=1 is set; unset it to upload")
    unreachable = hub_unreachable_reason()
    if unreachable is not None:
        raise ConnectionError(
            f"push_to_hub({repo_id!r}): the Hub cannot be reached ({unreachable}); connect to the network (or fix "
            "HF_ENDPOINT / the proxy) and push again, or keep the folder save_pretrained writes"
        )
    from huggingface_hub import HfApi

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
