"""``time_to_accuracy.py`` with another mask loss: the mask-loss rows of the fast_cpu ablation (docs/training.md).

torchvision's Mask R-CNN computes its mask loss in ``roi_heads.maskrcnn_loss`` (per-pixel binary cross-entropy
on the matched class's logits, targets cut from the ground truth at the logits' size). This wrapper replaces that
function for the whole process, then runs ``benchmarks/time_to_accuracy.py`` with the remaining arguments:

* ``--mask-loss bce_x2``: the same cross-entropy, weighted 2.
* ``--mask-loss bce_dice``: cross-entropy plus a soft Dice loss per RoI (``1 - (2 |p t| + 1) / (|p| + |t| + 1)``),
  which weighs the few foreground pixels of a thin object as much as its background.

A measuring tool, not a library feature: the library keeps torchvision's loss. Example::

    PYTHONPATH=src python benchmarks/time_to_accuracy_mask_loss.py --mask-loss bce_dice \\
        --preset fast_cpu --no-baseline --budget-s 450 --eval-points 2 --out DIR --name dice
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import time_to_accuracy
import torch
import torch.nn.functional as F
import torchvision.models.detection.roi_heads as roi_heads

MASK_LOSSES = ("bce_x2", "bce_dice")


def make_mask_loss(kind: str):
    """A drop-in for ``torchvision.models.detection.roi_heads.maskrcnn_loss``."""
    if kind not in MASK_LOSSES:
        raise ValueError(f"--mask-loss must be one of {MASK_LOSSES}, got {kind!r}")

    def mask_loss(mask_logits, proposals, gt_masks, gt_labels, mask_matched_idxs):
        size = mask_logits.shape[-1]
        labels = torch.cat([lab[idx] for lab, idx in zip(gt_labels, mask_matched_idxs, strict=True)])
        targets = torch.cat(
            [
                roi_heads.project_masks_on_boxes(m, p, i, size)
                for m, p, i in zip(gt_masks, proposals, mask_matched_idxs, strict=True)
            ]
        )
        if targets.numel() == 0:
            return mask_logits.sum() * 0
        logits = mask_logits[torch.arange(labels.shape[0], device=labels.device), labels]
        bce = F.binary_cross_entropy_with_logits(logits, targets)
        if kind == "bce_x2":
            return 2.0 * bce
        p, t = logits.sigmoid().flatten(1), targets.flatten(1)
        dice = 1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)
        return bce + dice.mean()

    return mask_loss


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mask-loss", required=True, choices=MASK_LOSSES)
    args, rest = p.parse_known_args(argv)
    roi_heads.maskrcnn_loss = make_mask_loss(args.mask_loss)
    recipe = time_to_accuracy.library_recipe
    time_to_accuracy.library_recipe = lambda a: {**recipe(a), "mask_loss": args.mask_loss}
    return time_to_accuracy.main(rest)


if __name__ == "__main__":
    main(sys.argv[1:])
