import itertools

import numpy as np
import pytest
import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import box_iou

from maskrcnn_custom import SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS, maskrcnn_resnet18_fpn
from maskrcnn_custom.anchors import (
    TORCHVISION_ANCHOR_SIZES,
    TORCHVISION_ASPECT_RATIOS,
    anchor_coverage,
    anchor_grid,
    best_anchor_iou,
    box_elongation,
    boxes_from_dataset,
    cell_anchors,
    fit_anchors,
    fit_aspect_ratios,
)
from maskrcnn_custom.data import CocoDataset, SyntheticElongatedDataset, export_coco

BAD_SIZES = ((200,), (210,), (220,), (230,), (240,))
BAD_RATIOS = ((1.0,),) * 5


@pytest.fixture(scope="module")
def train_boxes():
    return boxes_from_dataset(SyntheticElongatedDataset(150, image_size=256, seed=0))


@pytest.fixture(scope="module")
def heldout_boxes():
    return boxes_from_dataset(SyntheticElongatedDataset(100, image_size=256, seed=1))


def _random_boxes(n=400, size=256, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, size - 4, (n, 2))
    wh = rng.uniform(3, 150, (n, 2))
    return np.concatenate([xy, np.minimum(xy + wh, size)], axis=1)


def test_cell_anchors_follow_torchvision_shape_rule():
    cells = cell_anchors(SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS)
    ref = AnchorGenerator(SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS).cell_anchors
    assert len(cells) == 5
    for c, r in zip(cells, ref, strict=True):
        assert np.array_equal(c, r.double().numpy())
    # size 32, ratio 0.25 (h / w): w = 32 / sqrt(0.25) = 64, h = 32 * 0.5 = 16.
    assert cells[0][0].tolist() == [-32.0, -8.0, 32.0, 8.0]


@pytest.mark.parametrize("image_size", [256, (128, 192)])
def test_best_iou_equals_brute_force_over_the_models_real_anchors(image_size):
    """The nearest-grid-point shortcut is exact: compare with every anchor the model's RPN generates."""
    model = maskrcnn_resnet18_fpn(
        weights_backbone=None, min_size=min(np.atleast_1d(image_size)), max_size=256
    ).eval()
    hw = (image_size, image_size) if isinstance(image_size, int) else image_size
    images, _ = model.transform([torch.zeros(3, *hw)])
    assert tuple(images.image_sizes[0]) == tuple(hw)
    with torch.no_grad():
        features = list(model.backbone(images.tensors).values())
    assert [(f.shape[-2], f.shape[-1]) for f in features] == [g for g, _ in anchor_grid(hw)]
    boxes = _random_boxes(size=min(hw))
    for sizes, ratios in (
        (SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS),
        (TORCHVISION_ANCHOR_SIZES, TORCHVISION_ASPECT_RATIOS),
    ):
        gen = AnchorGenerator(sizes, ratios)
        anchors = gen(images, features)[0].double()
        brute = box_iou(torch.from_numpy(boxes), anchors).max(dim=1).values.numpy()
        best, _ = best_anchor_iou(boxes, sizes, ratios, image_size=hw)
        np.testing.assert_allclose(best, brute, atol=1e-12)


def test_anchor_grid_strides_at_256():
    assert anchor_grid(256) == [
        ((64, 64), (4, 4)),
        ((32, 32), (8, 8)),
        ((16, 16), (16, 16)),
        ((8, 8), (32, 32)),
        ((4, 4), (64, 64)),
    ]


def test_box_identical_to_an_anchor_has_iou_one_and_grid_is_no_better_than_shape_only():
    # The seed's (64 x 16) anchor of level 0 centred on grid point (40, 20) of stride 4.
    best, level = best_anchor_iou(np.array([[8.0, 12.0, 72.0, 28.0]]), SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS)
    assert best.tolist() == [1.0] and level.tolist() == [0]
    boxes = _random_boxes()
    on_grid, _ = best_anchor_iou(boxes, SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS)
    centred, _ = best_anchor_iou(boxes, SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS, grid=False)
    assert (centred >= on_grid - 1e-12).all() and (centred > on_grid + 1e-3).any()


