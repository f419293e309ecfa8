"""ImageNet weights for the ResNet backbones, pulled from the Hugging Face Hub as safetensors.

torchvision's own ResNet ImageNet weights are published on the Hub by timm (``timm/resnet101.tv_in1k`` is
torchvision's ``IMAGENET1K_V1``, ``timm/resnet101.tv2_in1k`` its ``IMAGENET1K_V2``), with torchvision's
state-dict keys. The library downloads them with ``huggingface_hub`` (so ``HF_HOME``, ``HF_HUB_OFFLINE``
and ``HF_ENDPOINT`` are honoured), never unpickles anything from the network, drops the classifier
(``fc.*``) and loads the rest strictly into ``model.backbone.body``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import torch
from torch import nn

from .._utils.repo_id import looks_like_repo_id, split_repo_id
from .._utils.state_dict import compare_state_dicts
from ._api import WeightsEnum, WeightsRecord
from .download import hub_download

__all__ = [
    "BACKBONE_WEIGHTS_BY_ARCH",
    "BackboneWeights",
    "BackboneWeightsEnum",
    "BackboneWeightsLike",
    "ResNet18BackboneWeights",
    "ResNet34BackboneWeights",
    "ResNet50BackboneWeights",
    "ResNet101BackboneWeights",
    "ResNet152BackboneWeights",
    "backbone_weights_enum",
    "load_backbone_weights",
    "read_state_dict_file",
    "resolve_backbone_source",
]


@dataclass(frozen=True)
class BackboneWeights(WeightsRecord):
    """Where a set of backbone weights lives and what it is (a :class:`~maskrcnn_custom.weights.WeightsRecord`).

    Attributes:
        repo_id: Hugging Face Hub repository.
        revision: Branch, tag or commit hash to download; a commit hash pins the exact file.
        sha256: Expected SHA-256 of the file, when known (checked after download).
        filename: Safetensors file inside the repository.
        meta: Source, license, ImageNet metrics, number of parameters.
    """


def _tv(
    arch: str,
    tag: str,
    acc1: float,
    acc5: float,
    params: int,
    tv_name: str,
    *,
    revision: str = "main",
    revision_source: str | None = None,
    sha256: str | None = None,
    sha256_source: str | None = None,
) -> BackboneWeights:
    repo_id = f"timm/{arch}.{tag}"
    meta: dict[str, Any] = {
        "source": f"https://huggingface.co/{repo_id}",
        "torchvision_weights": f"{arch.replace('resnet', 'ResNet')}_Weights.{tv_name}",
        "license": "bsd-3-clause",
        "dataset": "ImageNet-1k",
        "num_params": params,
        "metrics": {"acc@1": acc1, "acc@5": acc5},
        "revision_pinned": revision != "main",
    }
    if revision_source is not None:
        meta["revision_source"] = revision_source
    if sha256_source is not None:
        meta["sha256_source"] = sha256_source
    return BackboneWeights(repo_id=repo_id, revision=revision, sha256=sha256, meta=meta)


_HF = "https://huggingface.co/timm"


class BackboneWeightsEnum(WeightsEnum):
    """Base of the backbone weights enums (members hold :class:`BackboneWeights`)."""

    @property
    def arch(self) -> str:
        """The ResNet these weights are for, e.g. ``"resnet101"``."""
        return next(arch for arch, cls in BACKBONE_WEIGHTS_BY_ARCH.items() if cls is type(self))


class ResNet18BackboneWeights(BackboneWeightsEnum):
    """ImageNet weights of ResNet-18 (torchvision's, from the Hub)."""

    IMAGENET1K_V1 = _tv(
        "resnet18",
        "tv_in1k",
        69.758,
        89.078,
        11_689_512,
        "IMAGENET1K_V1",
        revision="590dfdd48494d2316a8385e1ca7fbec3b9359b35",
        revision_source=f"{_HF}/resnet18.tv_in1k/commits/590dfdd48494d2316a8385e1ca7fbec3b9359b35/config.json",
        sha256="694f673df6520a3158624e8a89af086f59923ee4cd7436fe5bc3bc71d295ad81",
        sha256_source=f"{_HF}/resnet18.tv_in1k/blob/main/model.safetensors",
    )
    DEFAULT = IMAGENET1K_V1


class ResNet34BackboneWeights(BackboneWeightsEnum):
    """ImageNet weights of ResNet-34 (torchvision's, from the Hub)."""

    IMAGENET1K_V1 = _tv(
        "resnet34",
        "tv_in1k",
        73.314,
        91.420,
        21_797_672,
        "IMAGENET1K_V1",
        revision="c983eba7f5e69bc3548a626d1b0b0b914e5de3a6",
        revision_source=f"{_HF}/resnet34.tv_in1k/commit/c983eba7f5e69bc3548a626d1b0b0b914e5de3a6",
    )
    DEFAULT = IMAGENET1K_V1


class ResNet50BackboneWeights(BackboneWeightsEnum):
    """ImageNet weights of ResNet-50 (torchvision's, from the Hub)."""

    IMAGENET1K_V1 = _tv(
        "resnet50",
        "tv_in1k",
        76.130,
        92.862,
        25_557_032,
        "IMAGENET1K_V1",
        revision="99108565f2fd2a9d8a1b640156f564d7f4ad7188",
        revision_source=f"{_HF}/resnet50.tv_in1k/commit/99108565f2fd2a9d8a1b640156f564d7f4ad7188",
        sha256="5d061a3c593d795bfe682d9b152bafbcf550579873492def3515b46db1189888",
        sha256_source=f"{_HF}/resnet50.tv_in1k/blob/aa6c2d36d56bc0209040c02b5a7b7d7bf11d57b8/model.safetensors",
    )
    IMAGENET1K_V2 = _tv(
        "resnet50",
        "tv2_in1k",
        80.858,
        95.434,
        25_557_032,
        "IMAGENET1K_V2",
        revision="f2a8587ea6b4a3a1d84450bcc2561b07952daae2",
        revision_source=f"{_HF}/resnet50.tv2_in1k/commits/f2a8587ea6b4a3a1d84450bcc2561b07952daae2/config.json",
    )
    DEFAULT = IMAGENET1K_V1


class ResNet101BackboneWeights(BackboneWeightsEnum):
    """ImageNet weights of ResNet-101 (torchvision's, from the Hub)."""

    # The full commit hash of timm/resnet101.tv_in1k could not be found (only its short form 54887a0),
    # so this member follows the repository's default branch; see docs/hub.md.
    IMAGENET1K_V1 = _tv("resnet101", "tv_in1k", 77.374, 93.546, 44_549_160, "IMAGENET1K_V1")
    IMAGENET1K_V2 = _tv(
        "resnet101",
        "tv2_in1k",
        81.886,
        95.780,
        44_549_160,
        "IMAGENET1K_V2",
        revision="accffaa2c7d1b805854bfb078d90f9ad061e0974",
        revision_source=f"{_HF}/resnet101.tv2_in1k/blob/accffaa2c7d1b805854bfb078d90f9ad061e0974/README.md",
    )
    DEFAULT = IMAGENET1K_V1


class ResNet152BackboneWeights(BackboneWeightsEnum):
    """ImageNet weights of ResNet-152 (torchvision's, from the Hub)."""

    IMAGENET1K_V1 = _tv(
        "resnet152",
        "tv_in1k",
        78.312,
        94.046,
        60_192_808,
        "IMAGENET1K_V1",
        revision="1f8fa579af406a6f10e457a6dce6909c9157a70f",
        revision_source=f"{_HF}/resnet152.tv_in1k/tree/1f8fa579af406a6f10e457a6dce6909c9157a70f",
        sha256="15897077afdf4d6334dc0c3f8e6fb483afb3faa9298c139f3c6eb29bca6ae5b2",
        sha256_source=f"{_HF}/resnet152.tv_in1k/blob/main/model.safetensors",
    )
    IMAGENET1K_V2 = _tv(
        "resnet152",
        "tv2_in1k",
        82.284,
        96.002,
        60_192_808,
        "IMAGENET1K_V2",
        revision="6c03aba8c980980031f286eec039dc10543e01a4",
        revision_source=f"{_HF}/resnet152.tv2_in1k/commits/6c03aba8c980980031f286eec039dc10543e01a4/config.json",
    )
    DEFAULT = IMAGENET1K_V1


#: The backbone weights enum of each ResNet, in order of depth.
BACKBONE_WEIGHTS_BY_ARCH: Mapping[str, type[BackboneWeightsEnum]] = {
    "resnet18": ResNet18BackboneWeights,
    "resnet34": ResNet34BackboneWeights,
    "resnet50": ResNet50BackboneWeights,
    "resnet101": ResNet101BackboneWeights,
    "resnet152": ResNet152BackboneWeights,
}

#: What ``weights_backbone=`` accepts: an enum member, its name, a Hub repo id, a local file, or None.
BackboneWeightsLike = Union[BackboneWeightsEnum, str, os.PathLike, None]


def backbone_weights_enum(arch: str) -> type[BackboneWeightsEnum]:
    """Return the weights enum of a ResNet, e.g. ``backbone_weights_enum("resnet101")``.

    Raises:
        ValueError: If no weights are known for ``arch``.

    Examples:
        >>> from maskrcnn_custom.weights import backbone_weights_enum
        >>> backbone_weights_enum("resnet18").__name__
        'ResNet18BackboneWeights'
    """
    try:
        return BACKBONE_WEIGHTS_BY_ARCH[arch]
    except KeyError:
        raise ValueError(
            f"no backbone weights are known for {arch!r}; known: {sorted(BACKBONE_WEIGHTS_BY_ARCH)}"
        ) from None


def read_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from a local ``.safetensors`` file, or a ``.pth``/``.pt`` file with ``weights_only=True``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file cannot be read as a state dict.
    """
    import pickle

    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path), device="cpu")
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = next(
            (ln.strip() for ln in str(exc).splitlines() if "Unsupported global" in ln), type(exc).__name__
        )
        raise ValueError(
            f"could not read {str(path)!r} with torch.load(weights_only=True) ({reason}); it holds pickled objects "
            "other than tensors (e.g. a whole model saved with torch.save(model)). Only state dicts are loaded, "
            "never arbitrary pickles: in the code that wrote it, save torch.save(model.state_dict(), path) instead"
        ) from exc
    except (SafetensorError, RuntimeError, OSError, EOFError, ValueError) as exc:
        raise ValueError(
            f"could not read weights from {str(path)!r} ({type(exc).__name__}: {exc}); "
            "the file is corrupt or not a state dict; download it again or pass another file"
        ) from exc
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]  # training checkpoints keep the state dict under "model"
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{str(path)!r} does not hold a state dict (a mapping of names to tensors)")
    return dict(obj)


def _hub_file(
    repo_id: str, filename: str, revision: str | None, sha256: str | None, what: str, progress: bool
) -> Path:
    """Download one file from the Hub (or the cache) with an error that says what was tried and what to do."""
    return hub_download(repo_id, filename, revision=revision, sha256=sha256, what=what, progress=progress)


def resolve_backbone_source(source: BackboneWeightsLike, *, arch: str) -> BackboneWeightsEnum | Path | str:
    """Check and normalise a ``weights_backbone`` value without downloading anything.

    Returns:
        An enum member, a local file ``Path``, or a Hub repo id string (optionally ``"org/name@revision"``).

    Raises:
        ValueError: For a name that is no member, an enum of another depth, or an unrecognisable string.
        TypeError: For a value of the wrong type.
    """
    enum_cls = backbone_weights_enum(arch)
    if isinstance(source, BackboneWeightsEnum):
        if not isinstance(source, enum_cls):
            raise ValueError(
                f"weights_backbone={source} is for {source.arch} but the backbone is {arch}; "
                f"use one of {[f'{enum_cls.__name__}.{m}' for m in enum_cls.__members__]}"
            )
        return source
    if isinstance(source, os.PathLike) or (isinstance(source, str) and Path(source).expanduser().is_file()):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights_backbone file {str(path)!r} does not exist")
        return path
    if isinstance(source, str):
        if source.split(".")[-1] in enum_cls.__members__:
            return enum_cls.from_name(source)
        if looks_like_repo_id(source):
            split_repo_id(source, what="weights_backbone")  # raises ValueError for a bad repo id or revision
            return source
        raise ValueError(
            f"weights_backbone={source!r} is not a member of {enum_cls.__name__} "
            f"({list(enum_cls.__members__)}), an existing local file, nor a Hub repo id like 'org/name' "
            "or 'org/name@revision'; pass one of those, or weights_backbone=None to start from scratch"
        )
    raise TypeError(
        f"weights_backbone must be a {enum_cls.__name__} member, a string, a path or None, got {type(source).__name__}"
    )


def _fetch(
    source: BackboneWeightsEnum | Path | str, progress: bool = True
) -> tuple[dict[str, torch.Tensor], str]:
    if isinstance(source, BackboneWeightsEnum):
        w: BackboneWeights = source.value
        path = _hub_file(w.repo_id, w.filename, w.revision, w.sha256, "weights_backbone", progress)
        return read_state_dict_file(path), f"{w.repo_id}@{w.revision}"
    if isinstance(source, Path):
        return read_state_dict_file(source), str(source)
    repo_id, revision = split_repo_id(source, what="weights_backbone")
    path = _hub_file(repo_id, "model.safetensors", revision, None, "weights_backbone", progress)
    return read_state_dict_file(path), source


def load_backbone_weights(
    model: nn.Module, source: BackboneWeightsLike, *, arch: str, progress: bool = True
) -> str:
    """Load ImageNet weights into ``model.backbone.body``, strictly, after dropping the classifier.

    Args:
        model: A Mask R-CNN built by this library (its ``backbone.body`` is a torchvision ResNet trunk).
        source: An enum member (``ResNet101BackboneWeights.IMAGENET1K_V1``), its name, a Hub repo id
            (``"timm/resnet101.tv_in1k"``, optionally ``@revision``), or a local ``.safetensors``/``.pth`` file.
        arch: The backbone's ResNet name, e.g. ``"resnet101"``.
        progress: Show huggingface_hub's download progress bar.

    Returns:
        A description of where the weights came from.

    Raises:
        ValueError: If a key is missing or unexpected, or a shape differs (every offending key is listed).

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet50_fpn  # doctest: +SKIP
        >>> model = maskrcnn_resnet50_fpn(weights_backbone="timm/resnet50.tv2_in1k")  # doctest: +SKIP
    """
    state, origin = _fetch(resolve_backbone_source(source, arch=arch), progress)
    body = model.backbone.body
    target = body.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    if not any(k.endswith("num_batches_tracked") for k in target):
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    else:
        for k in target:
            if k.endswith("num_batches_tracked") and k not in state:
                state[k] = torch.zeros((), dtype=torch.long)
    report = compare_state_dicts(state, target)
    if not report.ok:
        raise ValueError(
            f"weights_backbone from {origin} do not fit the {arch} backbone: {report.describe(limit=20)}. "
            f"Pass weights for a {arch}, or weights_backbone=None."
        )
    body.load_state_dict({k: v.to(target[k].dtype) for k, v in state.items()}, strict=True)
    return origin
