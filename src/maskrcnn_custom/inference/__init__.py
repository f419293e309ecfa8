"""Inference: ``predict`` on tensors, arrays, PIL images and files; typed results; COCO, label and overlay outputs."""

from .inputs import ImageInput, ImageItem, check_images, load_image
from .predict import check_model, inference_settings, predict
from .results import Prediction

__all__ = [
    "ImageInput",
    "ImageItem",
    "Prediction",
    "check_images",
    "check_model",
    "inference_settings",
    "load_image",
    "predict",
]
