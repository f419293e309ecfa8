"""Overlay pictures a newcomer can read: threshold, distinct colours, upscaling, fitting captions, side by side."""

from __future__ import annotations

import pytest
import torch

from maskrcnn_custom import MaskRCNNConfig, Prediction, get_preset
from maskrcnn_custom.hub.card import render_model_card
from maskrcnn_custom.inference import draw_comparison, draw_overlay
from maskrcnn_custom.inference.writers import PALETTE, match_colours, target_prediction


def _rods(size: int = 64) -> Prediction:
    masks = torch.zeros(3, size, size, dtype=torch.bool)
    masks[0, 5:40, 10:13] = True
    masks[1, 20:23, 20:60] = True
    masks[2, 45:60, 40:43] = True
    boxes = torch.tensor([[10.0, 5.0, 13.0, 40.0], [20.0, 20.0, 60.0, 23.0], [40.0, 45.0, 43.0, 60.0]])
    return Prediction(boxes, torch.tensor([1, 1, 1]), torch.tensor([0.9, 0.7, 0.3]), masks, (size, size))


def _count(picture: torch.Tensor, colour: tuple[int, int, int]) -> int:
    return int((picture.permute(1, 2, 0) == torch.tensor(colour, dtype=torch.uint8)).all(-1).sum())


def test_overlay_draws_only_detections_above_the_threshold_in_distinct_colours():
    pred = _rods()
    out = draw_overlay(
        torch.zeros(3, 64, 64), pred, alpha=1.0, boxes=False, labels=False, score_threshold=0.5
    )
    areas = [int(m.sum()) for m in pred.masks]
    assert _count(out, PALETTE[0]) == areas[0] and _count(out, PALETTE[1]) == areas[1]
    assert _count(out, PALETTE[2]) == 0  # score 0.3: not drawn
    everything = draw_overlay(torch.zeros(3, 64, 64), pred, alpha=1.0, boxes=False, labels=False)
    assert _count(everything, PALETTE[2]) == areas[2]
    assert len(set(PALETTE)) == len(PALETTE)  # every instance of an image gets its own colour


def test_overlay_upscales_with_nearest_neighbour_and_keeps_boxes_thin():
    pred = _rods()
    img = torch.rand(3, 64, 64)
    big = draw_overlay(img, pred, alpha=1.0, labels=False, scale=8, width=1, score_threshold=0.5)
    assert big.shape == (3, 512, 512)
    plain = draw_overlay(img, pred, alpha=1.0, boxes=False, labels=False, scale=8, score_threshold=0.5)
    assert _count(plain, PALETTE[0]) == 64 * int(pred.masks[0].sum())
    # boxes are 1 px outlines at the output's scale: a 20 x 10 box at 8x is a 160 x 80 frame
    box = Prediction(
        torch.tensor([[10.0, 10.0, 30.0, 20.0]]),
        torch.tensor([1]),
        torch.tensor([0.9]),
        torch.zeros(1, 64, 64, dtype=torch.bool),
        (64, 64),
    )
    framed = draw_overlay(torch.zeros(3, 64, 64), box, labels=False, scale=8, width=1)
    assert _count(framed, PALETTE[0]) == 2 * (160 + 80) - 4


def test_captions_are_left_out_where_they_do_not_fit():
    pred = _rods()
    img = torch.zeros(3, 64, 64)
    # 64 px is too narrow for "object 0.90": every caption would leave the picture
    names = ("background", "object")
    named = Prediction(pred.boxes, pred.labels, pred.scores, pred.masks, pred.image_size, names)
    assert torch.equal(draw_overlay(img, named, labels=True), draw_overlay(img, named, labels=False))
    # at 8x they fit; two boxes at the same place get one caption above, one inside, never stacked
    same = Prediction(
        torch.tensor([[100.0, 100.0, 300.0, 200.0]] * 4),
        torch.ones(4, dtype=torch.int64),
        torch.tensor([0.9, 0.8, 0.7, 0.6]),
        torch.zeros(4, 512, 512, dtype=torch.bool),
        (512, 512),
        names,
    )
    with_captions = draw_overlay(torch.zeros(3, 512, 512), same, alpha=1.0, labels=True)
    # captions take their detection's colour as background: the first three fit (above, inside, below)
    for k in range(3):
        assert _count(with_captions, PALETTE[k]) > 200, k
    assert _count(with_captions, PALETTE[3]) < 2 * (200 + 100) + 4  # only its box outline: no room left


