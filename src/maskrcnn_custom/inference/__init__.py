"""Inference: ``predict`` on tensors, arrays, PIL images and files; typed results; COCO, label and overlay outputs."""

from .inputs import ImageInput, ImageItem, check_images, load_image
from .precision import PRECISIONS
from .predict import check_model, inference_settings, predict
from .results import Prediction
from .writers import (
    draw_overlay,
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
    "draw_overlay",
    "inference_settings",
    "load_image",
    "predict",
    "save_coco_results",
    "save_instance_masks",
    "save_label_image",
    "save_overlay",
    "to_coco_results",
]
