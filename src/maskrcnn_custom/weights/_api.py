"""The base of every weights catalogue: one record dataclass and one ``WeightsEnum`` (as torchvision's ``_api``).

Backbone weights (:mod:`maskrcnn_custom.weights.backbone`) and whole-model weights
(:mod:`maskrcnn_custom.weights.model`) are enums whose members hold a :class:`WeightsRecord`; the enum base
gives them the same name lookup (with close-match hints), ``verify`` and metadata accessors.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["WeightsEnum", "WeightsRecord"]

_E = TypeVar("_E", bound="WeightsEnum")


@dataclass(frozen=True)
class WeightsRecord:
    """Where a set of weights lives on the Hugging Face Hub and what it is.

    Attributes:
        repo_id: Hub repository.
        revision: Branch, tag or commit hash to download; a commit hash pins the exact file.
        sha256: Expected SHA-256 of the weights file, when known (checked after download).
        filename: The safetensors file inside the repository.
        meta: Anything else worth recording (source, license, metrics, number of parameters).
    """

    repo_id: str
    revision: str = "main"
    sha256: str | None = None
    filename: str = "model.safetensors"
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def url(self) -> str:
        """The repository's page on the Hub."""
        return f"https://huggingface.co/{self.repo_id}"


class WeightsEnum(enum.Enum):
    """Base of the weights enums; each member's value is a :class:`WeightsRecord`.

    Examples:
        >>> from maskrcnn_custom import ResNet18BackboneWeights
        >>> w = ResNet18BackboneWeights.from_name("IMAGENET1K_V1")
        >>> w.repo_id, ResNet18BackboneWeights.verify("DEFAULT") is w
        ('timm/resnet18.tv_in1k', True)
    """

    @classmethod
    def from_name(cls: type[_E], name: str) -> _E:
        """Look a member up by name: ``"IMAGENET1K_V1"`` or with the enum's name, ``"Enum.IMAGENET1K_V1"``.

        Raises:
            TypeError: If ``name`` is not a string.
            ValueError: If there is no such member (the message lists close matches and every member).
        """
        if not isinstance(name, str):
            raise TypeError(f"a {cls.__name__} name must be a string, got {type(name).__name__}")
        short = name.split(".")[-1]
        try:
            return cls[short]
        except KeyError:
            close = difflib.get_close_matches(short, list(cls.__members__), n=3, cutoff=0.6)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise ValueError(
                f"{cls.__name__} has no member {short!r}{hint}; choose among {list(cls.__members__)}"
            ) from None

    @classmethod
    def verify(cls: type[_E], obj: Any) -> _E | None:
        """Return ``obj`` as a member of this enum: ``None`` stays ``None``, a name is looked up.

        Raises:
            TypeError: If ``obj`` is neither ``None``, a string nor a member of this enum.
            ValueError: If a name is no member.
        """
        if obj is None:
            return None
        if isinstance(obj, str):
            return cls.from_name(obj)
        if not isinstance(obj, cls):
            raise TypeError(
                f"expected a {cls.__name__} member, its name or None, got {obj!r} ({type(obj).__name__}); "
                f"use one of {[f'{cls.__name__}.{m}' for m in cls.__members__]}"
            )
        return obj

    @property
    def record(self) -> WeightsRecord:
        """The member's :class:`WeightsRecord`."""
        value: WeightsRecord = self.value
        return value

    @property
    def meta(self) -> Mapping[str, Any]:
        """The record's metadata."""
        return self.record.meta

    @property
    def repo_id(self) -> str:
        """The Hub repository."""
        return self.record.repo_id

    @property
    def revision(self) -> str:
        """The Hub revision."""
        return self.record.revision

    @property
    def sha256(self) -> str | None:
        """The expected SHA-256 of the weights file, when known."""
        return self.record.sha256

    @property
    def url(self) -> str:
        """The repository's page on the Hub."""
        return self.record.url
