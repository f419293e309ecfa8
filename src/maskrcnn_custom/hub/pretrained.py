"""Whole-model weights (filled in by the Hub work)."""

from __future__ import annotations

from typing import Any

from torchvision.models.detection.mask_rcnn import MaskRCNN


def build_with_weights(
    arch: str, weights: Any, *, num_classes: int | None, progress: bool, **kwargs: Any
) -> MaskRCNN:
    """Build a model from whole-model weights."""
    raise NotImplementedError("whole-model weights are not available yet")
