"""Anchors: measure how well anchors cover a dataset's boxes, and fit anchors that cover them."""

from .coverage import (
    TORCHVISION_ANCHOR_SIZES,
    TORCHVISION_ASPECT_RATIOS,
    AnchorCoverage,
    ElongationBinCoverage,
    anchor_coverage,
    anchor_grid,
    best_anchor_iou,
    box_elongation,
    cell_anchors,
)
from .fit import RATIO_METHODS, AnchorFit, boxes_from_dataset, fit_anchors, fit_aspect_ratios

__all__ = [
    "RATIO_METHODS",
    "TORCHVISION_ANCHOR_SIZES",
    "TORCHVISION_ASPECT_RATIOS",
    "AnchorCoverage",
    "AnchorFit",
    "ElongationBinCoverage",
    "anchor_coverage",
    "anchor_grid",
    "best_anchor_iou",
    "box_elongation",
    "boxes_from_dataset",
    "cell_anchors",
    "fit_anchors",
    "fit_aspect_ratios",
]
