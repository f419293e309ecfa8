"""Match the detections of a reduced-precision run to a float32 reference (greedy by box IoU)."""

from __future__ import annotations

import torch
from torchvision.ops import box_iou


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> float:
    """IoU of two boolean masks (1.0 when both are empty)."""
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def match(reference, candidate, *, min_box_iou: float = 0.5) -> list[tuple[int, int, float, float, float]]:
    """Greedy one-to-one matches of two Predictions of one image, best reference score first.

    Returns ``(ref_index, cand_index, box_iou, score_diff, mask_iou)`` for every match with the same label and
    box IoU >= ``min_box_iou``.
    """
    if len(reference) == 0 or len(candidate) == 0:
        return []
    ious = box_iou(reference.boxes, candidate.boxes)
    ious[reference.labels[:, None] != candidate.labels[None, :]] = 0.0
    used: set[int] = set()
    out = []
    for i in range(len(reference)):
        order = torch.argsort(ious[i], descending=True).tolist()
        j = next((j for j in order if j not in used), None)
        if j is None or float(ious[i, j]) < min_box_iou:
            continue
        used.add(j)
        out.append(
            (
                i,
                j,
                float(ious[i, j]),
                abs(float(reference.scores[i] - candidate.scores[j])),
                mask_iou(reference.masks[i], candidate.masks[j]),
            )
        )
    return out
