"""Anchors: measure how well anchors cover a dataset's boxes, and fit anchors that cover them."""

from .coverage import (
    TORCHVISION_ANCHOR_SIZES,
    TORCHVISION_ASPECT_RATIOS,
    AnchorCoverage,
    anchor_coverage,
    anchor_grid,
    best_anchor_iou,
    cell_anchors,
)
from .fit import AnchorFit, boxes_from_dataset, fit_anchors

__all__ = [
    "TORCHVISION_ANCHOR_SIZES",
    "TORCHVISION_ASPECT_RATIOS",
    "AnchorCoverage",
    "AnchorFit",
    "anchor_coverage",
    "anchor_grid",
    "best_anchor_iou",
    "boxes_from_dataset",
    "cell_anchors",
    "fit_anchors",
]
