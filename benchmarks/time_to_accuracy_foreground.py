"""``time_to_accuracy.py`` with a dense foreground branch: the foreground rows of the fast_cpu ablation.

Why it was tried: on the demo's model (50 held-out images), keeping each predicted mask only where the *true*
foreground is (``mask > 0.25`` and inside the union of the ground-truth masks) raises segm AP from 0.174 to 0.417
with the same boxes. Which pixels are object at all is a local question a dense branch can learn from every
pixel of every image, where the RoI mask head, 14 x 14 pooled features over its box, learns from a few dozen RoIs.

This wrapper gives the library's model (``time_to_accuracy.library_model``) a :class:`ForegroundRoIHeads`: the
same heads plus a :class:`ForegroundHead` on FPN level ``"0"`` (3x3 conv to 64 channels, GroupNorm, ReLU, 3x3
conv to ``stride**2`` channels, ``pixel_shuffle``: one logit per image pixel), trained with ``loss_foreground``
(binary cross-entropy + soft Dice against the union of the target masks). Its logits, cut at the mask resolution
as torchvision cuts the mask targets (``roi_align``, ``aligned=False``), are added to the mask logits:

* ``--foreground fused``: in training (detached, so the mask loss trains the mask head only) and at inference;
* ``--foreground aux``: at inference only; in training the branch is an auxiliary dense loss.

A measuring tool, not a library feature: neither variant beat the preset of the time at 900 s
(docs/training.md). Both throw the branch's resolution away by cutting it to the mask grid; the library's
``mask_foreground_dim`` (``maskrcnn_custom.models.foreground``) instead gates the pasted masks with the foreground
at the image's own pixels, which did beat it. Example::

    PYTHONPATH=src python benchmarks/time_to_accuracy_foreground.py --foreground aux \\
        --preset fast_cpu --no-baseline --budget-s 900 --eval-points 3 --out DIR --name fg
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import time_to_accuracy
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss, maskrcnn_inference, maskrcnn_loss
from torchvision.ops import roi_align

from maskrcnn_custom.models.foreground import foreground_loss  # the library's: BCE + soft Dice on the union
from maskrcnn_custom.models.network import head_group_norm

MODES = ("fused", "aux")
#: Channels of the foreground branch's hidden conv.
CHANNELS = 64


class ForegroundHead(nn.Module):
    """Per-pixel foreground logits ``(N, 1, s * H, s * W)`` from an FPN level ``(N, C, H, W)`` of stride ``s``."""

    def __init__(self, in_channels: int, *, stride: int, channels: int = CHANNELS) -> None:
        super().__init__()
        self.stride = int(stride)
        self.conv = nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)
        self.norm = head_group_norm(channels)
        self.logits = nn.Conv2d(channels, self.stride**2, 3, padding=1)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.logits.weight, std=0.01)
        nn.init.zeros_(self.logits.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(self.logits(F.relu(self.norm(self.conv(x)))), self.stride)


def align_foreground(logits: Tensor, boxes: list[Tensor], size: int) -> Tensor:
    """Each box cut from its image's logits at ``size x size``, as ``maskrcnn_loss`` cuts the mask targets."""
    return roi_align(logits, [b.to(logits.dtype) for b in boxes], (size, size), 1.0)


