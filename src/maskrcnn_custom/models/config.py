"""Configuration of a Mask R-CNN as data: frozen, typed, JSON round-trippable.

The builder functions (:func:`~maskrcnn_custom.maskrcnn_resnet101_fpn` and friends) only translate their
keyword arguments into a :class:`MaskRCNNConfig`; :func:`~maskrcnn_custom.build_model` is the single code
path that turns a config into modules. A built model carries its config as ``model.config`` so it can be
saved and rebuilt later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._utils.frozen import FrozenDict

__all__ = [
    "SEED_ANCHOR_SIZES",
    "SEED_ASPECT_RATIOS",
    "AnchorConfig",
    "BackboneConfig",
    "MASK_HEAD_NORMS",
    "MASK_PASTE_MODES",
    "MASK_UPSAMPLING_STAGES",
    "MAX_BOX_REFINE_STEPS",
    "BoxHeadConfig",
    "DEFAULT_FOREGROUND_GATE",
    "MaskHeadConfig",
    "MaskRCNNConfig",
    "RoIPoolConfig",
    "check_mask_resolution",
    "mask_upsampling_stages",
]

#: Anchor sizes of the seed network, one tuple per FPN level.
SEED_ANCHOR_SIZES: tuple[tuple[float, ...], ...] = ((32,), (64,), (64,), (76,), (100,))
#: Aspect ratios (height / width) of the seed network, the same on each of the 5 levels.
SEED_ASPECT_RATIOS: tuple[tuple[float, ...], ...] = tuple((0.25, 0.33, 1.0, 2.0, 3.0) for _ in range(5))

#: How many 2x upsampling stages the mask predictor may add after its first transposed conv: the mask
#: resolution is ``2 * mask_roi_pool size * 2**k`` for ``k`` in this range (28, 56, 112 with a pool of 14).
MASK_UPSAMPLING_STAGES: tuple[int, ...] = (0, 1, 2)

#: Normalisation layers a backbone can use.
NORM_LAYERS = ("frozen_bn", "bn", "gn")
#: Normalisation of the mask branch (``MaskHeadConfig.norm``): none (torchvision's and the seed's) or GroupNorm.
MASK_HEAD_NORMS = ("none", "gn")
#: How predicted masks are pasted into the image (``MaskHeadConfig.paste``): torchvision's integer-box resize
#: (the seed's) or the sub-pixel paste of :func:`maskrcnn_custom.models.paste.paste_masks_exact`.
MASK_PASTE_MODES = ("torchvision", "exact")
#: The RoI-mask probability above which a pasted mask pixel takes the dense foreground probability
#: (``MaskHeadConfig.foreground_gate``), chosen on the training generator's images (docs/model.md,
#: "Foreground branch").
DEFAULT_FOREGROUND_GATE = 0.3
#: Most extra box-head passes at inference a config may ask for (``BoxHeadConfig.refine_steps``); two gave the
#: last measurable gain on thin objects (docs/model.md, "Box refinement").
MAX_BOX_REFINE_STEPS = 3
#: ResNet depths the backbone builder knows.
BACKBONE_NAMES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


def _tuple_of_tuples(value: Any) -> Any:
    """Turn nested lists (as JSON gives them back) into nested tuples; leave scalars alone."""
    if isinstance(value, (list, tuple)):
        return tuple(_tuple_of_tuples(v) for v in value)
    return value


def _jsonable(value: Any) -> Any:
    """Turn nested tuples into lists so that ``json.dumps`` writes them and gives them back equal."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class BackboneConfig:
    """ResNet + FPN backbone.

    Attributes:
        name: ResNet depth, one of ``resnet18``, ``resnet34``, ``resnet50``, ``resnet101``, ``resnet152``.
        norm: Normalisation layer of the ResNet body: ``"frozen_bn"`` (torchvision's ``FrozenBatchNorm2d``,
            right for pretrained weights), ``"bn"`` (trainable ``BatchNorm2d``, right from scratch) or
            ``"gn"`` (``GroupNorm`` with 32 groups, right for tiny batches). The builders choose
            ``frozen_bn`` with a pretrained backbone and ``bn`` without one unless told otherwise.
        trainable_layers: Number of trainable ResNet stages counted from the top (0-5), as in torchvision.
        returned_layers: ResNet stages (1-4) that feed the FPN. The FPN adds one max-pooled level on top,
            so the backbone returns ``len(returned_layers) + 1`` feature maps named ``"0"``, ``"1"``, ...
            and ``"pool"``.
        out_channels: Channels of every FPN output.
    """

    name: str = "resnet101"
    norm: str = "bn"
    trainable_layers: int = 5
    returned_layers: tuple[int, ...] = (1, 2, 3, 4)
    out_channels: int = 256

    @property
    def featmap_names(self) -> tuple[str, ...]:
        """Names of the feature maps the backbone returns, in order."""
        return (*(str(i) for i in range(len(self.returned_layers))), "pool")


