"""``time_to_accuracy.py`` with the image's own pixels in the mask branch: the image-refine row of the ablation.

Why it is tried: objects 2.6-9 px wide are a fraction of one 14 x 14 pooled bin of a long box (a 140 px box:
10 px per bin, FPN level ``"0"`` itself has stride 4), so the mask head must guess at the 56 px output where an
edge lies inside a bin. The pixels that show the edge are in the image. This wrapper cuts each mask RoI out of
the (normalised) input image at the mask resolution, exactly as ``maskrcnn_loss`` cuts its targets
(``roi_align``, ``aligned=False``), standardises each crop per channel (so another background level, contrast or
polarity looks alike), and adds to the mask logits a small convolutional refinement at the mask resolution:

    logits = mask_fcn_logits(h) + out(relu(gn(conv(relu(gn(conv(cat(compress(h), stem(crop)))))))))

with ``h`` the predictor's last hidden features (56 x 56), ``compress`` a 1x1 conv to :data:`CHANNELS`
channels, ``stem`` a 3x3 conv of the crop, each followed by GroupNorm and ReLU, and ``out`` a 1x1 conv whose
weights start at zero, so training starts from the preset's model exactly. It costs about 30 M multiply-adds per
mask RoI (the slim mask head: about 190 M).

The crop comes from forward pre-hooks (the backbone's input, the mask pooler's boxes) read by
:class:`ImageRefinedMaskPredictor`, which replaces ``roi_heads.mask_predictor``; nothing else of the model changes.
A measuring tool, not a library feature. Example::

    PYTHONPATH=src python benchmarks/time_to_accuracy_image_refine.py \\
        --preset fast_cpu --no-baseline --budget-s 900 --eval-points 3 --out DIR --name image_refine
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import time_to_accuracy
import torch
from torch import Tensor, nn
from torchvision.ops import roi_align

from maskrcnn_custom.models.network import HighResMaskPredictor, head_group_norm

#: Channels of the refinement convs.
CHANNELS = 16


def crop_rois(images: Tensor, boxes: list[Tensor], size: int) -> Tensor:
    """Each box cut from its image at ``size x size`` (as ``maskrcnn_loss`` cuts its targets), standardised.

    Every crop channel is shifted to mean 0 and scaled to standard deviation 1 (a flat crop stays 0).
    """
    crops = roi_align(images, [b.to(images.dtype) for b in boxes], (size, size), 1.0)
    mean = crops.mean(dim=(2, 3), keepdim=True)
    std = crops.std(dim=(2, 3), keepdim=True)
    return (crops - mean) / (std + 1e-3)


class ImageRefinedMaskPredictor(nn.Module):
    """A ``HighResMaskPredictor`` (an ``nn.Sequential``) plus a refinement from the RoI's image crop.

    ``store`` holds ``"images"`` (the batch the backbone saw) and ``"boxes"`` (what the mask pooler pooled),
    filled by the hooks of :func:`with_image_refine`.
    """

    def __init__(self, base: nn.Sequential, store: dict[str, Any], *, channels: int = CHANNELS) -> None:
        super().__init__()
        self.base = base
        self.store = store
        hidden = base.mask_fcn_logits.in_channels
        classes = base.mask_fcn_logits.out_channels
        self.compress = nn.Sequential(
            nn.Conv2d(hidden, channels, 1, bias=False), head_group_norm(channels), nn.ReLU(inplace=True)
        )
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1, bias=False), head_group_norm(channels), nn.ReLU(inplace=True)
        )
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * channels, channels, 3, padding=1, bias=False),
            head_group_norm(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            head_group_norm(channels),
            nn.ReLU(inplace=True),
        )
        self.out = nn.Conv2d(channels, classes, 1)
        for m in (*self.compress, *self.stem, *self.fuse):
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        layers = list(self.base)
        h = x
        for layer in layers[:-1]:  # slicing would rebuild the Sequential's own class
            h = layer(h)
        logits = layers[-1](h)
        crops = crop_rois(self.store["images"], self.store["boxes"], logits.shape[-1])
        refine = self.fuse(torch.cat([self.compress(h), self.stem(crops.to(h.dtype))], 1))
        return logits + self.out(refine)


def narrow_last_stage(predictor: nn.Sequential, channels: int) -> HighResMaskPredictor:
    """A fresh ``HighResMaskPredictor`` like ``predictor`` (one extra stage) whose 56 px stage has ``channels``.

    The preset's 56 px stage keeps 128 channels: 400 k values per RoI in every activation, GroupNorm and ReLU of
    the stage, which is most of the mask predictor's time on a CPU.

    Raises:
        ValueError: If ``predictor`` has not exactly one extra stage (``upsample1``, no ``upsample2``).
    """
    names = dict(predictor.named_children())
    if "upsample1" not in names or "upsample2" in names:
        raise ValueError(
            "--stage-channels needs a predictor with exactly one extra stage (mask_resolution=56)"
        )
    conv5 = predictor.conv5_mask
    return HighResMaskPredictor(
        conv5.in_channels,
        conv5.out_channels,
        predictor.mask_fcn_logits.out_channels,
        stages=1,
        stage_channels=channels,
        norm_layer=head_group_norm if "norm" in names else None,
    )


def with_image_refine(model: nn.Module, *, stage_channels: int | None = None) -> nn.Module:
    """``model`` with :class:`ImageRefinedMaskPredictor` as its mask predictor, fed by two forward pre-hooks.

    Args:
        model: A library model.
        stage_channels: If given, the predictor's 56 px stage is rebuilt with this many channels first
            (:func:`narrow_last_stage`).

    Raises:
        ValueError: If the model's mask predictor is not an ``nn.Sequential`` ending in ``mask_fcn_logits``.
    """
    heads = model.roi_heads
    predictor = heads.mask_predictor
    if not isinstance(predictor, nn.Sequential) or not isinstance(
        getattr(predictor, "mask_fcn_logits", None), nn.Conv2d
    ):
        raise ValueError(
            "the image refinement needs a mask predictor that is an nn.Sequential ending in mask_fcn_logits "
            f"(torchvision's MaskRCNNPredictor or the library's HighResMaskPredictor), got {type(predictor).__name__}"
        )
    if stage_channels is not None:
        predictor = narrow_last_stage(predictor, stage_channels)
    store: dict[str, Any] = {}

    def keep_images(_module: nn.Module, args: tuple) -> None:
        store["images"] = args[0]

    def keep_boxes(_module: nn.Module, args: tuple) -> None:
        store["boxes"] = args[1]

    model.backbone.register_forward_pre_hook(keep_images)
    heads.mask_roi_pool.register_forward_pre_hook(keep_boxes)
    predictor = ImageRefinedMaskPredictor(predictor, store)
    first = next(model.parameters())
    if first.dim() == 4 and first.is_contiguous(memory_format=torch.channels_last):
        predictor = predictor.to(memory_format=torch.channels_last)
    heads.mask_predictor = predictor
    return model


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--stage-channels",
        type=int,
        default=None,
        help="rebuild the mask predictor's 56 px stage with this many channels (default: the preset's)",
    )
    args, rest = p.parse_known_args(argv)
    if args.stage_channels is not None and args.stage_channels < 4:
        p.error(f"--stage-channels must be >= 4, got {args.stage_channels}")
    if any(a == "--save-model" or a.startswith("--save-model=") for a in rest):
        p.error("--save-model is not available here: the saved config.json would not describe the refinement")
    build, recipe = time_to_accuracy.library_model, time_to_accuracy.library_recipe
    time_to_accuracy.library_model = lambda a, n: with_image_refine(
        build(a, n), stage_channels=args.stage_channels
    )
    time_to_accuracy.library_recipe = lambda a: {
        **recipe(a),
        "mask_refine": "image",
        "mask_stage_channels": args.stage_channels,
    }
    return time_to_accuracy.main(rest)


if __name__ == "__main__":
    main()
