"""Shape measurements of thin objects (length along the medial axis, widths, oriented box, tortuosity).

Only NumPy and PyTorch are needed: thinning, exact distances and the minimum-area rectangle are implemented
in :mod:`maskrcnn_custom.measure.morphology`.
"""

from .elongation_bins import DEFAULT_ELONGATION_EDGES, check_elongation_edges, elongation_bin_labels
from .morphology import (
    boundary_region,
    convex_hull,
    distance_to_background,
    longest_path,
    min_area_rect,
    skeletonize,
)
from .shapes import MEASUREMENT_FIELDS, MaskMeasurement, measure_mask, measure_masks

__all__ = [
    "DEFAULT_ELONGATION_EDGES",
    "check_elongation_edges",
    "elongation_bin_labels",
    "MEASUREMENT_FIELDS",
    "MaskMeasurement",
    "boundary_region",
    "convex_hull",
    "distance_to_background",
    "longest_path",
    "measure_mask",
    "measure_masks",
    "min_area_rect",
    "skeletonize",
]