@dataclass(frozen=True)
class AnchorConfig:
    """Anchors of the region proposal network.

    Attributes:
        sizes: One tuple of anchor sizes (pixels, square root of the anchor area) per feature map.
        aspect_ratios: One tuple of aspect ratios (height / width) per feature map.
    """

    sizes: tuple[tuple[float, ...], ...] = SEED_ANCHOR_SIZES
    aspect_ratios: tuple[tuple[float, ...], ...] = SEED_ASPECT_RATIOS

    @property
    def num_anchors_per_location(self) -> tuple[int, ...]:
        """Number of anchors at each location of each level."""
        return tuple(len(s) * len(r) for s, r in zip(self.sizes, self.aspect_ratios, strict=False))


@dataclass(frozen=True)
class RoIPoolConfig:
    """A ``torchvision.ops.MultiScaleRoIAlign``.

    Attributes:
        featmap_names: Backbone feature maps the RoIs are pooled from.
        output_size: Side of the pooled feature (an int, or ``(height, width)``).
        sampling_ratio: Sampling points per output bin; 0 lets RoIAlign choose adaptively.
    """

    featmap_names: tuple[str, ...] = ("0",)
    output_size: int | tuple[int, int] = 7
    sampling_ratio: int = 2

    @property
    def output_hw(self) -> tuple[int, int]:
        """``output_size`` as a ``(height, width)`` pair."""
        if isinstance(self.output_size, int):
            return (self.output_size, self.output_size)
        return (int(self.output_size[0]), int(self.output_size[1]))


@dataclass(frozen=True)
class BoxHeadConfig:
    """The two-layer MLP box head.

    Attributes:
        representation_size: Width of both fully connected layers (and input of the box predictor).
        refine_steps: Extra box-head passes at inference (0, the seed's and torchvision's, to
            :data:`MAX_BOX_REFINE_STEPS`): each moves every detection's box by
            the box head's regression computed from that box's own features, and the masks are predicted in
            the final boxes (:class:`~maskrcnn_custom.models.refine.RefiningRoIHeads`). It changes no weight
            and no training step; it costs one box-head pass on the kept detections per step.
    """

    representation_size: int = 1024
    refine_steps: int = 0


@dataclass(frozen=True)
class MaskHeadConfig:
    """The mask branch.

    Attributes:
        conv_layers: Output channels of each 3x3 conv of the mask head (torchvision: four of 256).
        dilation: Dilation of those convs.
        hidden_dim: Channels of the transposed conv in the mask predictor (the seed uses 1500).
        resolution: Side of the predicted masks (the mask logits), before they are pasted into the image:
            ``2 * P * 2**k`` for a mask RoI pool of output ``P`` and ``k`` in 0, 1, 2 (see
            :data:`MASK_UPSAMPLING_STAGES`); with the default pool of 14: 28 (torchvision's and the seed's),
            56 or 112. Each doubling past ``2 * P`` adds one 2x transposed conv + ReLU to the mask predictor;
            training targets are cut at the same resolution. 56 keeps the width of thin objects.
        norm: ``"none"`` (torchvision's and the seed's) or ``"gn"``: a GroupNorm after every conv of the mask
            head and every transposed conv of the mask predictor, before its ReLU (see
            :func:`~maskrcnn_custom.models.network.head_group_norm`). Trained from scratch, a mask branch
            without normalisation can settle where most foreground pixels reach the logits with every channel
            of the last ReLU at zero, so they get no gradient and their probability stays near
            ``sigmoid(bias)``; GroupNorm keeps them trainable at any batch size.
        paste: How the predicted masks go back into the image at inference: ``"torchvision"`` (the seed's:
            ``paste_masks_in_image``, which rounds each box to whole pixels) or ``"exact"``
            (:func:`~maskrcnn_custom.models.paste.paste_masks_exact`: float box coordinates and the half-pixel
            offset of torchvision's mask targets). It changes no weight and no training step, only the pasted
            masks; for objects a few pixels wide ``"exact"`` matters (docs/model.md, "Mask pasting").
        foreground_dim: Width of a dense foreground branch (0, the seed's and torchvision's: none). With one, the
            model also predicts, per image pixel, whether it is object at all (from FPN level ``"0"`` and the
            image's pixels; trained by ``loss_foreground``), and every pasted mask takes that probability where
            its own is above ``foreground_gate``: the box's mask says which object, the dense branch draws the
            edges (:mod:`maskrcnn_custom.models.foreground`). Needs ``paste="exact"``.
        foreground_gate: With a foreground branch, the RoI-mask probability above which a pixel may belong to
            the mask (0-1, exclusive). Inference only: no weight depends on it.
    """

    conv_layers: tuple[int, ...] = (256, 256, 256, 256)
    dilation: int = 1
    hidden_dim: int = 1500
    resolution: int = 28
    norm: str = "none"
    paste: str = "torchvision"
    foreground_dim: int = 0
    foreground_gate: float = DEFAULT_FOREGROUND_GATE