def test_comparison_puts_ground_truth_and_prediction_side_by_side_on_large_panels():
    truth = _rods()
    target = {"boxes": truth.boxes, "labels": truth.labels, "masks": truth.masks.to(torch.uint8)}
    # ground truth on both sides: every detection matches its object and takes its colour
    as_prediction = target_prediction(target, image_size=(64, 64))
    t_colours, p_colours, matched = match_colours(as_prediction, as_prediction)
    assert p_colours == t_colours == list(PALETTE[:3]) and matched == 3
    picture = draw_comparison(torch.zeros(3, 64, 64), target, as_prediction, alpha=1.0)
    _, height, width = picture.shape
    assert height >= 512 and width >= 2 * 512
    left, right = picture[:, :, : width // 2], picture[:, :, width // 2 :]
    for k in range(3):
        n = 64 * int(truth.masks[k].sum())
        assert _count(left, PALETTE[k]) >= n and _count(right, PALETTE[k]) >= n
    # the headers sit above the panels: dark text pixels in the top rows of each half
    assert int((left[:, :30].sum(0) < 200).sum()) > 50 and int((right[:, :30].sum(0) < 200).sum()) > 50
    # a prediction below the threshold is not drawn at all
    low = Prediction(truth.boxes, truth.labels, torch.full((3,), 0.2), truth.masks, (64, 64))
    empty = draw_comparison(torch.zeros(3, 64, 64), target, low, alpha=1.0)
    right = empty[:, :, width // 2 :]
    assert sum(_count(right, c) for c in PALETTE) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"scale": 0}, "scale"), ({"alpha": 1.5}, "alpha"), ({"score_threshold": 1.0}, "score_threshold")],
)
def test_overlay_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        draw_overlay(torch.zeros(3, 64, 64), _rods(), **kwargs)


def test_comparison_arguments_are_checked():
    truth = _rods()
    target = {"boxes": truth.boxes, "labels": truth.labels, "masks": truth.masks}
    with pytest.raises(ValueError, match="min_panel_size"):
        draw_comparison(torch.zeros(3, 64, 64), target, truth, min_panel_size=0)
    with pytest.raises(ValueError, match="masks"):
        draw_comparison(torch.zeros(3, 64, 64), {"boxes": truth.boxes, "labels": truth.labels}, truth)


def test_model_card_records_the_preset_its_recipe_and_a_metrics_table():
    preset = get_preset("fast_cpu")
    card = render_model_card(
        MaskRCNNConfig(),
        name="demo",
        metrics={"segm_AP": 0.1234, "bbox_AP": 0.25},
        dataset_name="50 held-out images",
        recipe=preset.recipe.to_dict(),
        preset=preset,
    )
    assert "| segm_AP | 0.1234 |" in card and "| bbox_AP | 0.2500 |" in card
    assert "Measured on: 50 held-out images." in card
    assert "## Training preset" in card and "trades the seed network's defaults" in card
    assert f"| architecture | `{preset.architecture}` |" in card
    assert "unchanged (the Training table below)" in card  # the run used the preset's recipe
    changed = render_model_card(MaskRCNNConfig(), name="d", recipe={"epochs": 1}, preset=preset.to_dict())
    assert f"| epochs | `{preset.recipe.epochs}` |" in changed and "The run changed some" in changed
    seed = render_model_card(MaskRCNNConfig(), name="d", preset=get_preset("seed"))
    assert "the seed network" in seed and "trades" not in seed
    with pytest.raises(TypeError, match="preset"):
        render_model_card(MaskRCNNConfig(), name="d", preset=42)
