"""Data: a synthetic generator of elongated objects, COCO-format datasets, transforms and loaders."""

from .boxes import masks_to_tight_boxes
from .coco import CocoDataset, encode_rle, import_pycocotools_mask, load_coco_json
from .coco_export import export_coco
from .collate import collate_fn
from .images import DEFAULT_MAX_PIXELS, check_image_file, pil_image_to_tensor, read_image
from .loaders import DataLoaders, build_dataloaders
from .synthetic import OBJECT_KINDS, SYNTHETIC_PRESETS, SyntheticConfig, SyntheticElongatedDataset
from .transforms import (
    DetectionTransforms,
    RandomIllumination,
    RandomRotation90,
    RandomScaleJitter,
    train_transforms,
    val_transforms,
)
from .validate import validate_batch, validate_dataset, validate_sample

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "OBJECT_KINDS",
    "SYNTHETIC_PRESETS",
    "CocoDataset",
    "DataLoaders",
    "DetectionTransforms",
    "RandomIllumination",
    "RandomRotation90",
    "RandomScaleJitter",
    "SyntheticConfig",
    "SyntheticElongatedDataset",
    "build_dataloaders",
    "check_image_file",
    "collate_fn",
    "encode_rle",
    "export_coco",
    "import_pycocotools_mask",
    "load_coco_json",
    "masks_to_tight_boxes",
    "pil_image_to_tensor",
    "read_image",
    "train_transforms",
    "val_transforms",
    "validate_batch",
    "validate_dataset",
    "validate_sample",
]
