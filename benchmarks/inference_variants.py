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
from pathlib import Path
from typing import Any

import torch
from _machine import check_out_free, cpu_model, load_averages, write_report
from box_refine import predict_masks
from torch import Tensor, nn
from torch.utils.data import DataLoader

from maskrcnn_custom import SyntheticElongatedDataset, collate_fn, evaluate, from_pretrained

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
    p.add_argument("--model", type=Path, required=True, help="a save_pretrained folder")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {list(VARIANTS)}")
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--val-images", type=int, default=50, help="held-out images (default 50, seed 1000)")
    p.add_argument("--val-seed", type=int, default=1000)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    args = p.parse_args(argv)
    check_out_free(args.out, args.overwrite)
    if not args.model.is_dir():
        raise FileNotFoundError(f"--model {args.model} is not a save_pretrained folder")
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if not names or unknown:
        p.error(f"--variants must name some of {list(VARIANTS)}, got {args.variants!r}")
    if args.threads:
        torch.set_num_threads(args.threads)
    before, start = load_averages(), time.perf_counter()
    model = from_pretrained(args.model).eval()
    val = SyntheticElongatedDataset(
        args.val_images, image_size=args.image_size, seed=args.val_seed, config="heldout"
    )
    loader = DataLoader(val, batch_size=4, collate_fn=collate_fn)
    rows = {}
    for name in names:
        t = time.perf_counter()
        metrics = evaluate(
            Variant(model, **VARIANTS[name]), loader, "cpu", progress=False, thin_metrics=False
        )
        rows[name] = {
            **{f"segm_{k}": metrics["segm"][k] for k in ("AP", "AP50", "AP75")},
            **{f"bbox_{k}": metrics["bbox"][k] for k in ("AP", "AP50", "AP75")},
            "eval_s": round(time.perf_counter() - t, 1),
        }
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
        "val_data": f"SyntheticElongatedDataset({args.val_images}, image_size={args.image_size}, "
        f"seed={args.val_seed}, config='heldout')",
        "variants": rows,
        "load_average_1_5_15": {"before": before, "after": load_averages()},
        "wall_s": round(time.perf_counter() - start, 1),
    }
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
