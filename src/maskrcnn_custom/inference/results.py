"""The typed result of :func:`~maskrcnn_custom.predict` for one image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from ..measure import MaskMeasurement

__all__ = ["Prediction"]


@dataclass(frozen=True)
class Prediction:
    """Detections of one image, already thresholded, on the CPU.

    Detections are sorted by decreasing score. Coordinates are pixels of the image as it was given
    (not of the model's internally resized copy).

    Attributes:
        boxes: ``float32 [N, 4]`` boxes as ``(x1, y1, x2, y2)``.
        labels: ``int64 [N]`` class indices (0 is the background and never appears).
        scores: ``float32 [N]`` class scores in ``(score_threshold, 1]``.
        masks: ``bool [N, H, W]`` binary instance masks at the image's size.
        image_size: ``(height, width)`` of the image.
        class_names: Names of all classes (background first) when the model knows them, else ``None``.
        source: The file the image was read from, else ``None``.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import Prediction
        >>> p = Prediction(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), torch.zeros(0),
        ...                torch.zeros(0, 8, 8, dtype=torch.bool), (8, 8))
        >>> len(p)
        0
    """

    boxes: torch.Tensor
    labels: torch.Tensor
    scores: torch.Tensor
    masks: torch.Tensor
    image_size: tuple[int, int]
    class_names: tuple[str, ...] | None = None
    source: str | None = None

    def __len__(self) -> int:
        """Number of detections."""
        return int(self.scores.shape[0])

    @property
    def names(self) -> list[str] | None:
        """Category name of each detection, or ``None`` when the model has no ``config.class_names``."""
        if self.class_names is None:
            return None
        names = self.class_names
        return [names[i] if 0 <= i < len(names) else str(i) for i in self.labels.tolist()]

    def label_image(self) -> np.ndarray:
        """Return an ``HxW`` ``uint16`` image: 0 for background, ``k`` for pixels of detection ``k - 1``.

        Where masks overlap, the higher-scoring detection wins.

        Examples:
            >>> import torch
            >>> from maskrcnn_custom import Prediction
            >>> m = torch.zeros(1, 4, 4, dtype=torch.bool); m[0, 1:3, 1:3] = True
            >>> p = Prediction(torch.tensor([[1., 1., 3., 3.]]), torch.tensor([1]), torch.tensor([0.9]), m, (4, 4))
            >>> int(p.label_image().max())
            1
        """
        h, w = self.image_size
        if len(self) > 65535:
            raise ValueError(f"{len(self)} detections do not fit a uint16 label image (at most 65535)")
        out = np.zeros((h, w), dtype=np.uint16)
        masks = self.masks.numpy()
        for k in range(len(self) - 1, -1, -1):  # lowest score first, so the best detection is painted last
            out[masks[k]] = k + 1
        return out

    def measure(self) -> list[MaskMeasurement]:
        """Shape measurements of each detection's mask (length, widths, oriented box, tortuosity, ...).

        See :func:`maskrcnn_custom.measure.measure_masks`; one :class:`~maskrcnn_custom.measure.MaskMeasurement`
        per detection, in order.

        Examples:
            >>> import torch
            >>> from maskrcnn_custom import Prediction
            >>> m = torch.zeros(1, 16, 40, dtype=torch.bool); m[0, 6:10, 4:36] = True
            >>> p = Prediction(torch.tensor([[4., 6., 36., 10.]]), torch.tensor([1]), torch.tensor([0.9]), m, (16, 40))
            >>> round(p.measure()[0].length)
            32
        """
        from ..measure import measure_masks

        return measure_masks(self.masks)

    def filter(self, *, score_threshold: float) -> Prediction:
        """Return the detections with ``score > score_threshold``.

        Examples:
            >>> import torch
            >>> from maskrcnn_custom import Prediction
            >>> p = Prediction(torch.zeros(2, 4), torch.tensor([1, 1]), torch.tensor([0.9, 0.4]),
            ...                torch.zeros(2, 4, 4, dtype=torch.bool), (4, 4))
            >>> len(p.filter(score_threshold=0.5))
            1
        """
        keep = self.scores > score_threshold
        return Prediction(
            self.boxes[keep],
            self.labels[keep],
            self.scores[keep],
            self.masks[keep],
            self.image_size,
            self.class_names,
            self.source,
        )

    @staticmethod
    def from_raw(
        boxes: torch.Tensor,
        labels: torch.Tensor,
        scores: torch.Tensor,
        mask_probs: torch.Tensor,
        *,
        image_size: Sequence[int],
        mask_threshold: float,
        class_names: Sequence[str] | None = None,
        source: str | None = None,
    ) -> Prediction:
        """Build a prediction from a Mask R-CNN output (``masks`` as ``[N, 1, H, W]`` probabilities).

        Examples:
            >>> import torch
            >>> from maskrcnn_custom import Prediction
            >>> p = Prediction.from_raw(torch.zeros(1, 4), torch.tensor([1]), torch.tensor([0.8]),
            ...                         torch.full((1, 1, 4, 4), 0.7), image_size=(4, 4), mask_threshold=0.5)
            >>> bool(p.masks.all())
            True
        """
        h, w = int(image_size[0]), int(image_size[1])
        masks = torch.as_tensor(mask_probs).reshape(-1, h, w) > mask_threshold
        return Prediction(
            boxes=torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4).cpu(),
            labels=torch.as_tensor(labels).to(torch.int64).reshape(-1).cpu(),
            scores=torch.as_tensor(scores, dtype=torch.float32).reshape(-1).cpu(),
            masks=masks.cpu(),
            image_size=(h, w),
            class_names=None if class_names is None else tuple(class_names),
            source=source,
        )
