"""Inference-only variants of a trained model on the held-out images: mask-quality rescoring, flip-averaged masks.

Neither changes a weight; each is scored with ``maskrcnn_custom.evaluate`` on the held-out generator's images:

- ``maskness``: each detection's score multiplied by the mean probability of its mask's foreground pixels
  (probability > 0.5 in the predicted ``M x M`` mask), as SOLO and YOLACT rank masks; ``maskness2`` squares it.
- ``flip``: each mask averaged with the mask predicted, in the same (mirrored) box, on the horizontally flipped
  image, then flipped back.
- ``flip+maskness``: both.

``base`` is the model as it is (with its own ``box_refine_steps``)::

    PYTHONPATH=src python benchmarks/inference_variants.py --model path/to/save_pretrained_folder
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Sequence
from typing import Any

import torch
from _heldout import add_heldout_args, ap_row, check_heldout_args, heldout_description, load_heldout
from _machine import cpu_model, load_averages, write_report
from box_refine import predict_masks
from torch import Tensor, nn

#: Variant name -> keyword arguments of :class:`Variant`.
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "maskness": {"rescore": 1.0},
    "maskness2": {"rescore": 2.0},
    "flip": {"flip": True},
    "flip+maskness": {"flip": True, "rescore": 1.0},
}


def maskness(probs: Tensor) -> Tensor:
    """Mean probability of the pixels above 0.5 of each ``(N, 1, M, M)`` mask (0 for an empty mask)."""
    p = probs.flatten(1)
    on = (p > 0.5).to(p.dtype)
    return (p * on).sum(1) / on.sum(1).clamp(min=1)


def mirror_boxes(boxes: Tensor, width: int) -> Tensor:
    """``(N, 4)`` boxes mirrored left-right in an image ``width`` pixels wide."""
    out = boxes.clone()
    out[:, 0], out[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    return out


class Variant(nn.Module):
    """``model`` at inference, its masks averaged with the flipped image's (``flip``) and/or its scores rescored.

    Args:
        model: A torchvision ``MaskRCNN`` in eval mode.
        rescore: Power of the maskness the scores are multiplied by (``None``: scores as they are).
        flip: Average each mask with the flipped image's.
    """

    def __init__(self, model: nn.Module, *, rescore: float | None = None, flip: bool = False) -> None:
        super().__init__()
        self.model, self.rescore, self.flip = model, rescore, flip
        self.train(False)

    def forward(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        m = self.model
        original = [img.shape[-2:] for img in images]
        batch, _ = m.transform(images)
        features = m.backbone(batch.tensors)
        proposals, _ = m.rpn(batch, features)
        detections, _ = m.roi_heads(features, proposals, batch.image_sizes)
        if self.flip:
            width = batch.tensors.shape[-1]
            flipped = m.backbone(batch.tensors.flip(-1))
            boxes = [mirror_boxes(d["boxes"], width) for d in detections]
            labels = [d["labels"] for d in detections]
            probs = predict_masks(m, flipped, boxes, labels, batch.image_sizes)
            for d, p in zip(detections, probs, strict=True):
                d["masks"] = 0.5 * (d["masks"] + p.flip(-1))
        if self.rescore is not None:
            for d in detections:
                d["scores"] = d["scores"] * maskness(d["masks"]) ** self.rescore
        return m.transform.postprocess(detections, batch.image_sizes, original)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_heldout_args(p)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {list(VARIANTS)}")
    args = p.parse_args(argv)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not names or sorted(set(names) - set(VARIANTS)):
        p.error(f"--variants must name some of {list(VARIANTS)}, got {args.variants!r}")
    check_heldout_args(args)
    before, start = load_averages(), time.perf_counter()
    model, _, loader = load_heldout(args)
    rows = {name: ap_row(Variant(model, **VARIANTS[name]), loader) for name in names}
    report = {
        "benchmark": "inference_variants",
        "machine": {
            "cpu": cpu_model(),
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "model": str(args.model),
        "box_refine_steps": model.config.box_head.refine_steps,
        "val_data": heldout_description(args),
        "variants": rows,
        "load_average_1_5_15": {"before": before, "after": load_averages()},
        "wall_s": round(time.perf_counter() - start, 1),
    }
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
