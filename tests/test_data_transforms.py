import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from maskrcnn_custom.data import (
    DetectionTransforms,
    RandomRotation90,
    RandomScaleJitter,
    SyntheticConfig,
    SyntheticElongatedDataset,
    build_dataloaders,
    masks_to_tight_boxes,
    train_transforms,
)


def _sample(i=0, size=96):
    return SyntheticElongatedDataset(8, image_size=size, seed=7)[i]


def _assert_consistent(image, t):
    n = t["boxes"].shape[0]
    assert t["masks"].shape == (n, *image.shape[-2:])
    assert t["labels"].shape == (n,) and t["iscrowd"].shape == (n,) and t["area"].shape == (n,)
    assert torch.equal(t["boxes"], masks_to_tight_boxes(t["masks"]))
    assert torch.equal(t["area"], t["masks"].sum(dim=(1, 2)).float())
    assert (t["area"] > 0).all()
    assert (
        type(t["boxes"]) is torch.Tensor and type(t["masks"]) is torch.Tensor and type(image) is torch.Tensor
    )


def test_masks_to_tight_boxes_torch_matches_numpy():
    _, t = _sample()
    assert torch.equal(masks_to_tight_boxes(t["masks"]), t["boxes"])
    assert torch.equal(
        torch.from_numpy(masks_to_tight_boxes(t["masks"].numpy())), masks_to_tight_boxes(t["masks"])
    )
    assert masks_to_tight_boxes(torch.zeros(2, 5, 5)).tolist() == [[0.0] * 4] * 2


@pytest.mark.parametrize(
    "transform",
    [v2.RandomHorizontalFlip(p=1.0), v2.RandomVerticalFlip(p=1.0)],
)
def test_flips_move_masks_exactly(transform):
    image, t = _sample()
    out_img, out = DetectionTransforms([transform])(image, t)
    dim = -1 if isinstance(transform, v2.RandomHorizontalFlip) else -2
    assert torch.equal(out_img, image.flip(dim))
    assert torch.equal(out["masks"], t["masks"].flip(dim))
    _assert_consistent(out_img, out)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rot90_boxes_are_exact_before_retightening(k):
    image, t = _sample(size=64)
    image = image[:, :, :48]  # non-square, so a wrong height/width swap would show
    masks = t["masks"][:, :, :48]
    keep = masks.flatten(1).any(1).bool()
    masks = masks[keep]
    boxes = tv_tensors.BoundingBoxes(masks_to_tight_boxes(masks), format="XYXY", canvas_size=(64, 48))
    rot = RandomRotation90(p=1.0)
    params = {"k": k, "size": (64, 48)}
    out_masks = rot.transform(tv_tensors.Mask(masks), params)
    out_boxes = rot.transform(boxes, params)
    assert torch.equal(out_masks.as_subclass(torch.Tensor), torch.rot90(masks, k, dims=(-2, -1)))
    assert torch.equal(
        out_boxes.as_subclass(torch.Tensor), masks_to_tight_boxes(out_masks.as_subclass(torch.Tensor))
    )
    assert tuple(out_boxes.canvas_size) == ((48, 64) if k % 2 else (64, 48))


def test_scale_jitter_keeps_size_and_removes_cropped_instances():
    torch.manual_seed(0)
    image, t = _sample(size=96)
    tf = DetectionTransforms([RandomScaleJitter((2.0, 2.0), p=1.0)], min_area=1)
    out_img, out = tf(image, t)
    assert out_img.shape == image.shape
    _assert_consistent(out_img, out)
    # Zooming in by 2 crops away part of the image: objects must be removed or lose pixels.
    assert out["masks"].shape[0] <= t["masks"].shape[0]
    zoom_out = DetectionTransforms([RandomScaleJitter((0.5, 0.5), p=1.0, fill=0.0)])
    small_img, small = zoom_out(image, t)
    assert small_img.shape == image.shape
    _assert_consistent(small_img, small)
    assert small["masks"].shape[0] == t["masks"].shape[0]
    # Areas shrink about fourfold (nearest-neighbour resize).
    ratio = small["area"].sum() / t["area"].sum()
    assert 0.15 < ratio < 0.35


