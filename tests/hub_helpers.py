"""Small models and inputs shared by the ``test_hub_*`` files (random weights, nothing downloaded)."""

from __future__ import annotations

import dataclasses

import torch

from maskrcnn_custom import BoxHeadConfig, build_model, make_config

#: Keeps forward passes fast: 64 px images, few proposals and detections, a narrow mask predictor.
TINY = {
    "min_size": 64,
    "max_size": 64,
    "mask_hidden_dim": 32,
    "mask_head_layers": (64, 64),
    "box_detections_per_img": 5,
    "rpn_pre_nms_top_n_test": 50,
    "rpn_post_nms_top_n_test": 20,
}


def tiny_model(num_classes: int = 3, seed: int = 0, **kwargs) -> torch.nn.Module:
    """A random resnet18 Mask R-CNN with narrow heads (about 12 M parameters, fast to save and forward)."""
    torch.manual_seed(seed)
    config = make_config(backbone="resnet18", num_classes=num_classes, **{**TINY, **kwargs})
    config = config.replace(
        backbone=dataclasses.replace(config.backbone, out_channels=64),
        box_head=BoxHeadConfig(representation_size=128),
    )
    model = build_model(config)
    with torch.no_grad():  # make the random heads produce non-trivial scores
        model.roi_heads.box_predictor.cls_score.weight.normal_(0, 0.5)
    return model.eval()


def images(seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(3, 64, 64, generator=g), torch.rand(3, 64, 48, generator=g)]


def predict(model: torch.nn.Module) -> list[dict[str, torch.Tensor]]:
    model.eval()
    with torch.no_grad():
        return model(images())


def assert_same_predictions(a: list[dict[str, torch.Tensor]], b: list[dict[str, torch.Tensor]]) -> None:
    assert len(a) == len(b)
    for pa, pb in zip(a, b, strict=True):
        assert set(pa) == set(pb) == {"boxes", "labels", "scores", "masks"}
        for key in pa:
            assert torch.equal(pa[key], pb[key]), key


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module, *, skip: tuple[str, ...] = ()) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert set(sa) == set(sb)
    for key in sa:
        if not key.startswith(skip):
            assert torch.equal(sa[key], sb[key]), key