def test_coverage_report_numbers(train_boxes):
    cov = anchor_coverage(train_boxes, SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS)
    best, _ = best_anchor_iou(train_boxes, SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS)
    assert cov.num_boxes == len(train_boxes)
    assert cov.iou_0_7 == pytest.approx((best >= 0.7).mean())
    assert cov.iou_0_5 == pytest.approx((best >= 0.5).mean())
    assert cov.iou_0_5 >= cov.iou_0_7
    assert sum(cov.level_share) == pytest.approx(1.0)
    assert set(cov.to_dict()) == {
        "num_boxes",
        "iou_0_7",
        "iou_0_5",
        "mean_best_iou",
        "level_share",
        "elongation_bins",
    }
    assert sum(b.count for b in cov.elongation_bins) == cov.num_boxes


def test_fitting_beats_bad_and_seed_anchors_on_held_out_elongated_data(train_boxes, heldout_boxes):
    fit = fit_anchors(train_boxes, max_boxes=1500)
    assert len(fit.anchor_sizes) == 5 and all(len(s) == 1 for s in fit.anchor_sizes)
    assert all(len(r) == 5 for r in fit.aspect_ratios)
    # Elongated objects: the fitted ratios span both thin-wide and thin-tall shapes.
    assert min(fit.aspect_ratios[0]) < 0.5 and max(fit.aspect_ratios[0]) > 2.0
    bad = anchor_coverage(heldout_boxes, BAD_SIZES, BAD_RATIOS)
    seed = anchor_coverage(heldout_boxes, SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS)
    fitted = anchor_coverage(heldout_boxes, fit.anchor_sizes, fit.aspect_ratios)
    assert bad.iou_0_7 < 0.05
    assert fitted.iou_0_7 > bad.iou_0_7 + 0.4
    assert fitted.iou_0_7 > seed.iou_0_7 + 0.1
    assert fitted.mean_best_iou > seed.mean_best_iou
    # The fit's own report is measured on the boxes it was fitted to.
    assert fit.coverage == anchor_coverage(train_boxes, fit.anchor_sizes, fit.aspect_ratios)


def test_fit_plugs_into_the_builders_and_accepts_wh_and_datasets():
    ds = SyntheticElongatedDataset(20, image_size=128, seed=0)
    fit = fit_anchors(ds, image_size=128, num_ratios=3, sizes_per_level=2, max_boxes=200)
    assert all(len(s) == 2 for s in fit.anchor_sizes) and all(len(r) == 3 for r in fit.aspect_ratios)
    model = maskrcnn_resnet18_fpn(weights_backbone=None, min_size=128, max_size=128, **fit.as_kwargs())
    assert model.rpn.anchor_generator.num_anchors_per_location() == [6] * 5
    assert model.config.anchors.sizes == fit.anchor_sizes
    boxes = boxes_from_dataset(ds)
    wh = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
    fit_wh = fit_anchors(wh, image_size=128, refine=False)
    assert fit_wh.coverage.num_boxes == len(wh)


