"""Run an exported ONNX model with ONNX Runtime behind the same ``predict`` interface as PyTorch."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._utils.checks import check_fraction, check_optional_positive_int, check_positive_int
from .._utils.optional import require
from .._utils.progress import progress_bar
from ..inference.inputs import ImageItem, check_images, load_image
from ..inference.results import Prediction

__all__ = ["OnnxPredictor"]

BATCH_INPUTS = ["images", "score_threshold", "mask_threshold"]


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
        inputs = self.session.get_inputs()
        names = [i.name for i in inputs]
        if names not in (["image", "score_threshold", "mask_threshold"], BATCH_INPUTS):
            raise ValueError(
                f"{str(self.path)!r} has inputs {names}; expected a model written by maskrcnn_custom.export_onnx"
            )
        #: Images per run of the graph (fixed at export; 1 for a one-image file).
        self.batch_size: int = 1
        if names == BATCH_INPUTS:
            first = inputs[0].shape[0]
            if not isinstance(first, int) or first < 1:
                raise ValueError(
                    f"{str(self.path)!r}: the batch axis of 'images' is not a fixed size ({first!r})"
                )
            self.batch_size = first
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
        """Run the graph once; return its outputs (boxes, labels, scores, masks; then the counts per image).

        ``image`` is one float ``3xHxW`` image in ``[0, 1]`` for a one-image file, or ``batch_size`` images
        of one size as ``NxCxHxW`` for a batched file.
        """
        feeds = {
            "image" if self.batch_size == 1 else "images": np.ascontiguousarray(
                image.numpy(), dtype=np.float32
            ),
            "score_threshold": np.asarray(score_threshold, dtype=np.float32),
            "mask_threshold": np.asarray(mask_threshold, dtype=np.float32),
        }
        return tuple(self.session.run(None, feeds))

    def _run_images(
        self, images: list[torch.Tensor], *, score_threshold: float, mask_threshold: float
    ) -> list[tuple[np.ndarray, ...]]:
        """Per-image (boxes, labels, scores, masks) for up to ``batch_size`` images of one size."""
        if self.batch_size == 1:
            return [
                self.run(i, score_threshold=score_threshold, mask_threshold=mask_threshold) for i in images
            ]
        blank = torch.zeros_like(images[0])  # fills a short batch; its outputs are dropped
        batch = torch.stack([*images, *[blank] * (self.batch_size - len(images))])
        *outs, counts = self.run(batch, score_threshold=score_threshold, mask_threshold=mask_threshold)
        ends = np.cumsum(counts)
        starts = ends - counts
        return [
            tuple(o[s:e] for o in outs)
            for s, e in zip(starts[: len(images)], ends[: len(images)], strict=True)
        ]

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
            batch_size: Accepted for interface parity; the file decides: a one-image file runs the images one
                by one, a batched one (``export_onnx(..., batch_size=N)``) runs consecutive images of the same
                size ``N`` at a time (a short or mixed-size batch is filled with blank images).
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
            for chunk, tensors in self._chunks(items):
                outs = self._run_images(
                    tensors, score_threshold=score_threshold, mask_threshold=mask_threshold
                )
                for item, image, (boxes, labels, scores, masks) in zip(chunk, tensors, outs, strict=True):
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
                bar.update(len(chunk))
        return results

    def _chunks(self, items: list[ImageItem]) -> Iterator[tuple[list[ImageItem], list[torch.Tensor]]]:
        """Consecutive runs of at most ``batch_size`` items whose images have the same size, loaded."""
        chunk: list[ImageItem] = []
        tensors: list[torch.Tensor] = []
        for item in items:
            tensor = load_image(item)
            if chunk and (len(chunk) == self.batch_size or tensor.shape != tensors[0].shape):
                yield chunk, tensors
                chunk, tensors = [], []
            chunk.append(item)
            tensors.append(tensor)
        if chunk:
            yield chunk, tensors
