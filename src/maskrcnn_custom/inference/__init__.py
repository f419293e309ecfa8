"""Inference: ``predict`` (whole or tiled) on tensors, arrays, PIL images and files; typed results; COCO, label and overlay outputs."""

from .inputs import ImageInput, ImageItem, check_images, load_image
from .measurements import measurement_rows, save_measurements
from .precision import PRECISIONS
from .predict import check_model, inference_settings, predict
from .results import Prediction
from .tiling import predict_tiled, tile_windows
from .writers import (
    draw_comparison,
    draw_overlay,
    instance_mask_files,
    save_coco_results,
    save_instance_masks,
    save_label_image,
    save_overlay,
    to_coco_results,
)

__all__ = [
    "PRECISIONS",
    "ImageInput",
    "ImageItem",
    "Prediction",
    "check_images",
    "check_model",
    "draw_comparison",
    "draw_overlay",
    "inference_settings",
    "instance_mask_files",
    "load_image",
    "measurement_rows",
    "predict",
    "predict_tiled",
    "save_coco_results",
    "save_instance_masks",
    "save_label_image",
    "save_measurements",
    "save_overlay",
    "tile_windows",
    "to_coco_results",
]
