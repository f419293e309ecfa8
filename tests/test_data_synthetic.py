import math

import numpy as np
import pytest
import torch

from maskrcnn_custom.data import SyntheticConfig, SyntheticElongatedDataset, collate_fn, masks_to_tight_boxes
from maskrcnn_custom.data import synthetic as synth


def _tight(mask: torch.Tensor) -> list[float]:
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]


def test_same_seed_and_index_give_identical_items_in_any_order():
    a = SyntheticElongatedDataset(20, image_size=96, seed=3)
    b = SyntheticElongatedDataset(20, image_size=96, seed=3)
    later_first = [b[i] for i in (7, 2, 7)]
    for i, (img_b, tgt_b) in zip((7, 2, 7), later_first, strict=True):
        img_a, tgt_a = a[i]
        assert torch.equal(img_a, img_b)
        for key in ("boxes", "labels", "masks", "area", "iscrowd"):
            assert torch.equal(tgt_a[key], tgt_b[key])
        assert tgt_a["image_id"] == tgt_b["image_id"] == i


def test_different_indices_and_seeds_differ():
    ds = SyntheticElongatedDataset(10, image_size=64, seed=0)
    other = SyntheticElongatedDataset(10, image_size=64, seed=1)
    assert not torch.equal(ds[0][0], ds[1][0])
    assert not torch.equal(ds[0][0], other[0][0])


def test_item_types_shapes_and_ranges():
    ds = SyntheticElongatedDataset(12, image_size=(80, 112), seed=5)
    for i in range(len(ds)):
        image, t = ds[i]
        n = t["boxes"].shape[0]
        assert image.dtype == torch.float32 and image.shape == (3, 80, 112)
        assert 0.0 <= image.min().item() and image.max().item() <= 1.0
        assert t["boxes"].dtype == torch.float32 and t["boxes"].shape == (n, 4)
        assert t["labels"].dtype == torch.int64 and t["labels"].shape == (n,)
        assert t["masks"].dtype == torch.uint8 and t["masks"].shape == (n, 80, 112)
        assert t["area"].dtype == torch.float32 and t["iscrowd"].dtype == torch.int64
        assert isinstance(t["image_id"], int)
        assert torch.equal(t["labels"], torch.ones(n, dtype=torch.int64))
        assert torch.equal(t["area"], t["masks"].sum(dim=(1, 2)).float())


def test_every_box_is_the_tight_box_of_its_mask_and_masks_are_disjoint():
    ds = SyntheticElongatedDataset(25, image_size=128, seed=11)
    total = 0
    for i in range(len(ds)):
        _, t = ds[i]
        for box, mask in zip(t["boxes"], t["masks"], strict=True):
            assert box.tolist() == _tight(mask)
        # Visible masks never share a pixel.
        assert int(t["masks"].sum(dim=0).max()) <= 1
        total += len(t["boxes"])
    assert total > 50


def test_objects_are_elongated():
    ds = SyntheticElongatedDataset(20, image_size=128, seed=2, config=SyntheticConfig(kinds=("rod",)))
    ratios = []
    for i in range(len(ds)):
        b = ds[i][1]["boxes"]
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        ratios.append(torch.maximum(w / h, h / w))
    ratios = torch.cat(ratios)
    # Straight rods at random angles: most boxes are far from square.
    assert (ratios > 2).float().mean() > 0.5


def test_masks_to_tight_boxes_convention():
    m = np.zeros((3, 10, 12), bool)
    m[0, 7, 5] = True
    m[1, 2:4, 0:12] = True
    assert masks_to_tight_boxes(m).tolist() == [[5, 7, 6, 8], [0, 2, 12, 4], [0, 0, 0, 0]]


def test_labels_by_kind():
    cfg = SyntheticConfig(kinds=("rod", "fibre"), labels="kind")
    ds = SyntheticElongatedDataset(15, image_size=64, seed=0, config=cfg)
    labels = torch.cat([ds[i][1]["labels"] for i in range(len(ds))])
    assert set(labels.tolist()) == {1, 2}
    assert ds.num_classes == 3 and ds.category_names == ("rod", "fibre")


class _Scripted(SyntheticElongatedDataset):
    """Draws a fixed list of shapes in order (to test occlusion exactly)."""

    def __init__(self, shapes, **kw):
        super().__init__(
            1, image_size=64, config=SyntheticConfig(num_objects=(len(shapes), len(shapes)), **kw)
        )
        self._script = shapes

    def generate(self, index):
        self._queue = list(self._script)
        return super().generate(index)

    def _draw_shape(self, rng, h, w, side):
        kind, args = self._queue.pop(0)
        if kind == "rod":
            y0, x0, q = synth._polyline_shape(np.array(args[0], float), args[1], w, h)
        else:
            y0, x0, q = synth._ellipse_shape(*args, w, h)
        return synth._Shape(0, y0, x0, q <= 1, np.sqrt(np.clip(1 - q, 0, 1)).astype(np.float32))


