"""Run an exported ONNX model with ONNX Runtime behind the same ``predict`` interface as PyTorch."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._utils.checks import check_fraction, check_optional_positive_int, check_positive_int
from .._utils.optional import require
from .._utils.progress import progress_bar
from ..inference.inputs import check_images, load_image
from ..inference.results import Prediction

__all__ = ["OnnxPredictor"]


class OnnxPredictor:
    """An ONNX Runtime session for a file written by :func:`~maskrcnn_custom.export_onnx`.

    Args:
        path: The ``.onnx`` file.
        providers: ONNX Runtime execution providers (default ``["CPUExecutionProvider"]``).
        num_threads: Intra-op threads (default: ONNX Runtime's, one per physical core).
        graph_optimization: ``"all"`` (default), ``"extended"``, ``"basic"`` or ``"disabled"``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ImportError: Without the ``[onnx]`` extra.
        ValueError: If the file is not a model exported by :func:`~maskrcnn_custom.export_onnx`.

    Examples:
        >>> import os, tempfile, torch
        >>> from maskrcnn_custom import OnnxPredictor, export_onnx, maskrcnn_resnet18_fpn
        >>> path = export_onnx(maskrcnn_resnet18_fpn(weights_backbone=None, mask_hidden_dim=16),
        ...                    os.path.join(tempfile.mkdtemp(), "m.onnx"), image_size=64)
        >>> [p] = OnnxPredictor(path).predict(torch.rand(3, 64, 64))
        >>> p.masks.shape[1:]
        torch.Size([64, 64])
    """

    _LEVELS = ("disabled", "basic", "extended", "all")

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        providers: Sequence[str] | None = None,
        num_threads: int | None = None,
        graph_optimization: str = "all",
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"path: no ONNX file at {str(self.path)!r}; write one with export_onnx")
        if graph_optimization not in self._LEVELS:
            raise ValueError(f"graph_optimization must be one of {self._LEVELS}, got {graph_optimization!r}")
        check_optional_positive_int(num_threads, "num_threads")
        ort = require("onnxruntime", extra="onnx", purpose="OnnxPredictor")
        options = ort.SessionOptions()
        options.graph_optimization_level = {
            "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[graph_optimization]
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(self.path), sess_options=options, providers=list(providers or ["CPUExecutionProvider"])
        )
        names = [i.name for i in self.session.get_inputs()]
        if names != ["image", "score_threshold", "mask_threshold"]:
            raise ValueError(
                f"{str(self.path)!r} has inputs {names}; expected a model written by maskrcnn_custom.export_onnx"
            )
        meta = self.session.get_modelmeta().custom_metadata_map
        names_json = meta.get("maskrcnn_custom.class_names")
        #: Class names stored at export time (background first), or ``None``.
        self.class_names: tuple[str, ...] | None = tuple(json.loads(names_json)) if names_json else None
        #: All ``maskrcnn_custom.*`` metadata of the file.
        self.metadata: dict[str, str] = dict(meta)

    def __repr__(self) -> str:
        return f"OnnxPredictor({str(self.path)!r}, providers={self.session.get_providers()})"

    def run(
        self, image: torch.Tensor, *, score_threshold: float, mask_threshold: float
    ) -> tuple[np.ndarray, ...]:
        """Run the graph on one float ``3xHxW`` image in ``[0, 1]``; return boxes, labels, scores, masks."""
        feeds = {
            "image": np.ascontiguousarray(image.numpy(), dtype=np.float32),
            "score_threshold": np.asarray(score_threshold, dtype=np.float32),
            "mask_threshold": np.asarray(mask_threshold, dtype=np.float32),
        }
        return tuple(self.session.run(None, feeds))

    def predict(
        self,
        images: Any,
        *,
        score_threshold: float = 0.5,
        mask_threshold: float = 0.5,
        batch_size: int = 1,
        progress: bool = False,
    ) -> list[Prediction]:
        """Segment images; the same inputs, checks and results as :func:`~maskrcnn_custom.predict`.

        Args:
            images: One image or a list (tensors, arrays, PIL images, paths), checked before inference.
            score_threshold: Keep detections with ``score > score_threshold`` (applied before the mask head).
            mask_threshold: Mask probability threshold.
            batch_size: Accepted for interface parity; the graph runs one image at a time.
            progress: Show a tqdm progress bar.

        Returns:
            One :class:`~maskrcnn_custom.Prediction` per image.

        Examples:
            >>> import os, tempfile, numpy as np
            >>> from maskrcnn_custom import OnnxPredictor, export_onnx, maskrcnn_resnet18_fpn
            >>> path = export_onnx(maskrcnn_resnet18_fpn(weights_backbone=None, mask_hidden_dim=16),
            ...                    os.path.join(tempfile.mkdtemp(), "m.onnx"), image_size=64)
            >>> preds = OnnxPredictor(path).predict([np.zeros((48, 64), dtype=np.uint8)], score_threshold=0.3)
            >>> preds[0].image_size
            (48, 64)
        """
        score_threshold = check_fraction(score_threshold, "score_threshold")
        mask_threshold = check_fraction(mask_threshold, "mask_threshold")
        check_positive_int(batch_size, "batch_size")
        if not isinstance(progress, bool):
            raise TypeError(f"progress must be True or False, got {progress!r}")
        items = check_images(images)
        results: list[Prediction] = []
        with progress_bar(total=len(items), desc="predict (onnx)", enabled=progress, unit="img") as bar:
            for item in items:
                image = load_image(item)
                boxes, labels, scores, masks = self.run(
                    image, score_threshold=score_threshold, mask_threshold=mask_threshold
                )
                results.append(
                    Prediction(
                        boxes=torch.from_numpy(boxes).float(),
                        labels=torch.from_numpy(labels).long(),
                        scores=torch.from_numpy(scores).float(),
                        masks=torch.from_numpy(masks.astype(bool, copy=False)),
                        image_size=(int(image.shape[1]), int(image.shape[2])),
                        class_names=self.class_names,
                        source=item.source,
                    )
                )
                bar.update(1)
        return results