@dataclass(frozen=True)
class MaskRCNNConfig:
    """Everything needed to rebuild a Mask R-CNN, as data.

    The defaults are the seed network: ResNet-101 FPN, the seed's anchors, RoI pools on feature map
    ``"0"`` (7 and 14, sampling ratio 2), 256x256 images, 512 RPN samples per image, a 1500-channel
    mask predictor and 2 classes.

    Attributes:
        num_classes: Number of classes including the background.
        backbone: Backbone settings.
        anchors: RPN anchor settings.
        box_roi_pool: RoI pooling for the box branch.
        mask_roi_pool: RoI pooling for the mask branch.
        box_head: Box head settings.
        mask_head: Mask head settings.
        min_size: Shorter image side after the model's resize (an int, or a tuple for multi-scale training).
        max_size: Longest image side after the model's resize.
        rpn_batch_size_per_image: Anchors sampled per image for the RPN loss.
        class_names: Optional names of the ``num_classes`` classes, background first.
        detector_kwargs: Further keyword arguments of ``torchvision.models.detection.MaskRCNN``
            (e.g. ``box_score_thresh``), all JSON-compatible values; stored as a read-only, hashable ``dict``
            (lists become tuples), so configs can be hashed and used as dict keys.

    Examples:
        >>> from maskrcnn_custom import MaskRCNNConfig
        >>> cfg = MaskRCNNConfig(num_classes=3)
        >>> MaskRCNNConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    num_classes: int = 2
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    anchors: AnchorConfig = field(default_factory=AnchorConfig)
    box_roi_pool: RoIPoolConfig = field(default_factory=RoIPoolConfig)
    mask_roi_pool: RoIPoolConfig = field(default_factory=lambda: RoIPoolConfig(("0",), 14, 2))
    box_head: BoxHeadConfig = field(default_factory=BoxHeadConfig)
    mask_head: MaskHeadConfig = field(default_factory=MaskHeadConfig)
    min_size: int | tuple[int, ...] = 256
    max_size: int = 256
    rpn_batch_size_per_image: int = 512
    class_names: tuple[str, ...] | None = None
    detector_kwargs: Mapping[str, Any] = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        # Stored read-only and hashable, so hash(config) works and the frozen config cannot change.
        if isinstance(self.detector_kwargs, Mapping) and not isinstance(self.detector_kwargs, FrozenDict):
            object.__setattr__(self, "detector_kwargs", FrozenDict(self.detector_kwargs))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-compatible dict (lists instead of tuples) that :meth:`from_dict` turns back."""
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MaskRCNNConfig:
        """Rebuild a config from :meth:`to_dict`'s output (or the ``config.json`` of a saved model).

        Args:
            data: The dict. Unknown keys raise, so a config written by a newer library is not silently
                misread.

        Returns:
            The config.

        Raises:
            TypeError: If ``data`` is not a mapping.
            ValueError: If it has keys this version does not know.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"config must be a mapping, got {type(data).__name__}")
        parts = {
            "backbone": BackboneConfig,
            "anchors": AnchorConfig,
            "box_roi_pool": RoIPoolConfig,
            "mask_roi_pool": RoIPoolConfig,
            "box_head": BoxHeadConfig,
            "mask_head": MaskHeadConfig,
        }
        _check_keys(cls, data, "config")
        data = _with_legacy_mask_resolution(data)
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in parts:
                if not isinstance(value, Mapping):
                    raise TypeError(f"config[{key!r}] must be a mapping, got {type(value).__name__}")
                _check_keys(parts[key], value, f"config[{key!r}]")
                kwargs[key] = parts[key](**{k: _tuple_of_tuples(v) for k, v in value.items()})
            elif key == "detector_kwargs":
                if not isinstance(value, Mapping):
                    raise TypeError(
                        f"config['detector_kwargs'] must be a mapping, got {type(value).__name__}"
                    )
                kwargs[key] = {str(k): _tuple_of_tuples(v) for k, v in value.items()}
            else:
                kwargs[key] = _tuple_of_tuples(value)
        return cls(**kwargs)

    def replace(self, **changes: Any) -> MaskRCNNConfig:
        """Return a copy with some top-level fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


