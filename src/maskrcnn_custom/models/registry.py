"""A registry of model builders by name, as in torchvision and timm."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

__all__ = ["get_model", "get_model_builder", "list_models", "register_model"]

_F = TypeVar("_F", bound=Callable[..., nn.Module])
_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str | None = None) -> Callable[[_F], _F]:
    """Decorator that registers a model builder under ``name`` (default: the function's name).

    Args:
        name: Registry name. Registering a name twice raises ``ValueError``.

    Returns:
        The decorator; it returns the builder unchanged.

    Examples:
        >>> from maskrcnn_custom import register_model, maskrcnn_resnet18_fpn
        >>> @register_model("my_small_maskrcnn")
        ... def my_small_maskrcnn(**kwargs):
        ...     return maskrcnn_resnet18_fpn(weights_backbone=None, **kwargs)
    """

    def wrap(fn: _F) -> _F:
        key = name or fn.__name__
        if not isinstance(key, str) or not key:
            raise ValueError(f"model name must be a non-empty string, got {key!r}")
        if key in _BUILDERS:
            raise ValueError(
                f"a model named {key!r} is already registered (by {_BUILDERS[key].__module__}."
                f"{_BUILDERS[key].__qualname__}); choose another name"
            )
        _BUILDERS[key] = fn
        return fn

    return wrap


def list_models(pattern: str | None = None) -> list[str]:
    """Names of the registered builders, sorted, optionally filtered by a glob ``pattern``.

    Examples:
        >>> from maskrcnn_custom import list_models
        >>> "maskrcnn_resnet101_fpn" in list_models()
        True
    """
    names = sorted(_BUILDERS)
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    """Return the builder registered as ``name``; ``ValueError`` with close names if unknown."""
    try:
        return _BUILDERS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(_BUILDERS), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}.{hint} Known models: {', '.join(list_models())}") from None


def get_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` with keyword arguments ``kwargs``.

    Examples:
        >>> from maskrcnn_custom import get_model
        >>> model = get_model("maskrcnn_resnet18_fpn", weights_backbone=None, num_classes=3)
    """
    return get_model_builder(name)(**kwargs)
