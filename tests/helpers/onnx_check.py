"""One check shared by the ONNX export tests of model variants: the exported graph predicts what eager does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers.rods import rods_image
from maskrcnn_custom import predict


def assert_onnx_matches_eager(model: torch.nn.Module, folder: Path, *, size: int = 64) -> None:
    """Export ``model`` at ``size`` px into ``folder``; ONNX Runtime finds the same detections and masks.

    Skips without the ``[onnx]`` extra. At most 0.1 % of the mask pixels may differ (float rounding at 0.5).
    """
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from maskrcnn_custom import OnnxPredictor, export_onnx

    path = export_onnx(model, folder / "m.onnx", image_size=size)
    image = rods_image(seed=0)[:, :size, :size]
    [eager] = predict(model, image, score_threshold=0.05)
    [ort] = OnnxPredictor(path).predict([image], score_threshold=0.05)
    assert len(eager) == len(ort) > 0 and ort.masks.shape == eager.masks.shape
    assert float((ort.masks != eager.masks).float().mean()) <= 1e-3
