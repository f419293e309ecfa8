"""Test-time box refinement (``box_refine_steps``): a trained model's box head applied again to its own boxes.

Mask R-CNN regresses each box once, from the features of its proposal. Applying the box head a second time to
the features of the *regressed* box (iterative bounding-box regression, as in Gidaris & Komodakis, ICCV 2015) moves
the box by what the head still sees wrong, at the cost of one more box-head pass and nothing in training. The
masks are then predicted inside the final boxes, so a tighter box also gives the mask head a better crop. Scores
and labels stay those of the first pass. The library's implementation is
``maskrcnn_custom.models.refine.RefiningRoIHeads``; this benchmark measures what it gives.

For each ``box_refine_steps`` value in ``--steps`` (0: torchvision's single regression; the model's own setting
is replaced), the model's predictions on the held-out
generator's images are scored with ``maskrcnn_custom.evaluate`` (segm and bbox AP, AP50, AP75). The ceiling of
better boxes comes with it: ``masks_in_true_boxes`` gives the mask IoU of every held-out object when the mask
head is given the object's true box (mean, and the share at IoU >= 0.5, 0.75, 0.9)::

    PYTHONPATH=src python benchmarks/box_refine.py --model path/to/save_pretrained_folder --steps 0,1,2
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
from collections.abc import Sequence
from typing import Any

import torch
from _heldout import add_heldout_args, ap_row, check_heldout_args, heldout_description, load_heldout
from _machine import cpu_model, load_averages, write_report
from torch import Tensor, nn
from torchvision.models.detection.roi_heads import maskrcnn_inference

from maskrcnn_custom.models.refine import RefiningRoIHeads


def predict_masks(
    model: nn.Module,
    features: dict[str, Tensor],
    boxes: list[Tensor],
    labels: list[Tensor],
    image_sizes: list,
) -> list[Tensor]:
    """The mask probabilities ``(N, 1, M, M)`` of each image's ``boxes`` for their ``labels`` (torchvision's way)."""
    heads = model.roi_heads
    logits = heads.mask_predictor(heads.mask_head(heads.mask_roi_pool(features, boxes, image_sizes)))
    return maskrcnn_inference(logits, labels)


def with_refine_steps(model: nn.Module, steps: int) -> nn.Module:
    """``model`` with ``box_refine_steps=steps`` (its own setting replaced), as the builders make it."""
    model.roi_heads = RefiningRoIHeads.like(model.roi_heads, steps)
    model.config = dataclasses.replace(
        model.config, box_head=dataclasses.replace(model.config.box_head, refine_steps=steps)
    )
    return model


@torch.no_grad()
def masks_in_true_boxes(model: nn.Module, dataset: Any) -> dict[str, Any]:
    """Mask IoU of each object of ``dataset`` when ``model``'s mask head predicts it inside its true box.

    ``model`` is put in eval mode (its transform pastes masks only then).
    """
    model.eval()
    ious = []
    for i in range(len(dataset)):
        image, target = dataset[i]
        if not len(target["boxes"]):
            continue
        batch, _ = model.transform([image])
        features = model.backbone(batch.tensors)
        scale = batch.image_sizes[0][0] / image.shape[-2]
        boxes = [target["boxes"] * scale]
        labels = target["labels"]
        (probs,) = predict_masks(model, features, boxes, [labels], batch.image_sizes)
        detections = [
            {"boxes": boxes[0], "labels": labels, "scores": torch.ones(len(labels)), "masks": probs}
        ]
        masks = model.transform.postprocess(detections, batch.image_sizes, [image.shape[-2:]])[0]["masks"]
        predicted, true = masks[:, 0] > 0.5, target["masks"].bool()
        inter = (predicted & true).flatten(1).sum(1)
        union = (predicted | true).flatten(1).sum(1).clamp(min=1)
        ious.append(inter / union)
    iou = torch.cat(ious) if ious else torch.zeros(0)
    if not len(iou):
        return {"objects": 0}
    return {
        "objects": len(iou),
        "mean_iou": float(iou.mean()),
        **{f"iou_{t}": float((iou >= t).float().mean()) for t in (0.5, 0.75, 0.9)},
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_heldout_args(p)
    p.add_argument("--steps", default="0,1,2", help="comma-separated numbers of extra box-head passes")
    args = p.parse_args(argv)
    try:
        steps = [int(s) for s in args.steps.split(",") if s.strip()]
    except ValueError:
        p.error(f"--steps must be comma-separated ints >= 0, got {args.steps!r}")
    if not steps or min(steps) < 0:
        p.error(f"--steps must be comma-separated ints >= 0, got {args.steps!r}")
    check_heldout_args(args)
    before = load_averages()
    start = time.perf_counter()
    model, val, loader = load_heldout(args)
    rows = {str(n): ap_row(with_refine_steps(model, n), loader) for n in steps}
    ceiling = masks_in_true_boxes(model, val)
    report = {
        "benchmark": "box_refine",
        "machine": {"cpu": cpu_model(), "python": platform.python_version(), "torch": torch.__version__},
        "model": str(args.model),
        "val_data": heldout_description(args),
        "extra_box_head_passes": rows,
        "masks_in_true_boxes": ceiling,
        "load_average_1_5_15": {"before": before, "after": load_averages()},
        "wall_s": round(time.perf_counter() - start, 1),
    }
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