def test_later_objects_occlude_earlier_ones_and_hidden_ones_are_dropped():
    shapes = [
        ("rod", ([[10, 32], [54, 32]], 3.0)),  # horizontal rod, drawn first
        ("rod", ([[32, 10], [32, 54]], 3.0)),  # vertical rod on top of it
        ("rod", ([[45, 50], [47, 50]], 1.0)),  # tiny rod ...
        ("ellipse", (46.0, 50.0, 8.0, 6.0, 0.0)),  # ... hidden under this ellipse
    ]
    ds = _Scripted(shapes, min_visible_area=20)
    _, t = ds[0]
    masks = t["masks"].bool()
    assert masks.shape[0] == 3  # the tiny hidden rod is dropped
    horiz, vert, ellipse = masks
    # The crossing is owned by the later, vertical rod: the horizontal one has a gap there.
    assert vert[32, 32] and not horiz[32, 32]
    assert horiz[32, 20] and horiz[32, 44]
    assert vert[10:55, 32].all()
    assert ellipse[50, 46]
    assert int(masks.sum(0).max()) == 1
    for box, mask in zip(t["boxes"], t["masks"], strict=True):
        assert box.tolist() == _tight(mask)
    # Even with a threshold of 1 pixel the completely hidden rod is dropped: it has no visible pixel.
    _, t1 = _Scripted(shapes, min_visible_area=1)[0]
    assert t1["masks"].shape[0] == 3
    # Without the ellipse on top, the small rod is visible and kept.
    _, t2 = _Scripted(shapes[:3], min_visible_area=1)[0]
    assert t2["masks"].shape[0] == 3 and t2["masks"][2].sum() > 0


def test_min_visible_area_drops_objects_and_uncovers_earlier_ones():
    base = SyntheticConfig(num_objects=(6, 10), width_range=(0.05, 0.1), min_visible_area=1)
    strict = SyntheticConfig(num_objects=(6, 10), width_range=(0.05, 0.1), min_visible_area=150)
    dropped = 0
    for i in range(8):
        _, a = SyntheticElongatedDataset(8, image_size=96, seed=4, config=base)[i]
        _, b = SyntheticElongatedDataset(8, image_size=96, seed=4, config=strict)[i]
        assert (b["area"] >= 150).all()
        dropped += len(a["area"]) - len(b["area"])
        # Each kept object is one of the lenient set's objects, possibly with more pixels uncovered.
        for mb in b["masks"].bool():
            assert any(bool((ma & ~mb).sum() == 0 and (ma & mb).any()) for ma in a["masks"].bool())
    assert dropped > 0


def test_no_overlap_mode_keeps_objects_apart():
    cfg = SyntheticConfig(allow_overlap=False, num_objects=(3, 6))
    full = SyntheticConfig(allow_overlap=False, num_objects=(3, 6), min_visible_area=1)
    for i in range(6):
        _, t = SyntheticElongatedDataset(6, image_size=96, seed=1, config=cfg)[i]
        _, t_full = SyntheticElongatedDataset(6, image_size=96, seed=1, config=full)[i]
        assert len(t["boxes"]) >= 1
        # Nothing is occluded, so no object is dropped for being hidden: only tiny clipped ones could be.
        assert len(t_full["boxes"]) - len(t["boxes"]) <= 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kinds": ("rod", "spiral")}, "kinds"),
        ({"kinds": ()}, "kinds"),
        ({"labels": "colour"}, "labels"),
        ({"num_objects": (5, 2)}, "num_objects"),
        ({"length_range": (0.2,)}, "length_range"),
        ({"noise_std": -1.0}, "noise_std"),
        ({"shading": 2.0}, "shading"),
        ({"min_visible_area": 0}, "min_visible_area"),
        ({"curvature_range": (0.0, math.inf)}, "curvature_range"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticConfig(**kwargs)


def test_dataset_rejects_bad_arguments_and_indices():
    with pytest.raises(ValueError, match="num_images"):
        SyntheticElongatedDataset(-1)
    with pytest.raises(ValueError, match="image_size"):
        SyntheticElongatedDataset(2, image_size=8)
    with pytest.raises(TypeError, match="config"):
        SyntheticElongatedDataset(2, config={"kinds": ("rod",)})
    ds = SyntheticElongatedDataset(2, image_size=32)
    with pytest.raises(IndexError):
        ds[2]
    assert ds[-1][1]["image_id"] == 1


def test_collate_fn_keeps_lists_and_transforms_are_applied():
    calls = []

    def tf(image, target):
        calls.append(target["image_id"])
        return image * 0.5, target

    ds = SyntheticElongatedDataset(3, image_size=32, transforms=tf)
    images, targets = collate_fn([ds[0], ds[2]])
    assert calls == [0, 2]
    assert [t["image_id"] for t in targets] == [0, 2]
    assert images[0].max() <= 0.5
    with pytest.raises(TypeError, match="sample 0"):
        collate_fn([torch.zeros(3)])