def _with_legacy_mask_resolution(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """A config written before ``mask_head.resolution`` existed predicts masks of 2x its mask pool size."""
    head = data.get("mask_head")
    if not isinstance(head, Mapping) or "resolution" in head:
        return data
    pool = data.get("mask_roi_pool", {})
    size = pool.get("output_size", 14) if isinstance(pool, Mapping) else 14
    side = size[0] if isinstance(size, (list, tuple)) and size else size
    if not isinstance(side, int) or isinstance(side, bool):
        return data  # left to validate_config, which names the bad output_size
    return {**data, "mask_head": {**head, "resolution": 2 * side}}


def mask_upsampling_stages(config: MaskRCNNConfig) -> int:
    """The 2x upsampling stages the mask predictor adds past ``2 * P`` (``P``: the mask RoI pool's size).

    Raises:
        ValueError: If ``config.mask_head.resolution`` is not valid (see :func:`check_mask_resolution`).

    Examples:
        >>> from maskrcnn_custom import MaskRCNNConfig, MaskHeadConfig
        >>> from maskrcnn_custom.models.config import mask_upsampling_stages
        >>> mask_upsampling_stages(MaskRCNNConfig()), mask_upsampling_stages(
        ...     MaskRCNNConfig(mask_head=MaskHeadConfig(resolution=56)))
        (0, 1)
    """
    check_mask_resolution(config)
    return (config.mask_head.resolution // (2 * config.mask_roi_pool.output_hw[0])).bit_length() - 1


def check_mask_resolution(config: MaskRCNNConfig) -> None:
    """Check ``config.mask_head.resolution`` against the mask RoI pool (part of ``validate_config``).

    The mask predictor's first transposed conv doubles the pooled ``P x P`` features; each further stage
    doubles again, so the valid resolutions are ``2 * P * 2**k``, ``k`` in :data:`MASK_UPSAMPLING_STAGES`.
    Masks are square (torchvision cuts square training targets), so the mask pool must be square.

    Raises:
        ValueError: Naming ``mask_resolution`` (the builder argument) and the values that work.

    Examples:
        >>> from maskrcnn_custom import MaskRCNNConfig, MaskHeadConfig
        >>> from maskrcnn_custom.models.config import check_mask_resolution
        >>> check_mask_resolution(MaskRCNNConfig(mask_head=MaskHeadConfig(resolution=56)))
        >>> check_mask_resolution(MaskRCNNConfig(mask_head=MaskHeadConfig(resolution=42)))
        Traceback (most recent call last):
        ...
        ValueError: mask_resolution (mask_head.resolution) must be one of 28, 56, 112 with mask_roi_pool output 14 (2 x 14 x 2**k), got 42; pass 28 (no extra upsampling, torchvision's) or 56 for thin objects
    """
    h, w = config.mask_roi_pool.output_hw
    resolution = config.mask_head.resolution
    allowed = [2 * h * 2**k for k in MASK_UPSAMPLING_STAGES]
    if h != w and resolution != 2 * h:
        raise ValueError(
            f"mask_resolution (mask_head.resolution) needs a square mask_roi_pool output_size, got {(h, w)}; "
            "pass mask_roi_pool=RoIPoolConfig(('0',), 14, 2) or leave mask_resolution out"
        )
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution not in allowed:
        raise ValueError(
            f"mask_resolution (mask_head.resolution) must be one of {', '.join(map(str, allowed))} with "
            f"mask_roi_pool output {h} (2 x {h} x 2**k), got {resolution!r}; pass {allowed[0]} (no extra upsampling, "
            f"torchvision's) or {allowed[1]} for thin objects"
        )


def _check_keys(cls: type, data: Mapping[str, Any], where: str) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(
            f"{where} has unknown keys {unknown}; known keys are {sorted(known)}. "
            "It may have been written by a newer maskrcnn-custom: upgrade the library."
        )


def as_level_tuples(
    value: Sequence[Any], *, name: str, levels: int | None = None
) -> tuple[tuple[float, ...], ...]:
    """Normalise anchor sizes / ratios given per level (``((32,), (64,))``) or flat (``(0.5, 1, 2)``).

    A flat sequence of numbers is repeated on each of ``levels`` levels (only allowed when ``levels`` is
    given). Raises ``TypeError`` naming ``name`` for anything else.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
        raise TypeError(
            f"{name} must be a non-empty sequence, one tuple per FPN level (e.g. ((32,), (64,), ...)), "
            f"got {value!r}"
        )
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        if levels is None:
            raise TypeError(
                f"{name} must give one tuple per FPN level, e.g. ((32,), (64,), ...); got {value!r}"
            )
        return tuple(tuple(float(v) if isinstance(v, float) else v for v in value) for _ in range(levels))
    out = []
    for i, level in enumerate(value):
        if isinstance(level, (int, float)) and not isinstance(level, bool):
            level = (level,)
        if isinstance(level, (str, bytes)) or not isinstance(level, Sequence) or len(level) == 0:
            raise TypeError(f"{name}[{i}] must be a non-empty tuple of numbers, got {level!r}")
        for v in level:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"{name}[{i}] must hold numbers only, got {v!r}")
        out.append(tuple(level))
    return tuple(out)