def test_coco_boxes_fast_path_matches_the_items(tmp_path):
    ds = SyntheticElongatedDataset(5, image_size=64, seed=2)
    export_coco(ds, tmp_path)
    coco = CocoDataset.from_dir(tmp_path)
    np.testing.assert_array_equal(boxes_from_dataset(coco), boxes_from_dataset(ds))
    # Images are scaled as the model's transform scales them (64 px images -> 256 by default).
    native = boxes_from_dataset(ds, min_size=64, max_size=64)
    np.testing.assert_allclose(boxes_from_dataset(ds), 4 * native)
    np.testing.assert_allclose(boxes_from_dataset(coco, min_size=128, max_size=128), 2 * native)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: anchor_coverage(np.zeros((0, 4)), SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS), "empty"),
        (lambda: anchor_coverage(np.ones((3, 3)), SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS), r"\(N, 4\)"),
        (lambda: anchor_coverage([[5, 5, 5, 9]], SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS), "x2 > x1"),
        (lambda: anchor_coverage([[0, 0, 9, 9]], ((32,), (-1,)), (1.0,)), r"anchor_sizes\[1\]"),
        (lambda: anchor_coverage([[0, 0, 9, 9]], SEED_ANCHOR_SIZES, ((1.0,),) * 4), "levels"),
        (lambda: fit_anchors([[0, 0, 9, 9]], num_ratios=0), "num_ratios"),
        (lambda: fit_anchors([[0, 0, 9, 9]], num_levels=6), "num_levels"),
        (lambda: anchor_grid(0), "image_size"),
        (lambda: fit_anchors([[0, 0, 9, 9]], ratio_method="mean"), "ratio_method"),
        (lambda: fit_aspect_ratios([[0, 0, 9, 9]], num_ratios=0), "num_ratios"),
        (
            lambda: anchor_coverage(
                [[0, 0, 9, 9]], SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS, elongation_edges=(4, 2)
            ),
            "elongation edges",
        ),
    ],
)
def test_bad_input_is_rejected(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_fitted_sizes_ascend_with_the_pyramid_level():
    """At 128 px the unconstrained search used to put a smaller size on the coarsest level than on P5."""
    boxes = boxes_from_dataset(
        SyntheticElongatedDataset(500, image_size=128, seed=0), min_size=128, max_size=128
    )
    fit = fit_anchors(boxes, image_size=128)
    flat = [v for level in fit.anchor_sizes for v in level]
    assert len(flat) == 5 and all(b > a for a, b in itertools.pairwise(flat)), fit.anchor_sizes
    two = fit_anchors(boxes, image_size=128, sizes_per_level=2, num_ratios=3, max_boxes=500)
    flat2 = [v for level in two.anchor_sizes for v in level]
    assert len(flat2) == 10 and all(b > a for a, b in itertools.pairwise(flat2)), two.anchor_sizes
    # The ordering constraint costs little coverage: still far above the seed's anchors at this size.
    seed = anchor_coverage(boxes, SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS, image_size=128)
    assert fit.coverage.iou_0_7 > seed.iou_0_7 + 0.15
    # ... and in every elongation bin (mean best IoU).
    for f, s in zip(fit.coverage.elongation_bins, seed.elongation_bins, strict=True):
        assert f.count == s.count > 100 and f.mean_best_iou > s.mean_best_iou + 0.08, f.label


def test_free_levels_is_deprecated_and_sizes_still_ascend():
    boxes = _random_boxes(200, size=128)
    with pytest.warns(DeprecationWarning, match="free_levels"):
        fit = fit_anchors(boxes, image_size=128, free_levels=True, max_boxes=200, num_ratios=3)
    flat = [v for level in fit.anchor_sizes for v in level]
    assert flat == sorted(flat) and len(set(flat)) == len(flat)


def test_fit_aspect_ratios_from_box_statistics():
    # log(h / w) of 4:1, 1:4 and square boxes, three of each: one k-means / quantile centre per group.
    wh = np.array([[40, 10]] * 3 + [[10, 40]] * 3 + [[20, 20]] * 3, float)
    assert fit_aspect_ratios(wh, num_ratios=3) == (0.25, 1.0, 4.0)
    assert fit_aspect_ratios(wh, num_ratios=3, method="quantile") == (0.25, 1.0, 4.0)
    # Quantiles of log(h / w) in {log 1/8, log 1/2, log 2, log 8} (one box each) at 1/4 and 3/4.
    wh4 = np.array([[80, 10], [20, 10], [10, 20], [10, 80]], float)
    q = fit_aspect_ratios(wh4, num_ratios=2, method="quantile")
    expected = np.exp(np.quantile(np.log([1 / 8, 1 / 2, 2, 8]), [0.25, 0.75]))
    np.testing.assert_allclose(q, expected, atol=1e-3)
    # Symmetric: only wide boxes (h / w = 1/5), yet the set holds 5 and 1/5, and 1 for an odd count.
    wide = np.array([[50, 10]] * 4, float)
    assert fit_aspect_ratios(wide, num_ratios=2, symmetric=True) == (0.2, 5.0)
    assert fit_aspect_ratios(wide, num_ratios=3, symmetric=True) == (0.2, 1.0, 5.0)
    assert fit_aspect_ratios(wide, num_ratios=1, symmetric=True) == (1.0,)
    with pytest.raises(TypeError, match="symmetric_ratios"):
        fit_aspect_ratios(wide, symmetric="yes")


def test_symmetric_fit_keeps_reciprocal_ratios(train_boxes):
    fit = fit_anchors(train_boxes, max_boxes=400, symmetric_ratios=True)
    r = np.array(fit.aspect_ratios[0])
    assert len(r) == 5 and 1.0 in r.tolist()
    np.testing.assert_allclose(r * r[::-1], 1.0, rtol=5e-3)


def test_coverage_per_elongation_bin_on_hand_made_boxes():
    """One 32 x 32 anchor shape, shape-only IoU: every box's best IoU is known by hand."""
    wh = [(32, 32), (16, 16), (32, 16), (64, 16), (32, 8), (320, 32)]
    boxes = np.array([[0, 0, w, h] for w, h in wh], float)
    np.testing.assert_allclose(box_elongation(boxes), [1, 1, 2, 4, 4, 10])
    cov = anchor_coverage(boxes, ((32,),) * 5, (1.0,), grid=False)
    # IoUs with the centred 32 x 32 square: 1, 1/4, 1/2, 512/1536, 1/4, 1024/10240.
    rows = {
        b.label: (b.low, b.high, b.count, b.mean_best_iou, b.iou_0_5, b.iou_0_7) for b in cov.elongation_bins
    }
    assert list(rows) == ["<2", "2-4", "4-8", ">=8"]
    np.testing.assert_allclose(rows["<2"], (1, 2, 2, 0.625, 0.5, 0.5))
    np.testing.assert_allclose(rows["2-4"], (2, 4, 1, 0.5, 1.0, 0.0))
    np.testing.assert_allclose(rows["4-8"], (4, 8, 2, (1 / 3 + 1 / 4) / 2, 0.0, 0.0))
    np.testing.assert_allclose(rows[">=8"], (8, np.inf, 1, 0.1, 0.0, 0.0))
    table = cov.elongation_table().splitlines()
    assert table[1].split() == ["<2", "2", "0.625", "50.0%", "50.0%"]
    # Custom edges; an empty bin has NaN figures, None in the JSON form; the infinite edge is None too.
    cov2 = anchor_coverage(boxes, ((32,),) * 5, (1.0,), grid=False, elongation_edges=(3, 20))
    assert [b.count for b in cov2.elongation_bins] == [3, 3, 0]
    last = cov2.to_dict()["elongation_bins"][-1]
    assert last["label"] == ">=20" and last["high"] is None and last["mean_best_iou"] is None
    assert cov2.elongation_table().splitlines()[-1].split() == [">=20", "0", "-", "-", "-"]


def test_fitted_ratios_cover_elongated_boxes_better_than_the_seed(train_boxes, heldout_boxes):
    fit = fit_anchors(train_boxes, max_boxes=1500)
    fitted = {
        b.label: b
        for b in anchor_coverage(heldout_boxes, fit.anchor_sizes, fit.aspect_ratios).elongation_bins
    }
    seed = {
        b.label: b
        for b in anchor_coverage(heldout_boxes, SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS).elongation_bins
    }
    # The seed's hand-picked ratios (0.25 ... 3) already suit 2-4; the fitted ones win on the thinner boxes.
    for label, margin in (("4-8", 0.02), (">=8", 0.01)):
        assert fitted[label].count == seed[label].count > 20
        assert fitted[label].mean_best_iou > seed[label].mean_best_iou + margin, label
    assert fitted["2-4"].iou_0_7 > seed["2-4"].iou_0_7 + 0.05


def test_cli_reports_elongation_bins_and_ordered_sizes(capsys):
    import json

    from maskrcnn_custom.cli import main

    args = ["anchors", "--synthetic", "30", "--image-size", "128", "--num-ratios", "3"]
    assert main([*args, "--symmetric-ratios", "--ratio-method", "quantile", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    sizes = [v for level in report["fitted"]["anchor_sizes"] for v in level]
    assert sizes == sorted(sizes) and len(set(sizes)) == 5
    ratios = report["fitted"]["aspect_ratios"][0]
    assert ratios[1] == 1.0 and ratios[0] * ratios[2] == pytest.approx(1.0, rel=5e-3)
    bins = report["seed"]["coverage"]["elongation_bins"]
    assert [b["label"] for b in bins] == ["<2", "2-4", "4-8", ">=8"]
    assert sum(b["count"] for b in bins) == report["num_boxes"]
    assert main([*args, "--no-refine"]) == 0
    text = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.split()}
    assert "elongation" in rows and {"<2", "2-4", "4-8", ">=8"} <= set(rows)
    # label, box count, then (mean IoU, share) for fitted, seed and torchvision.
    assert sum(int(rows[k][1]) for k in ("<2", "2-4", "4-8", ">=8")) == report["num_boxes"]