def test_instances_cropped_away_are_dropped_with_their_labels():
    image = torch.rand(3, 40, 40)
    masks = torch.zeros(2, 40, 40, dtype=torch.uint8)
    masks[0, 2:4, 2:30] = 1  # near the top-left corner
    masks[1, 30:38, 30:32] = 1  # bottom-right corner
    t = {
        "boxes": masks_to_tight_boxes(masks),
        "labels": torch.tensor([1, 2]),
        "masks": masks,
        "image_id": 3,
        "area": masks.sum((1, 2)).float(),
        "iscrowd": torch.zeros(2, dtype=torch.int64),
    }

    def crop_top_left(img, target):
        return v2.functional.crop(img, 0, 0, 20, 20), {
            k: v2.functional.crop(v, 0, 0, 20, 20) if isinstance(v, tv_tensors.TVTensor) else v
            for k, v in target.items()
        }

    out_img, out = DetectionTransforms([crop_top_left])(image, t)
    assert out_img.shape == (3, 20, 20)
    assert out["labels"].tolist() == [1] and out["iscrowd"].tolist() == [0] and out["image_id"] == 3
    assert out["boxes"].tolist() == [[2.0, 2.0, 20.0, 4.0]]
    assert out["area"].tolist() == [36.0]


def test_train_transforms_keep_boxes_tight_over_many_samples():
    torch.manual_seed(1)
    ds = SyntheticElongatedDataset(
        24,
        image_size=80,
        seed=2,
        config=SyntheticConfig(labels="kind"),
        transforms=train_transforms(min_area=4),
    )
    total = 0
    for i in range(len(ds)):
        image, t = ds[i]
        assert image.shape == (3, 80, 80) and 0 <= image.min() and image.max() <= 1
        _assert_consistent(image, t)
        assert (t["area"] >= 4).all()
        total += len(t["boxes"])
    assert total > 40


def test_photometric_changes_only_the_image():
    image, t = _sample()
    tf = DetectionTransforms([v2.ColorJitter(brightness=(1.5, 1.5))])
    out_img, out = tf(image, t)
    assert not torch.equal(out_img, image)
    assert torch.equal(out["masks"], t["masks"]) and torch.equal(out["boxes"], t["boxes"])


def test_bad_transform_arguments():
    with pytest.raises(ValueError, match="scale_range"):
        RandomScaleJitter((0.0, 1.0))
    with pytest.raises(ValueError, match="p must"):
        RandomRotation90(p=1.5)
    with pytest.raises(TypeError, match=r"transforms\[0\]"):
        DetectionTransforms([3])
    with pytest.raises(ValueError, match="min_area"):
        DetectionTransforms([], min_area=0)


def test_build_dataloaders_batches_and_reproducible_shuffle():
    train = SyntheticElongatedDataset(10, image_size=32, seed=0)
    val = SyntheticElongatedDataset(5, image_size=32, seed=1)
    a = build_dataloaders(train, val, batch_size=4, seed=3)
    b = build_dataloaders(train, val, batch_size=4, seed=3)
    ids_a = [[t["image_id"] for t in targets] for _, targets in a.train]
    ids_b = [[t["image_id"] for t in targets] for _, targets in b.train]
    assert ids_a == ids_b and sorted(i for ids in ids_a for i in ids) == list(range(10))
    assert ids_a != [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [[t["image_id"] for t in tg] for _, tg in a.val] == [[0, 1, 2, 3], [4]]
    assert build_dataloaders(train, batch_size=2).val is None


def test_build_dataloaders_rejects_bad_input():
    ds = SyntheticElongatedDataset(4, image_size=32)
    with pytest.raises(ValueError, match="batch_size"):
        build_dataloaders(ds, batch_size=0)
    with pytest.raises(ValueError, match="empty"):
        build_dataloaders(SyntheticElongatedDataset(0))
    with pytest.raises(ValueError, match="init_process_group"):
        build_dataloaders(ds, distributed=True)


def test_build_dataloaders_distributed_sampler(monkeypatch):
    import torch.distributed as dist
    from torch.utils.data import DistributedSampler

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda *a, **k: 2)
    monkeypatch.setattr(dist, "get_rank", lambda *a, **k: 1)
    ds = SyntheticElongatedDataset(10, image_size=32)
    loaders = build_dataloaders(ds, ds, batch_size=2)
    assert isinstance(loaders.train_sampler, DistributedSampler)
    assert loaders.train_sampler.num_replicas == 2 and loaders.train_sampler.rank == 1
    assert sum(len(t) for _, t in loaders.train) == 5
    assert [t["image_id"] for _, tg in loaders.val for t in tg] == [1, 3, 5, 7, 9]


