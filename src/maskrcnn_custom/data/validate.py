"""Check training and evaluation samples before the model sees them: :func:`validate_sample` and friends.

torchvision's Mask R-CNN trains silently on many wrong targets (masks of another size than the image,
three masks for one box, label 0, a float image in 0-255) and fails on others with messages far from the
cause (a C++ stack trace for 2-D masks, ``IndexError: Target 5 is out of bounds`` for a label
``>= num_classes``, an ``AssertionError`` for ``x2 < x1``). These checks raise a ``ValueError`` that names the
sample, the field and the fix instead.

What is checked, for one ``(image, target)``:

* ``image``: a floating-point ``(3, H, W)`` tensor, finite (NaN and infinite values are named as such),
  with values in ``[0, 1]`` (a maximum above 1 means 0-255 values: divide by 255).
* ``target``: a dict with ``boxes`` (floating ``(N, 4)`` XYXY, finite, ``x2 > x1`` and ``y2 > y1``),
  ``labels`` (int64 ``(N,)``, ``>= 1`` since 0 is the background, ``< num_classes`` when given) and, when
  present (or ``require_masks=True``), ``masks`` (uint8 or bool ``(N, H, W)`` with the image's ``H, W``).

All checks are shape, dtype and min/max reductions: cheap next to a forward pass, so
:func:`~maskrcnn_custom.engine.train_one_epoch` and :func:`~maskrcnn_custom.engine.evaluate` run
:func:`validate_batch` on every batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["model_num_classes", "validate_batch", "validate_dataset", "validate_sample"]

_MASK_DTYPES = (torch.uint8, torch.bool)


#: Pixel values this far outside [0, 1] are float rounding (e.g. of a colour jitter), not wrong data.
_RANGE_TOLERANCE = 1e-3


def _nonfinite(t: torch.Tensor) -> str | None:
    if bool(torch.isnan(t).any()):
        return "NaN"
    if bool(torch.isinf(t).any()):
        return "infinite values"
    return None


def _check_image(image: Any, where: str) -> tuple[int, int]:
    if not isinstance(image, torch.Tensor):
        raise TypeError(
            f"{where}: the image must be a torch.Tensor (3, H, W), got {type(image).__name__}; "
            "convert it with torchvision.transforms.v2.functional.to_image and to_dtype(scale=True)"
        )
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(
            f"{where}: the image must have shape (3, H, W), got {tuple(image.shape)}; replicate grayscale "
            "to three channels (image.expand(3, -1, -1)) and put channels first"
        )
    if not image.is_floating_point():
        raise ValueError(
            f"{where}: the image has dtype {image.dtype}; expected a float tensor in [0, 1] "
            "(for 8-bit data: image.float() / 255)"
        )
    bad = _nonfinite(image)
    if bad is not None:
        raise ValueError(
            f"{where}: the image contains {bad}; fix the image or its preprocessing (the model cannot learn "
            "from non-finite pixels)"
        )
    if image.numel():
        lo, hi = float(image.min()), float(image.max())
        if hi > 1.0 + _RANGE_TOLERANCE:
            raise ValueError(
                f"{where}: the image has values up to {hi:g}; expected [0, 1]. It looks like 0-255 data: "
                "divide it by 255 (the model normalises internally)"
            )
        if lo < -_RANGE_TOLERANCE:
            raise ValueError(
                f"{where}: the image has values down to {lo:g}; expected [0, 1]. Do not normalise it "
                "yourself (the model subtracts the mean and divides by the std internally)"
            )
    return int(image.shape[1]), int(image.shape[2])


def _field(target: Mapping[str, Any], key: str, where: str) -> torch.Tensor:
    if key not in target:
        raise ValueError(f"{where}: target has no {key!r}; every target needs 'boxes' and 'labels'")
    value = target[key]
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{where}: target[{key!r}] must be a torch.Tensor, got {type(value).__name__}")
    return value


def validate_sample(
    image: Any,
    target: Any,
    *,
    index: int | str,
    num_classes: int | None = None,
    require_masks: bool = False,
) -> None:
    """Check one ``(image, target)`` pair and raise naming the sample, the field and the fix.

    Args:
        image: The image tensor, float ``(3, H, W)`` in ``[0, 1]``.
        target: The target dict (``boxes``, ``labels``, optionally ``masks``).
        index: How to name the sample in messages: a dataset index (``"sample 7"``) or a description.
        num_classes: Classes including the background; labels must be ``< num_classes`` (``None``: not checked).
        require_masks: Refuse a target without ``masks`` (Mask R-CNN training needs them).

    Raises:
        ValueError: On a wrong shape, count, value or dtype; the message names the sample and the field.
        TypeError: If the image, the target or a field is not of the expected type.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.data import validate_sample
        >>> mask = torch.zeros(1, 32, 32, dtype=torch.uint8); mask[0, 4:8, 2:30] = 1
        >>> target = {"boxes": torch.tensor([[2.0, 4.0, 30.0, 8.0]]), "labels": torch.tensor([1]), "masks": mask}
        >>> validate_sample(torch.rand(3, 32, 32), target, index=0, num_classes=2)  # fine: nothing raised
    """
    where = f"sample {index}" if isinstance(index, int) and not isinstance(index, bool) else str(index)
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
    ):
        raise ValueError(
            f"num_classes must be None or an int >= 2 (background included), got {num_classes!r}"
        )
    if not isinstance(target, Mapping):
        raise TypeError(f"{where}: the target must be a dict, got {type(target).__name__}")
    if "image_id" in target and not isinstance(target["image_id"], torch.Tensor):
        where = f"{where} (image_id {target['image_id']})"
    h, w = _check_image(image, where)

    boxes = _field(target, "boxes", where)
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(
            f"{where}: target['boxes'] must have shape (N, 4) (XYXY), got {tuple(boxes.shape)}; "
            "an image without objects has boxes of shape (0, 4)"
        )
    if not boxes.is_floating_point():
        raise ValueError(
            f"{where}: target['boxes'] has dtype {boxes.dtype}; expected float32 (boxes.float())"
        )
    n = int(boxes.shape[0])
    bad = _nonfinite(boxes)
    if bad is not None:
        raise ValueError(f"{where}: target['boxes'] contains {bad}; every coordinate must be finite")
    if n:
        width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        wrong = torch.nonzero((width <= 0) | (height <= 0)).flatten()
        if wrong.numel():
            i = int(wrong[0])
            raise ValueError(
                f"{where}: target['boxes'][{i}] = {[round(v, 3) for v in boxes[i].tolist()]} has x2 <= x1 or "
                "y2 <= y1; boxes are XYXY (x1, y1, x2, y2) with positive width and height (convert XYWH "
                "with torchvision.ops.box_convert, drop empty objects)"
            )

    labels = _field(target, "labels", where)
    if labels.dim() != 1 or int(labels.shape[0]) != n:
        raise ValueError(
            f"{where}: target['labels'] has shape {tuple(labels.shape)} but there are {n} boxes; give one "
            "label per box, shape (N,)"
        )
    if labels.dtype != torch.int64:
        raise ValueError(
            f"{where}: target['labels'] has dtype {labels.dtype}; expected int64 (labels.long())"
        )
    if n:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 1:
            raise ValueError(
                f"{where}: target['labels'] holds {lo}; labels start at 1 (0 is the background). Shift "
                "class ids by one, or drop background instances"
            )
        if num_classes is not None and hi >= num_classes:
            raise ValueError(
                f"{where}: target['labels'] holds {hi} but the model has num_classes={num_classes} "
                f"(background included, so labels must be in 1..{num_classes - 1}); build the model with "
                f"num_classes >= {hi + 1}"
            )

    if "masks" not in target:
        if require_masks:
            raise ValueError(f"{where}: target has no 'masks'; Mask R-CNN needs an (N, H, W) mask per box")
        return
    masks = _field(target, "masks", where)
    if masks.dim() == 2:
        raise ValueError(
            f"{where}: target['masks'] is 2-D {tuple(masks.shape)}; masks must be (N, H, W), one per box "
            "(a single mask: masks.unsqueeze(0); a label image: one binary mask per instance id)"
        )
    if masks.dim() != 3:
        raise ValueError(f"{where}: target['masks'] must have shape (N, H, W), got {tuple(masks.shape)}")
    if int(masks.shape[0]) != n:
        raise ValueError(
            f"{where}: target['masks'] holds {int(masks.shape[0])} masks but there are {n} boxes and "
            f"{int(labels.shape[0])} labels; give exactly one mask, box and label per instance"
        )
    if tuple(masks.shape[1:]) != (h, w):
        raise ValueError(
            f"{where}: target['masks'] are {int(masks.shape[2])}x{int(masks.shape[1])} (W x H) but the image "
            f"is {w}x{h}; resize masks and image together (the library's transforms do)"
        )
    if masks.dtype not in _MASK_DTYPES:
        raise ValueError(
            f"{where}: target['masks'] has dtype {masks.dtype}; expected uint8 or bool binary masks "
            "(masks.to(torch.uint8))"
        )


def validate_batch(
    images: Sequence[Any],
    targets: Sequence[Any],
    *,
    batch: int | None = None,
    num_classes: int | None = None,
    require_masks: bool = False,
) -> None:
    """Check every ``(image, target)`` of a batch, naming the batch and the item in messages.

    Args:
        images: The batch's images.
        targets: The batch's targets, one per image.
        batch: Batch (iteration) number, for messages.
        num_classes: See :func:`validate_sample`.
        require_masks: See :func:`validate_sample`.

    Raises:
        ValueError: If images and targets differ in number, or a sample is wrong (see :func:`validate_sample`).

    Examples:
        >>> import torch
        >>> from maskrcnn_custom.data import validate_batch
        >>> target = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
        >>> validate_batch([torch.rand(3, 16, 16)], [target], batch=0)  # fine: nothing raised
    """
    prefix = f"batch {batch}, " if batch is not None else ""
    if len(images) != len(targets):
        raise ValueError(
            f"{prefix.rstrip(', ') or 'the batch'} has {len(images)} images but {len(targets)} targets; "
            "give one target per image"
        )
    for i, (image, target) in enumerate(zip(images, targets, strict=True)):
        validate_sample(
            image, target, index=f"{prefix}item {i}", num_classes=num_classes, require_masks=require_masks
        )


def validate_dataset(
    dataset: Any,
    *,
    num_classes: int | None = None,
    max_samples: int | None = 8,
    require_masks: bool = True,
) -> int:
    """Check the first ``max_samples`` samples of a dataset (all with ``None``) before training starts.

    Args:
        dataset: Indexable, ``dataset[i] -> (image, target)``, e.g. a :class:`CocoDataset`.
        num_classes: See :func:`validate_sample`; default ``dataset.num_classes`` when it has one.
        max_samples: How many samples to read (from index 0); ``None`` checks every sample.
        require_masks: Refuse targets without ``masks`` (default, as Mask R-CNN needs them).

    Returns:
        The number of samples checked.

    Raises:
        ValueError: If a sample is wrong; the message names its dataset index and the field.

    Examples:
        >>> from maskrcnn_custom.data import SyntheticElongatedDataset, validate_dataset
        >>> validate_dataset(SyntheticElongatedDataset(4, image_size=64, seed=0), max_samples=2)
        2
    """
    if max_samples is not None and (
        isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 0
    ):
        raise ValueError(f"max_samples must be None (every sample) or an int >= 0, got {max_samples!r}")
    if num_classes is None:
        num_classes = getattr(dataset, "num_classes", None)
    try:
        total: int | None = len(dataset)
    except TypeError:
        total = None
    count = total if max_samples is None else (max_samples if total is None else min(max_samples, total))
    if count is None:
        raise ValueError("the dataset has no len(); pass max_samples= to check a fixed number of samples")
    checked = 0
    for i in range(count):
        image, target = dataset[i]
        validate_sample(image, target, index=i, num_classes=num_classes, require_masks=require_masks)
        checked += 1
    return checked


def model_num_classes(model: nn.Module) -> int | None:
    """Number of classes (background included) of a torchvision-style detector, or ``None`` if unknown.

    Examples:
        >>> from maskrcnn_custom import maskrcnn_resnet18_fpn
        >>> from maskrcnn_custom.data.validate import model_num_classes
        >>> model_num_classes(maskrcnn_resnet18_fpn(weights_backbone=None, num_classes=3))
        3
    """
    module = getattr(model, "module", model)  # DistributedDataParallel
    predictor = getattr(getattr(module, "roi_heads", None), "box_predictor", None)
    cls_score = getattr(predictor, "cls_score", None)
    out = getattr(cls_score, "out_features", None)
    return int(out) if isinstance(out, int) else None
