"""What mask pasting alone costs: segm AP of *ground-truth* masks sent through the mask branch's geometry.

The mask branch trains on box-relative targets (torchvision's ``maskrcnn_loss``: ``roi_align`` of the ground
truth at the logits' size, ``aligned=False``) and pastes its predictions back at the box. This benchmark
sends the ground truth of the held-out images itself through that round trip: cut at ``M x M`` px as the loss
cuts its targets, pasted with torchvision's ``paste_masks_in_image`` or with
:func:`maskrcnn_custom.models.paste.paste_masks_exact` (``mask_paste="exact"``), scored as detections with
score 1 by the library's COCO evaluation. A perfect mask head reaches exactly these numbers, so they bound
the segm AP of any model trained that way. With ``--model`` it also scores that model's predictions under
both pastes, its own predicted boxes filled with the ground truth of the best-matching object (what its
boxes would allow with a perfect mask head), and its box recall by object size (longer box side in px), next to
how many objects of each size the held-out and the training (``"default"``) generators draw.

Usage::

    PYTHONPATH=src python benchmarks/mask_paste.py --out benchmarks/results/mask_paste_heldout.json
    PYTHONPATH=src python benchmarks/mask_paste.py --model path/to/save_pretrained_folder

Prints one JSON object (and writes it to ``--out``).
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
from torchvision.models.detection.roi_heads import paste_masks_in_image
from torchvision.ops import box_iou, roi_align

from maskrcnn_custom import SyntheticElongatedDataset, from_pretrained
from maskrcnn_custom.engine.coco import predictions_to_coco, target_to_coco
from maskrcnn_custom.engine.evaluate import coco_metrics
from maskrcnn_custom.models.paste import paste_masks_exact

PASTES = ("torchvision", "exact")


def cut_targets(masks: torch.Tensor, boxes: torch.Tensor, side: int) -> torch.Tensor:
    """``N x 1 x side x side`` box-relative masks, as torchvision's ``maskrcnn_loss`` cuts its targets."""
    rois = torch.cat([torch.arange(len(boxes), dtype=torch.float32)[:, None], boxes.float()], dim=1)
    return roi_align(masks[:, None].float(), rois, (side, side), 1.0)


def paste(masks: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], how: str) -> torch.Tensor:
    if how == "torchvision":
        return paste_masks_in_image(masks, boxes, size, padding=1)
    return paste_masks_exact(masks, boxes, size)


def _segm(images: list[dict], anns: list[dict], results: list[dict]) -> dict[str, float]:
    m = coco_metrics(images, anns, results, iou_types=("segm",), elongation_edges=None, thin_metrics=False)
    return {k: round(m["segm"][k], 4) for k in ("AP", "AP50", "AP75")}


#: Edges (px, longer box side) of the size bins of the box recall; the last bin is open.
SIZE_EDGES = (50, 100, 150)


def _bin_names() -> list[str]:
    lowers = (0, *SIZE_EDGES)
    return [f"{lo}-{hi}" for lo, hi in zip(lowers, SIZE_EDGES, strict=False)] + [f"{SIZE_EDGES[-1]}+"]


def _size_bin(side: float) -> str:
    lower = 0
    for edge in SIZE_EDGES:
        if side < edge:
            return f"{lower}-{edge}"
        lower = edge
    return f"{lower}+"


def load_samples(dataset: Any) -> list[tuple[dict, list[dict], torch.Tensor, dict]]:
    """``(coco image record, coco annotations, image, target)`` of every sample, drawn once."""
    samples = []
    for i in range(len(dataset)):
        image, target = dataset[i]
        h, w = image.shape[-2:]
        rec, anns = target_to_coco(target, height=h, width=w)
        samples.append((rec, anns, image, target))
    return samples


def _records(samples: Sequence[tuple]) -> tuple[list[dict], list[dict]]:
    return [s[0] for s in samples], [a for s in samples for a in s[1]]


def size_histogram(samples: Sequence[tuple]) -> dict[str, int]:
    """Objects per size bin (longer side of their box, px)."""
    counts = dict.fromkeys(_bin_names(), 0)
    for _, _, _, target in samples:
        for side in (target["boxes"][:, 2:] - target["boxes"][:, :2]).max(1).values.tolist():
            counts[_size_bin(side)] += 1
    return counts


def ground_truth_round_trip(
    samples: Sequence[tuple], sides: Sequence[int]
) -> dict[str, dict[str, dict[str, float]]]:
    """segm AP of the ground truth cut at each side and pasted each way."""
    images, anns = _records(samples)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for side in sides:
        for how in PASTES:
            results = []
            for rec, _, image, target in samples:
                boxes = target["boxes"].float()
                pred = {
                    "boxes": boxes,
                    "labels": target["labels"],
                    "scores": torch.ones(len(boxes)),
                    "masks": paste(
                        cut_targets(target["masks"], boxes, side), boxes, tuple(image.shape[-2:]), how
                    ),
                }
                results.extend(predictions_to_coco(rec["id"], pred, mask_threshold=0.5))
            out.setdefault(str(side), {})[how] = _segm(images, anns, results)
    return out