def test_random_illumination_adds_a_ramp_and_a_shift_to_the_image_only():
    from maskrcnn_custom.data import RandomIllumination

    image = torch.full((3, 32, 48), 0.5)
    masks = torch.zeros(1, 32, 48, dtype=torch.uint8)
    masks[0, 10:20, 5:40] = 1
    target = {"boxes": torch.tensor([[5.0, 10.0, 40.0, 20.0]]), "labels": torch.tensor([1]), "masks": masks}
    torch.manual_seed(0)
    out, t = DetectionTransforms([RandomIllumination(gradient=0.4, offset=0.0, p=1.0)])(image, dict(target))
    assert torch.equal(t["masks"], masks) and torch.equal(t["boxes"], target["boxes"])
    spread = float(out.max() - out.min())
    assert 0 < spread <= 0.4 + 1e-6 and float(out.mean()) == pytest.approx(0.5, abs=1e-4)  # a ramp around 0.5
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])  # the same light on every channel
    # a linear ramp: second differences along both axes vanish
    torch.testing.assert_close(out[0].diff(n=2, dim=1), torch.zeros(32, 46), rtol=0, atol=1e-5)
    torch.testing.assert_close(out[0].diff(n=2, dim=0), torch.zeros(30, 48), rtol=0, atol=1e-5)
    shifted, _ = DetectionTransforms([RandomIllumination(gradient=0.0, offset=0.3, p=1.0)])(
        image, dict(target)
    )
    assert (
        float(shifted.std()) < 1e-6
        and 0.2 <= float(shifted[0, 0, 0]) <= 0.8
        and float(shifted[0, 0, 0]) != 0.5
    )
    same, _ = DetectionTransforms([RandomIllumination(0.4, 0.3, p=0.0)])(image, dict(target))
    assert torch.equal(same, image)
    bright, _ = DetectionTransforms([RandomIllumination(1.0, 1.0, p=1.0)])(torch.ones(3, 8, 8), dict(target))
    assert float(bright.max()) <= 1.0 and float(bright.min()) >= 0.0  # clipped


@pytest.mark.parametrize(("kwargs", "name"), [({"gradient": 1.5}, "gradient"), ({"offset": -0.1}, "offset")])
def test_random_illumination_refuses_bad_strengths(kwargs, name):
    from maskrcnn_custom.data import RandomIllumination

    with pytest.raises(ValueError, match=rf"illumination {name} must be a number in \[0, 1\]"):
        RandomIllumination(**kwargs)


def test_train_transforms_adds_illumination_only_when_asked():
    from maskrcnn_custom.data import RandomIllumination

    assert not any(isinstance(s, RandomIllumination) for s in train_transforms().transforms)
    steps = train_transforms(illumination=0.3, illumination_offset=0.2, illumination_p=0.7).transforms
    [light] = [s for s in steps if isinstance(s, RandomIllumination)]
    assert (light.gradient, light.offset, light.p) == (0.3, 0.2, 0.7)
