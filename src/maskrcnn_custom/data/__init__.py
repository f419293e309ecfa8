"""Data: a synthetic generator of elongated objects, COCO-format datasets, transforms and loaders."""

from .boxes import masks_to_tight_boxes
from .coco import CocoDataset, encode_rle, import_pycocotools_mask, load_coco_json
from .collate import collate_fn
from .export import export_coco
from .loaders import DataLoaders, build_dataloaders
from .synthetic import OBJECT_KINDS, SYNTHETIC_PRESETS, SyntheticConfig, SyntheticElongatedDataset
from .transforms import (
    DetectionTransforms,
    RandomRotation90,
    RandomScaleJitter,
    train_transforms,
    val_transforms,
)

__all__ = [
    "OBJECT_KINDS",
    "SYNTHETIC_PRESETS",
    "CocoDataset",
    "DataLoaders",
    "DetectionTransforms",
    "RandomRotation90",
    "RandomScaleJitter",
    "SyntheticConfig",
    "SyntheticElongatedDataset",
    "build_dataloaders",
    "collate_fn",
    "encode_rle",
    "export_coco",
    "import_pycocotools_mask",
    "load_coco_json",
    "masks_to_tight_boxes",
    "train_transforms",
    "val_transforms",
]
