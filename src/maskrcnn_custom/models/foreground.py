"""A dense foreground branch that draws the edges of thin objects' masks (``mask_foreground_dim``).

A RoI mask head predicts each mask on a grid laid over its box: 56 x 56 cells from features pooled at 14 x 14.
For a thin object across a long box (a fibre 3 px wide in a 150 px box) one cell is about as wide as the
object, so the mask follows the object's centre line but not its edges, and mask IoU falls at the strict
thresholds of COCO AP. Which pixels are object at all is a local question that needs no box: a dense branch
answers it once per image pixel and learns from every pixel of every training image.

:class:`ForegroundHead` reads FPN level ``"0"`` (stride 4) together with the image's own pixels, rearranged to
the same stride (``pixel_unshuffle``: each cell sees the 4 x 4 pixels it covers), through two 3x3 convs with
GroupNorm, and returns one logit per image pixel (``pixel_shuffle``). :func:`foreground_loss` trains it against
the union of the target masks (binary cross-entropy + soft Dice) as one more loss, ``loss_foreground``, whose
gradient also reaches the backbone.

At inference :class:`ForegroundRoIHeads` returns each image's foreground probabilities with its detections, and
the model's transform (:class:`~maskrcnn_custom.models.paste.ExactPasteTransform`) gates every pasted mask:
a pixel's probability becomes the foreground probability where the RoI mask's probability is above
``mask_foreground_gate``, and 0 elsewhere. The RoI mask says which object a pixel may belong to (where objects
cross, which one), the foreground says where the object's edge is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.models.detection.roi_heads import RoIHeads

from .refine import RefiningRoIHeads

__all__ = ["FOREGROUND_KEY", "ForegroundHead", "ForegroundRoIHeads", "foreground_loss", "gate_masks"]

#: Key of the per-image foreground probabilities ``(1, H, W)`` that :class:`ForegroundRoIHeads` adds to each
#: detection dict at inference; the transform's ``postprocess`` removes it after gating the masks.
FOREGROUND_KEY = "foreground"


class ForegroundHead(nn.Module):
    """Per-pixel foreground logits ``(N, 1, s*h, s*w)`` from a feature map ``(N, C, h, w)`` of stride ``s`` and the image.

    Args:
        in_channels: Channels of the feature map (the FPN's ``out_channels``).
        channels: Width of the two hidden 3x3 convs.
        stride: Stride of the feature map (4 for FPN level ``"0"`` of a ResNet); the image is rearranged to it.
        norm_layer: Normalisation after each hidden conv (channels -> module), e.g. GroupNorm.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> from maskrcnn_custom.models.foreground import ForegroundHead
        >>> head = ForegroundHead(16, 8, stride=4, norm_layer=lambda c: nn.GroupNorm(2, c))
        >>> head(torch.rand(2, 16, 8, 8), torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 1, 32, 32])
    """

    def __init__(
        self, in_channels: int, channels: int, *, stride: int, norm_layer: Callable[[int], nn.Module]
    ) -> None:
        super().__init__()
        self.stride = int(stride)
        pixels = 3 * self.stride**2
        self.conv1 = nn.Conv2d(in_channels + pixels, channels, 3, padding=1, bias=False)
        self.norm1 = norm_layer(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = norm_layer(channels)
        self.logits = nn.Conv2d(channels, self.stride**2, 3, padding=1)
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.logits.weight, std=0.01)
        # most pixels are background: start near p = 0.12 rather than 0.5
        nn.init.constant_(self.logits.bias, -2.0)

    def forward(self, features: Tensor, image: Tensor) -> Tensor:
        """Logits at the image's (padded) size; the image's side must be ``stride`` times the features'."""
        s = self.stride
        if image.shape[-2] != s * features.shape[-2] or image.shape[-1] != s * features.shape[-1]:
            raise ValueError(
                f"the image ({tuple(image.shape[-2:])}) must be {s} times the size of the foreground branch's "
                f"feature map ({tuple(features.shape[-2:])}); pad the batch to a multiple of {s}"
            )
        x = torch.cat([features, F.pixel_unshuffle(image, s).to(features.dtype)], dim=1)
        x = F.relu(self.norm1(self.conv1(x)))
        x = F.relu(self.norm2(self.conv2(x)))
        return F.pixel_shuffle(self.logits(x), s)


