"""Build the model of a training preset (:mod:`maskrcnn_custom.presets`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torchvision.models.detection import MaskRCNN

from ..presets import TrainingPreset, get_preset
from .registry import get_model

__all__ = ["build_preset_model"]


def build_preset_model(
    preset: str | TrainingPreset = "fast_cpu",
    *,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    image_size: int | None = None,
    weights_backbone: Any = None,
    **overrides: Any,
) -> MaskRCNN:
    """The model of training preset ``preset``, from a random backbone unless ``weights_backbone`` is given.

    Args:
        preset: A preset name (:func:`maskrcnn_custom.list_presets`) or a :class:`~maskrcnn_custom.TrainingPreset`.
        num_classes: Classes including the background (default 2).
        class_names: Optional names of the classes, background first.
        image_size: Image side (default the preset's); the seed's anchors are scaled by ``image_size / 256``.
        weights_backbone: Backbone weights as for the builders (default ``None``: random, as the preset's
            figures were measured).
        **overrides: Further builder keyword arguments, applied over the preset's.

    Returns:
        A ``torchvision.models.detection.MaskRCNN`` with its config in ``model.config``.

    Raises:
        ValueError: For an unknown preset or an invalid setting, naming it.

    Examples:
        >>> from maskrcnn_custom import build_preset_model
        >>> model = build_preset_model("fast_cpu", num_classes=3)
        >>> model.config.backbone.out_channels, model.config.mask_head.resolution, model.config.min_size
        (128, 56, 256)
    """
    p = get_preset(preset)
    kwargs = {**p.model_kwargs(image_size=image_size), **overrides}
    return get_model(
        p.architecture,
        weights_backbone=weights_backbone,
        num_classes=num_classes,
        class_names=class_names,
        **kwargs,
    )
