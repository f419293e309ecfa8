"""Iterative box refinement at inference: the box head applied again to its own boxes (``box_refine_steps``).

Mask R-CNN regresses each box once, from the features of its proposal. Applying the box head again to the
features of the *regressed* box (iterative bounding-box regression, Gidaris & Komodakis, ICCV 2015) moves the
box by what the head still sees wrong. It costs one more box-head pass per step on the kept detections and
nothing in training; the masks are then predicted inside the final boxes, so a tighter box also gives the mask
head a better crop. Scores and labels stay those of the first pass.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops.boxes import clip_boxes_to_image

from .._utils.checks import check_int
from .config import MAX_BOX_REFINE_STEPS

__all__ = ["RefiningRoIHeads", "refine_boxes"]


def refine_boxes(
    heads: RoIHeads,
    features: dict[str, Tensor],
    boxes: list[Tensor],
    labels: list[Tensor],
    image_shapes: list[tuple[int, int]],
) -> list[Tensor]:
    """Move each box by the box head's regression for its label, computed from the box's own features.

    Args:
        heads: The model's ``roi_heads`` (its box pool, head, predictor and box coder are used).
        features: The backbone's feature maps of the batch.
        boxes: Per image, the ``(N, 4)`` boxes in the resized image's coordinates.
        labels: Per image, the ``(N,)`` labels whose regression moves each box.
        image_shapes: Per image, the resized ``(height, width)``; moved boxes are clipped to it.

    Returns:
        Per image, the moved ``(N, 4)`` boxes.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> from maskrcnn_custom.models.refine import refine_boxes
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None, min_size=64, max_size=64).eval()
        >>> features = model.backbone(torch.rand(1, 3, 64, 64))
        >>> boxes = [torch.tensor([[4.0, 8.0, 40.0, 20.0]])]
        >>> refine_boxes(model.roi_heads, features, boxes, [torch.tensor([1])], [(64, 64)])[0].shape
        torch.Size([1, 4])
    """
    counts = [len(b) for b in boxes]
    if not sum(counts):
        return boxes
    pooled = heads.box_roi_pool(features, boxes, image_shapes)
    regression = heads.box_predictor(heads.box_head(pooled))[1]
    decoded = heads.box_coder.decode(regression, boxes)  # (N, classes, 4)
    label = torch.cat(labels)
    moved = decoded[torch.arange(len(label), device=label.device), label]
    return [clip_boxes_to_image(b, size) for b, size in zip(moved.split(counts), image_shapes, strict=True)]


class RefiningRoIHeads(RoIHeads):
    """torchvision's ``RoIHeads`` with ``refine_steps`` extra box-head passes on its detections at inference.

    Training is torchvision's, unchanged (the same losses, the same parameters and state-dict keys), and
    so is inference with ``refine_steps=0``. At inference each step moves every detection's box by
    :func:`refine_boxes`; the masks are predicted in the final boxes.

    Build one from a model's heads with :meth:`like`; :func:`~maskrcnn_custom.build_model` does so for a
    config with ``box_head.refine_steps > 0`` (the builders' ``box_refine_steps=``).

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> from maskrcnn_custom.models.refine import RefiningRoIHeads
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None, box_refine_steps=1)
        >>> type(model.roi_heads).__name__, model.roi_heads.refine_steps
        ('RefiningRoIHeads', 1)
    """

    refine_steps: int

    @classmethod
    def like(cls, heads: RoIHeads, refine_steps: int) -> RefiningRoIHeads:
        """``heads``' modules and settings (shared, not copied) with ``refine_steps`` extra passes.

        Raises:
            ValueError: If ``refine_steps`` is not an int in 0-3, before anything is copied.
        """
        check_int(
            refine_steps,
            "refine_steps",
            minimum=0,
            maximum=MAX_BOX_REFINE_STEPS,
            hint="extra box-head passes",
        )
        refining = cls.__new__(cls)
        # the module dicts are copied, so replacing a submodule of one heads object leaves the other's alone
        refining.__dict__.update(
            {k: v.copy() if isinstance(v, dict) else v for k, v in heads.__dict__.items()}
        )
        refining.refine_steps = refine_steps
        refining._refine_features = None
        return refining

    def forward(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        """Torchvision's ``RoIHeads.forward``; at inference with ``refine_steps > 0`` the boxes are refined."""
        if self.training or not self.refine_steps:
            return super().forward(features, proposals, image_shapes, targets)
        # postprocess_detections sees only the box predictor's outputs; it needs the features to refine.
        self._refine_features = features
        try:
            return super().forward(features, proposals, image_shapes, targets)
        finally:
            self._refine_features = None

    def postprocess_detections(
        self,
        class_logits: Tensor,
        box_regression: Tensor,
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """Torchvision's detections (score threshold, NMS, top-k), then ``refine_steps`` box-head passes."""
        boxes, scores, labels = super().postprocess_detections(
            class_logits, box_regression, proposals, image_shapes
        )
        features = self._refine_features
        if features is not None:
            for _ in range(self.refine_steps):
                boxes = refine_boxes(self, features, boxes, labels, image_shapes)
        return boxes, scores, labels