def foreground_loss(logits: Tensor, targets: list[dict[str, Tensor]]) -> Tensor:
    """Binary cross-entropy + soft Dice of ``(N, 1, H, W)`` logits against each image's union of target masks.

    The union is placed top-left in a zero canvas of the logits' size (the batch is padded at the bottom and the
    right). The Dice term is over the whole batch, and left out when the batch has no object pixel.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.models.foreground import foreground_loss
        >>> masks = torch.zeros(1, 8, 8, dtype=torch.uint8); masks[0, 2:4, 1:7] = 1
        >>> good = torch.where(masks.bool(), 8.0, -8.0)[None]
        >>> float(foreground_loss(good, [{"masks": masks}])) < 0.01 < float(foreground_loss(-good, [{"masks": masks}]))
        True
    """
    target = torch.zeros(logits.shape, dtype=torch.float32, device=logits.device)
    for i, t in enumerate(targets):
        masks = t["masks"]
        if masks.numel():
            h, w = masks.shape[-2:]
            target[i, 0, :h, :w] = masks.amax(dim=0).to(torch.float32)
    logits = logits.float()
    bce = F.binary_cross_entropy_with_logits(logits, target)
    positives = target.sum()
    if positives == 0:
        return bce
    probs = logits.sigmoid()
    return bce + 1 - (2 * (probs * target).sum() + 1) / (probs.sum() + positives + 1)


def gate_masks(masks: Tensor, foreground: Tensor, gate: float) -> Tensor:
    """Pasted mask probabilities ``(N, 1, H, W)`` gated by an image's foreground probabilities ``(1, H, W)``.

    Each pixel takes the foreground probability where the mask's probability is above ``gate``, else 0.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.models.foreground import gate_masks
        >>> masks = torch.tensor([[[[0.6, 0.4, 0.1]]]])
        >>> gate_masks(masks, torch.tensor([[[0.9, 0.8, 0.9]]]), 0.3).tolist()
        [[[[0.8999999761581421, 0.800000011920929, 0.0]]]]
    """
    return (masks > gate).to(masks.dtype) * foreground.to(masks.dtype)[None]


class ForegroundRoIHeads(RefiningRoIHeads):
    """The model's RoI heads (with their box refinement, if any) plus a :class:`ForegroundHead`.

    In training the forward adds ``loss_foreground`` to the losses; at inference it adds each image's foreground
    probabilities, cropped to the image, under :data:`FOREGROUND_KEY` to its detections, for the transform to
    gate the pasted masks with (:func:`gate_masks`). The image reaches the heads through a forward pre-hook on
    the backbone (:meth:`attach`), so the detector's forward stays torchvision's. State-dict keys are those of
    torchvision's heads plus ``roi_heads.foreground.*``.

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> model = maskrcnn_resnet18_fpn(weights_backbone=None, mask_paste="exact", mask_foreground_dim=16)
        >>> type(model.roi_heads).__name__, model.roi_heads.foreground.conv1.out_channels
        ('ForegroundRoIHeads', 16)
    """

    foreground: ForegroundHead
    featmap_name: str

    @classmethod
    def like_heads(
        cls, heads: RoIHeads, foreground: ForegroundHead, *, refine_steps: int, featmap_name: str
    ) -> ForegroundRoIHeads:
        """``heads``' modules and settings (shared) with ``foreground`` on feature map ``featmap_name``."""
        out = cls.like(heads, refine_steps)
        out.foreground = foreground  # nn.Module.__setattr__: registered as a submodule
        out.featmap_name = featmap_name
        out._image = None
        return out

    def attach(self, backbone: nn.Module) -> None:
        """Let the heads see the batch image: a forward pre-hook on ``backbone`` records its input."""
        backbone.register_forward_pre_hook(self._remember_image)

    def _remember_image(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self._image = args[0]

    def forward(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        """The heads' detections and losses, plus ``loss_foreground`` (training) or the foreground (inference)."""
        image, self._image = self._image, None
        if image is None:
            raise RuntimeError(
                "ForegroundRoIHeads needs the batch image: call the whole model (model(images)), whose backbone "
                "hands it over, not model.roi_heads on its own"
            )
        result, losses = super().forward(features, proposals, image_shapes, targets)
        logits = self.foreground(features[self.featmap_name], image)
        if self.training:
            losses["loss_foreground"] = foreground_loss(logits, targets)  # type: ignore[arg-type]
        else:
            probs = logits.float().sigmoid()
            for i, (r, (h, w)) in enumerate(zip(result, image_shapes, strict=True)):
                r[FOREGROUND_KEY] = probs[i, :, :h, :w]
        return result, losses