class ForegroundRoIHeads(RoIHeads):
    """torchvision's ``RoIHeads`` (its functions are called) plus a foreground branch added to the mask logits."""

    def __init__(
        self, heads: RoIHeads, foreground: ForegroundHead, *, mode: str, featmap_name: str = "0"
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"--foreground must be one of {MODES}, got {mode!r}")
        super().__init__(
            heads.box_roi_pool,
            heads.box_head,
            heads.box_predictor,
            heads.proposal_matcher.high_threshold,
            heads.proposal_matcher.low_threshold,
            heads.fg_bg_sampler.batch_size_per_image,
            heads.fg_bg_sampler.positive_fraction,
            heads.box_coder.weights,
            heads.score_thresh,
            heads.nms_thresh,
            heads.detections_per_img,
            mask_roi_pool=heads.mask_roi_pool,
            mask_head=heads.mask_head,
            mask_predictor=heads.mask_predictor,
        )
        self.foreground = foreground
        self.mode = mode
        self.featmap_name = featmap_name

    def forward(  # type: ignore[override]
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        if self.training:
            if targets is None:
                raise ValueError("targets are needed in training mode")
            proposals, matched_idxs, labels, regression_targets = self.select_training_samples(
                proposals, targets
            )
        class_logits, box_regression = self.box_predictor(
            self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        )
        fg_logits = self.foreground(features[self.featmap_name])
        result: list[dict[str, Tensor]] = []
        losses: dict[str, Tensor] = {}
        if self.training:
            loss_classifier, loss_box_reg = fastrcnn_loss(
                class_logits, box_regression, labels, regression_targets
            )
            losses = {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg}
            positives = [(lab > 0).nonzero().flatten() for lab in labels]
            mask_boxes = [p[pos] for p, pos in zip(proposals, positives, strict=True)]
            matched = [m[pos] for m, pos in zip(matched_idxs, positives, strict=True)]
        else:
            boxes, scores, det_labels = self.postprocess_detections(
                class_logits, box_regression, proposals, image_shapes
            )
            result = [
                {"boxes": b, "labels": c, "scores": s}
                for b, c, s in zip(boxes, det_labels, scores, strict=True)
            ]
            mask_boxes = boxes
        mask_logits = self.mask_predictor(
            self.mask_head(self.mask_roi_pool(features, mask_boxes, image_shapes))
        )
        if not self.training or self.mode == "fused":
            mask_logits = mask_logits + align_foreground(
                fg_logits.detach(), mask_boxes, mask_logits.shape[-1]
            )
        if self.training:
            gt_masks = [t["masks"] for t in targets]  # type: ignore[union-attr]
            gt_labels = [t["labels"] for t in targets]  # type: ignore[union-attr]
            losses["loss_mask"] = maskrcnn_loss(mask_logits, mask_boxes, gt_masks, gt_labels, matched)
            losses["loss_foreground"] = foreground_loss(fg_logits, targets)  # type: ignore[arg-type]
        else:
            for probs, r in zip(
                maskrcnn_inference(mask_logits, [r["labels"] for r in result]), result, strict=True
            ):
                r["masks"] = probs
        return result, losses


def with_foreground(model: nn.Module, mode: str) -> nn.Module:
    """``model`` with its ``roi_heads`` replaced by :class:`ForegroundRoIHeads` on FPN level ``"0"`` (stride 4)."""
    config = model.config
    stride = 2 ** (1 + config.backbone.returned_layers[0])  # ResNet layer k has stride 2**(k+1)
    head = ForegroundHead(config.backbone.out_channels, stride=stride)
    first = next(model.parameters())
    if first.dim() == 4 and first.is_contiguous(memory_format=torch.channels_last):
        head = head.to(memory_format=torch.channels_last)  # the rest of the model already is (CPU speed-ups)
    model.roi_heads = ForegroundRoIHeads(
        model.roi_heads, head, mode=mode, featmap_name=config.backbone.featmap_names[0]
    )
    return model


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--foreground", required=True, choices=MODES)
    args, rest = p.parse_known_args(argv)
    if any(a == "--save-model" or a.startswith("--save-model=") for a in rest):
        p.error(
            "--save-model is not available here: the saved config.json would not describe the foreground branch"
        )
    build, recipe = time_to_accuracy.library_model, time_to_accuracy.library_recipe
    time_to_accuracy.library_model = lambda a, n: with_foreground(build(a, n), args.foreground)
    time_to_accuracy.library_recipe = lambda a: {**recipe(a), "foreground": args.foreground}
    return time_to_accuracy.main(rest)


if __name__ == "__main__":
    main(sys.argv[1:])