@torch.no_grad()
def model_round_trip(
    model: torch.nn.Module, samples: Sequence[tuple], side: int, *, score_threshold: float = 0.5
) -> dict[str, Any]:
    """The model's segm AP under each paste, with its boxes filled by the best-matching ground truth, and box
    recall by object size.

    The box-relative mask probabilities are taken from the output of ``model.roi_heads`` (before the model's
    own paste), so the model's ``mask_paste`` setting does not matter. The recall counts, per size bin, the
    objects that a detection above ``score_threshold`` overlaps with box IoU >= 0.5 (and >= 0.75).
    """
    model.eval()
    captured: list[torch.Tensor] = []
    hook = model.roi_heads.register_forward_hook(
        lambda module, inputs, output: captured.append(output[0][0]["masks"].clone())
    )
    raw = []
    try:
        for rec, _, image, target in samples:
            captured.clear()
            [out] = model([image])
            raw.append((rec["id"], target, out, captured[0]))
    finally:
        hook.remove()
    images, anns = _records(samples)
    result: dict[str, Any] = {
        "detections_per_image": round(sum(len(o["boxes"]) for _, _, o, _ in raw) / len(raw), 2)
    }
    for how in PASTES:
        results = []
        for image_id, target, out, probs in raw:
            size = tuple(target["masks"].shape[-2:])
            pred = {**out, "masks": paste(probs, out["boxes"], size, how)}
            results.extend(predictions_to_coco(image_id, pred, mask_threshold=0.5))
        result[f"model_{how}_paste"] = _segm(images, anns, results)
    results = []
    best_iou: dict[str, list[float]] = {}
    for image_id, target, out, _ in raw:
        boxes = out["boxes"]
        gt_boxes = target["boxes"].float()
        h, w = target["masks"].shape[-2:]
        if len(boxes):
            best = box_iou(boxes, gt_boxes).argmax(1)
            gt = target["masks"][best]
            cut = torch.cat([cut_targets(gt[k : k + 1], boxes[k : k + 1], side) for k in range(len(boxes))])
            masks = paste_masks_exact(cut, boxes, (h, w))
        else:
            masks = torch.zeros(0, 1, h, w)
        results.extend(predictions_to_coco(image_id, {**out, "masks": masks}, mask_threshold=0.5))
        kept = boxes[out["scores"] > score_threshold]
        ious = box_iou(gt_boxes, kept).max(1).values if len(kept) else torch.zeros(len(gt_boxes))
        sides = (gt_boxes[:, 2:] - gt_boxes[:, :2]).max(1).values
        for gt_side, iou in zip(sides.tolist(), ious.tolist(), strict=True):
            best_iou.setdefault(_size_bin(gt_side), []).append(iou)
    result["model_boxes_ground_truth_masks_exact_paste"] = _segm(images, anns, results)
    result[f"box_recall_by_size_score_above_{score_threshold}"] = {
        b: {
            "objects": len(v),
            "iou_0.5": round(sum(x >= 0.5 for x in v) / len(v), 3),
            "iou_0.75": round(sum(x >= 0.75 for x in v) / len(v), 3),
        }
        for b, v in ((b, best_iou[b]) for b in _bin_names() if b in best_iou)
    }
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--val-images", type=int, default=50, help="held-out images (default 50, seed 1000)")
    p.add_argument("--val-seed", type=int, default=1000)
    p.add_argument("--sides", default="28,56,112", help="comma-separated mask sides for the ground truth")
    p.add_argument("--model", type=Path, default=None, help="a save_pretrained folder to score as well")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    args = p.parse_args(argv)
    check_out_free(args.out, args.overwrite)
    if args.model is not None and not args.model.is_dir():
        raise FileNotFoundError(f"--model {args.model} is not a save_pretrained folder")
    sides = [int(s) for s in args.sides.split(",") if s.strip()]
    if args.threads:
        torch.set_num_threads(args.threads)
    before = load_averages()
    start = time.perf_counter()
    samples = load_samples(
        SyntheticElongatedDataset(
            args.val_images, image_size=args.image_size, seed=args.val_seed, config="heldout"
        )
    )
    # the training generator's objects at the same seed and size, for the size bins of the recall
    train_style = load_samples(
        SyntheticElongatedDataset(
            args.val_images, image_size=args.image_size, seed=args.val_seed, config="default"
        )
    )
    report: dict[str, Any] = {
        "benchmark": "mask_paste",
        "machine": {"cpu": cpu_model(), "python": platform.python_version(), "torch": torch.__version__},
        "val_data": f"SyntheticElongatedDataset({args.val_images}, image_size={args.image_size}, "
        f"seed={args.val_seed}, config='heldout')",
        "ground_truth_segm": ground_truth_round_trip(samples, sides),
        "objects_by_box_size": {"heldout": size_histogram(samples), "default": size_histogram(train_style)},
    }
    if args.model is not None:
        model = from_pretrained(args.model)
        if (
            tuple(model.transform.min_size) != (args.image_size,)
            or model.transform.max_size != args.image_size
        ):
            raise ValueError(
                f"--model resizes images to {model.transform.min_size}/{model.transform.max_size} px; pass "
                f"--image-size equal to its min_size = max_size so its masks are pasted where it predicted them"
            )
        report["model"] = {
            "path": str(args.model),
            **model_round_trip(model, samples, model.config.mask_head.resolution),
        }
    report["load_average_1_5_15"] = {"before": before, "after": load_averages()}
    report["wall_s"] = round(time.perf_counter() - start, 1)
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
