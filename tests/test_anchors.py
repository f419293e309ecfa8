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
    boxes_from_dataset,
    cell_anchors,
    fit_anchors,
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
    assert set(cov.to_dict()) == {"num_boxes", "iou_0_7", "iou_0_5", "mean_best_iou", "level_share"}


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
    ],
)
def test_bad_input_is_rejected(call, match):
    with pytest.raises(ValueError, match=match):
        call()
