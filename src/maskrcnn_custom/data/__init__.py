"""Data: a synthetic generator of elongated objects, COCO-format datasets, transforms and loaders."""

from .collate import collate_fn
from .synthetic import OBJECT_KINDS, SyntheticConfig, SyntheticElongatedDataset, masks_to_tight_boxes

__all__ = [
    "OBJECT_KINDS",
    "SyntheticConfig",
    "SyntheticElongatedDataset",
    "collate_fn",
    "masks_to_tight_boxes",
]
