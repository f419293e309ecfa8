"""``mask_paste`` / ``MaskHeadConfig.paste``: sub-pixel mask pasting at inference, torchvision's by default."""

from __future__ import annotations

import json

import pytest
import torch
from torchvision.models.detection.roi_heads import paste_masks_in_image
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import roi_align

from helpers.models import HUB_OPTIONS, hub_model, spread_scores, tiny_model
from helpers.onnx_check import assert_onnx_matches_eager
from helpers.rods import rods_image
from maskrcnn_custom import (
    MaskRCNNConfig,
    from_pretrained,
    make_config,
    maskrcnn_resnet18_fpn,
    save_pretrained,
)
from maskrcnn_custom.hub.card import render_model_card
from maskrcnn_custom.models import ExactPasteTransform, paste_masks_exact
from maskrcnn_custom.models.loading import apply_overrides
from maskrcnn_custom.models.paste import _paste_full


def _thin_objects(size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Ground truth masks (uint8) and boxes of a 2 px horizontal rod, a 3 px diagonal and a 4 px vertical rod."""
    masks = torch.zeros(3, size, size, dtype=torch.uint8)
    at = [round(f * size) for f in (0.31, 0.08, 0.92, 0.09, 0.86, 0.06, 0.94, 0.7)]
    masks[0, at[0] : at[0] + 2, at[1] : at[2]] = 1
    for i in range(at[3], at[4]):
        masks[1, i, i - 1 : i + 2] = 1
    masks[2, at[5] : at[6], at[7] : at[7] + 4] = 1
    boxes = []
    for m in masks:
        ys, xs = m.nonzero(as_tuple=True)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return masks, torch.tensor(boxes, dtype=torch.float32)


def _targets(masks: torch.Tensor, boxes: torch.Tensor, m: int = 56) -> torch.Tensor:
    """The box-relative masks torchvision's ``maskrcnn_loss`` trains on (``roi_align``, ``aligned=False``)."""
    rois = torch.cat([torch.arange(len(boxes), dtype=torch.float32)[:, None], boxes], dim=1)
    return roi_align(masks[:, None].float(), rois, (m, m), 1.0)


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.bool().flatten(1), b.bool().flatten(1)
    return (a & b).sum(1) / (a | b).sum(1)


def test_default_is_torchvision_paste():
    assert make_config().mask_head.paste == "torchvision"
    model = tiny_model(seed=0, **HUB_OPTIONS)
    assert type(model.transform) is GeneralizedRCNNTransform


def test_exact_paste_gives_back_thin_ground_truth_that_torchvision_paste_loses():
    masks, boxes = _thin_objects()
    targets = _targets(masks, boxes)
    exact = paste_masks_exact(targets, boxes, (128, 128))[:, 0] > 0.5
    tv = paste_masks_in_image(targets, boxes, (128, 128), padding=1)[:, 0] > 0.5
    iou_exact, iou_tv = _iou(exact, masks), _iou(tv, masks)
    assert iou_exact.min() >= 0.95, iou_exact
    assert iou_tv.mean() <= iou_exact.mean() - 0.15, (iou_tv, iou_exact)
    # without the half-pixel target offset the masks land half a pixel off
    shifted = paste_masks_exact(targets, boxes, (128, 128), offset=0.0)[:, 0] > 0.5
    assert _iou(shifted, masks).mean() < iou_exact.mean() - 0.05


def test_masks_stay_inside_their_boxes_and_keep_dtype():
    masks = torch.ones(2, 1, 8, 8, dtype=torch.float16)
    boxes = torch.tensor([[4.0, 4.0, 20.0, 12.0], [-10.0, 50.0, 30.0, 90.0]])  # the second leaves the image
    out = paste_masks_exact(masks, boxes, (64, 48), offset=0.0)
    assert out.shape == (2, 1, 64, 48) and out.dtype == torch.float16
    on = out[0, 0] > 0.5
    ys, xs = on.nonzero(as_tuple=True)
    assert (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1) == (4, 4, 20, 12)
    assert out[1, 0, 50:, :30].gt(0.5).all() and not out[1, 0, :49].any()
    assert paste_masks_exact(masks[:0], boxes[:0], (64, 48)).shape == (0, 1, 64, 48)


def test_box_window_and_whole_image_paths_agree():
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(6, 1, 14, 14, generator=g)
    xy = torch.rand(6, 2, generator=g) * 80 - 10
    wh = torch.rand(6, 2, generator=g) * 40 + 0.3
    boxes = torch.cat([xy, xy + wh], dim=1)
    eager = paste_masks_exact(probs, boxes, (70, 90), offset=(0.3, 0.7))
    shifted = boxes + torch.tensor([0.3, 0.7, 0.3, 0.7])
    window = torch.cat([boxes[:, :2], shifted[:, 2:]], dim=1)
    full = _paste_full(probs, tuple(shifted.unbind(1)), tuple(window.unbind(1)), (70, 90))
    torch.testing.assert_close(eager, full, atol=1e-6, rtol=0)


def test_bad_shapes_name_the_argument():
    with pytest.raises(ValueError, match=r"masks must be \(N, 1, M, M\)"):
        paste_masks_exact(torch.rand(2, 14, 14), torch.rand(2, 4), (8, 8))
    with pytest.raises(ValueError, match=r"boxes must be \(N, 4\) with N = 2"):
        paste_masks_exact(torch.rand(2, 1, 14, 14), torch.rand(3, 4), (8, 8))
    with pytest.raises(ValueError, match="image_size must be"):
        paste_masks_exact(torch.rand(2, 1, 14, 14), torch.rand(2, 4), (0, 8))


def test_transform_scales_the_offset_with_the_resize():
    # masks learnt at 64 px (the resized image), pasted into the 128 px original
    small, boxes = _thin_objects(64)
    big = small.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
    targets = _targets(small, boxes)
    transform = ExactPasteTransform(64, 64, [0.0] * 3, [1.0] * 3).eval()
    [out] = transform.postprocess([{"boxes": boxes.clone(), "masks": targets}], [(64, 64)], [(128, 128)])
    torch.testing.assert_close(out["boxes"], boxes * 2)
    scaled = _iou(out["masks"][:, 0] > 0.5, big)
    unscaled = _iou(paste_masks_exact(targets, boxes * 2, (128, 128))[:, 0] > 0.5, big)
    assert scaled.min() >= 0.9 and scaled.mean() > unscaled.mean() + 0.05, (scaled, unscaled)


def test_like_copies_the_settings():
    base = GeneralizedRCNNTransform((96, 128), 160, [0.4, 0.5, 0.6], [0.2, 0.2, 0.3], size_divisible=16)
    t = ExactPasteTransform.like(base)
    assert (t.min_size, t.max_size, t.image_mean, t.image_std, t.size_divisible, t.fixed_size) == (
        (96, 128),
        160,
        [0.4, 0.5, 0.6],
        [0.2, 0.2, 0.3],
        16,
        None,
    )


def test_training_is_unchanged_and_inference_differs_only_in_masks():
    image = rods_image(seed=1)[:, :64, :64]
    masks, boxes = _thin_objects(64)
    target = {"boxes": boxes, "labels": torch.ones(3, dtype=torch.int64), "masks": masks}
    models = {}
    for paste in ("torchvision", "exact"):
        model = tiny_model(seed=0, mask_resolution=56, mask_paste=paste, **HUB_OPTIONS)
        torch.manual_seed(1)
        losses = model([image], [target])
        models[paste] = (model, {k: float(v.detach()) for k, v in losses.items()})
    assert models["torchvision"][1] == models["exact"][1]
    assert isinstance(models["exact"][0].transform, ExactPasteTransform)
    outs = {}
    for paste, (model, _) in models.items():
        torch.manual_seed(2)
        spread_scores(model, std=0.5)
        with torch.no_grad():
            outs[paste] = model([image])[0]
    tv, ex = outs["torchvision"], outs["exact"]
    assert len(tv["boxes"]) > 0
    for key in ("boxes", "scores", "labels"):
        torch.testing.assert_close(tv[key], ex[key])
    assert tv["masks"].shape == ex["masks"].shape and not torch.equal(tv["masks"], ex["masks"])


def test_invalid_paste_names_the_parameter_and_the_fix():
    with pytest.raises(
        ValueError,
        match=r"mask_paste \(mask_head.paste\) must be one of \['torchvision', 'exact'\].*'subpixel'",
    ):
        make_config(mask_paste="subpixel")


def test_config_round_trip_and_configs_written_before_the_field():
    cfg = make_config(mask_paste="exact")
    assert MaskRCNNConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    old = MaskRCNNConfig().to_dict()
    del old["mask_head"]["paste"]
    assert MaskRCNNConfig.from_dict(old).mask_head.paste == "torchvision"


def test_weights_take_a_paste_override(tmp_path):
    cfg = make_config()
    assert apply_overrides(cfg, {"mask_paste": "exact"}, "here").mask_head.paste == "exact"
    model = hub_model(num_classes=2, mask_resolution=56)
    folder = save_pretrained(model, tmp_path / "m")
    assert json.loads((folder / "config.json").read_text())["mask_head"]["paste"] == "torchvision"
    loaded = maskrcnn_resnet18_fpn(weights=folder, mask_paste="exact")
    assert loaded.config.mask_head.paste == "exact" and isinstance(loaded.transform, ExactPasteTransform)
    again = from_pretrained(save_pretrained(loaded, tmp_path / "exact"))
    assert isinstance(again.transform, ExactPasteTransform)
    assert "paste `exact`" in render_model_card(again.config, name="m")


def test_onnx_export_with_exact_paste(tmp_path):
    assert_onnx_matches_eager(hub_model(num_classes=2, mask_resolution=56, mask_paste="exact"), tmp_path)


def test_onnx_export_refuses_an_opset_without_grid_sample(tmp_path):
    from maskrcnn_custom import export_onnx

    model = hub_model(num_classes=2, mask_paste="exact")
    with pytest.raises(ValueError, match=r"opset must be at least 16 for a model with mask_paste='exact'"):
        export_onnx(model, tmp_path / "m.onnx", image_size=64, opset=13)
    assert not (tmp_path / "m.onnx").exists()
