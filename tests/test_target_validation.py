"""Wrong samples are refused before the forward, naming the sample, the field and the fix."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from helpers.models import TRAIN_OPTIONS, tiny_model
from helpers.rods import TinyRods
from maskrcnn_custom import evaluate, train_one_epoch
from maskrcnn_custom.data import CocoDataset, encode_rle, validate_dataset, validate_sample

pytestmark = pytest.mark.usefixtures("one_torch_thread")

S = 32


class CountingDetector(nn.Module):
    """A stand-in detection model with a 3-class box predictor that counts its forward calls."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0))
        self.roi_heads = nn.Module()
        self.roi_heads.box_predictor = nn.Module()
        self.roi_heads.box_predictor.cls_score = nn.Linear(4, 3)  # num_classes = 3
        self.calls = 0

    def forward(self, images, targets=None):
        self.calls += 1
        if self.training:
            return {"loss": self.w**2}
        return [
            {
                "boxes": torch.zeros(0, 4),
                "labels": torch.zeros(0, dtype=torch.int64),
                "scores": torch.zeros(0),
                "masks": torch.zeros(0, 1, *img.shape[-2:]),
            }
            for img in images
        ]


def _good():
    mask = torch.zeros(1, S, S, dtype=torch.uint8)
    mask[0, 4:8, 2:30] = 1
    target = {
        "boxes": torch.tensor([[2.0, 4.0, 30.0, 8.0]]),
        "labels": torch.tensor([1]),
        "masks": mask,
        "image_id": 0,
    }
    return torch.rand(3, S, S), target


def _set(key, fn):
    def edit(image, target):
        if key == "image":
            return fn(image), target
        target = dict(target)
        target[key] = fn(target[key])
        return image, target

    return edit


# (case id, edit of a good sample, regex the message must match: it names the field and the fix)
CASES = [
    (
        "mask_size",
        _set("masks", lambda m: torch.zeros(1, S, S + 8, dtype=torch.uint8)),
        r"target\['masks'\] are 40x32 .* image is 32x32; resize masks and image together",
    ),
    (
        "three_masks_one_box",
        _set("masks", lambda m: m.expand(3, -1, -1).clone()),
        r"target\['masks'\] holds 3 masks but there are 1 boxes and 1 labels",
    ),
    (
        "two_labels_one_box",
        _set("labels", lambda lab: torch.tensor([1, 1])),
        r"target\['labels'\] has shape \(2,\) but there are 1 boxes",
    ),
    (
        "mask_2d",
        _set("masks", lambda m: m[0]),
        r"target\['masks'\] is 2-D \(32, 32\); masks must be \(N, H, W\).*unsqueeze\(0\)",
    ),
    (
        "label_zero",
        _set("labels", lambda lab: torch.tensor([0])),
        r"target\['labels'\] holds 0; labels start at 1 \(0 is the background\)",
    ),
    (
        "label_too_large",
        _set("labels", lambda lab: torch.tensor([5])),
        r"target\['labels'\] holds 5 but the model has num_classes=3 .* num_classes >= 6",
    ),
    (
        "x2_before_x1",
        _set("boxes", lambda b: torch.tensor([[30.0, 4.0, 2.0, 8.0]])),
        r"target\['boxes'\]\[0\] = \[30.0, 4.0, 2.0, 8.0\] has x2 <= x1 or y2 <= y1",
    ),
    (
        "y2_equals_y1",
        _set("boxes", lambda b: torch.tensor([[2.0, 4.0, 30.0, 4.0]])),
        r"target\['boxes'\]\[0\] .* has x2 <= x1 or y2 <= y1",
    ),
    (
        "box_nan",
        _set("boxes", lambda b: torch.tensor([[2.0, float("nan"), 30.0, 8.0]])),
        r"target\['boxes'\] contains NaN",
    ),
    (
        "box_inf",
        _set("boxes", lambda b: torch.tensor([[2.0, 4.0, float("inf"), 8.0]])),
        r"target\['boxes'\] contains infinite values",
    ),
    (
        "image_0_255",
        _set("image", lambda im: im * 255),
        r"the image has values up to .*0-255 data: divide it by 255",
    ),
    (
        "image_nan",
        _set("image", lambda im: im.index_put_((torch.tensor(0),) * 3, torch.tensor(float("nan")))),
        r"the image contains NaN",
    ),
    (
        "image_inf",
        _set("image", lambda im: im.index_put_((torch.tensor(0),) * 3, torch.tensor(float("inf")))),
        r"the image contains infinite values",
    ),
    (
        "image_uint8",
        _set("image", lambda im: (im * 255).to(torch.uint8)),
        r"the image has dtype torch.uint8; expected a float tensor in \[0, 1\]",
    ),
    (
        "image_one_channel",
        _set("image", lambda im: im[:1]),
        r"the image must have shape \(3, H, W\), got \(1, 32, 32\)",
    ),
    (
        "labels_int32",
        _set("labels", lambda lab: lab.to(torch.int32)),
        r"target\['labels'\] has dtype torch.int32; expected int64",
    ),
    (
        "boxes_int",
        _set("boxes", lambda b: b.long()),
        r"target\['boxes'\] has dtype torch.int64; expected float32",
    ),
    (
        "masks_float",
        _set("masks", lambda m: m.float()),
        r"target\['masks'\] has dtype torch.float32; expected uint8 or bool",
    ),
    ("boxes_1d", _set("boxes", lambda b: b[0]), r"target\['boxes'\] must have shape \(N, 4\)"),
]


@pytest.mark.parametrize(("edit", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_train_one_epoch_refuses_the_batch_before_the_forward(edit, pattern):
    good_image, good_target = _good()
    image, target = edit(good_image.clone(), good_target)
    model = CountingDetector()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = [([good_image], [good_target]), ([good_image, image], [good_target, target])]
    with pytest.raises(ValueError, match=r"batch 1, item 1 \(image_id 0\): " + pattern) as info:
        train_one_epoch(model, opt, loader, "cpu", 0, progress=False)
    assert model.calls == 1  # the good first batch ran; the bad one never reached the model
    assert "learning rate" not in str(info.value)


@pytest.mark.parametrize(("edit", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_evaluate_refuses_the_batch_before_the_forward(edit, pattern):
    image, target = edit(*_good())
    model = CountingDetector()
    with pytest.raises(ValueError, match=r"batch 0, item 0 \(image_id 0\): " + pattern):
        evaluate(model, [([image], [target])], "cpu", progress=False)
    assert model.calls == 0


@pytest.mark.parametrize(("edit", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validate_sample_names_the_index_and_field(edit, pattern):
    image, target = edit(*_good())
    target.pop("image_id")
    with pytest.raises(ValueError, match=r"^sample 7: " + pattern):
        validate_sample(image, target, index=7, num_classes=3)


def test_a_good_sample_and_an_empty_one_pass():
    validate_sample(*_good(), index=0, num_classes=2)
    empty = {
        "boxes": torch.zeros(0, 4),
        "labels": torch.zeros(0, dtype=torch.int64),
        "masks": torch.zeros(0, S, S, dtype=torch.uint8),
    }
    validate_sample(torch.rand(3, S, S), empty, index=0, num_classes=2)


def test_float_rounding_just_outside_0_1_passes_but_real_overflow_is_refused():
    image, target = _good()
    image = image.clamp(0, 1)
    image[0, 0, 0], image[0, 0, 1] = 1.0000001, -1e-7  # what a colour jitter leaves
    validate_sample(image, target, index=0, num_classes=2)
    image[0, 0, 0] = 1.01
    with pytest.raises(ValueError, match=r"values up to 1\.01; expected \[0, 1\]"):
        validate_sample(image, target, index=0, num_classes=2)
    image[0, 0, 0], image[0, 0, 1] = 1.0, -0.01
    with pytest.raises(ValueError, match=r"values down to -0\.01; expected \[0, 1\]"):
        validate_sample(image, target, index=0, num_classes=2)


def test_real_model_nan_image_is_named_not_blamed_on_the_learning_rate():
    ds = TinyRods(n=1, size=64)
    image, target = ds[0]
    image[0, 5, 5] = float("nan")
    model = tiny_model(**TRAIN_OPTIONS)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    with pytest.raises(ValueError, match=r"batch 0, item 0 \(image_id 0\): the image contains NaN") as info:
        train_one_epoch(model, opt, [([image], [target])], "cpu", 0, progress=False)
    assert "learning rate" not in str(info.value)


def test_real_model_label_out_of_range_names_num_classes():
    image, target = TinyRods(n=1, size=64)[0]
    target["labels"] = torch.full_like(target["labels"], 5)
    model = tiny_model(**TRAIN_OPTIONS)  # num_classes=2
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    with pytest.raises(ValueError, match=r"labels'\] holds 5 but the model has num_classes=2"):
        train_one_epoch(model, opt, [([image], [target])], "cpu", 0, progress=False)


class _ListDataset:
    def __init__(self, samples, num_classes=3):
        self.samples, self.num_classes = samples, num_classes

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


def test_validate_dataset_checks_the_first_samples_and_names_the_index():
    good = [_good() for _ in range(3)]
    bad_image, bad_target = _set("labels", lambda lab: torch.tensor([9]))(*_good())
    bad_target.pop("image_id")
    ds = _ListDataset([*good, (bad_image, bad_target)])
    assert validate_dataset(ds, max_samples=3) == 3  # the bad sample 3 is not read
    with pytest.raises(
        ValueError, match=r"^sample 3: target\['labels'\] holds 9 but the model has num_classes=3"
    ):
        validate_dataset(ds, max_samples=None)
    assert validate_dataset(ds, max_samples=None, num_classes=10) == 4
    no_masks = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
    with pytest.raises(ValueError, match=r"^sample 0: target has no 'masks'"):
        validate_dataset(_ListDataset([(torch.rand(3, S, S), no_masks)]))
    with pytest.raises(ValueError, match="max_samples must be"):
        validate_dataset(ds, max_samples=-1)


# -- CocoDataset: RLE and polygon checks ---------------------------------------------------------------


def _coco(tmp_path, segmentation):
    (tmp_path / "images").mkdir(exist_ok=True)
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    data = {
        "images": [{"id": 1, "file_name": "a.png", "height": 20, "width": 30}],
        "categories": [{"id": 1, "name": "rod"}],
        "annotations": [{"id": 42, "image_id": 1, "category_id": 1, "segmentation": segmentation}],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    return tmp_path


def _mask(h, w):
    m = np.zeros((1, h, w), np.uint8)
    m[0, 2:5, 2:8] = 1
    return m


def test_compressed_rle_encoded_for_another_size_is_refused(tmp_path):
    rle = encode_rle(_mask(10, 10))[0]
    rle["size"] = [20, 30]  # claims the image's size, but its runs cover 10 x 10 pixels
    with pytest.raises(ValueError, match=r"annotation id 42: compressed RLE 'counts' cover 100 pixels.*600"):
        CocoDataset.from_dir(_coco(tmp_path, rle))


def test_compressed_rle_whose_size_differs_from_the_image_is_refused_at_creation(tmp_path):
    rle = encode_rle(_mask(10, 10))[0]  # size [10, 10], image 20 x 30
    with pytest.raises(
        ValueError, match=r"annotation id 42 .*RLE size \[10, 10\] does not match .*\[20, 30\]"
    ):
        CocoDataset.from_dir(_coco(tmp_path, rle))


def test_compressed_rle_of_the_right_size_still_decodes(tmp_path):
    mask = _mask(20, 30)
    ds = CocoDataset.from_dir(_coco(tmp_path, encode_rle(mask)[0]))
    assert torch.equal(ds[0][1]["masks"], torch.from_numpy(mask))


def test_empty_polygon_list_is_refused_naming_the_annotation(tmp_path):
    with pytest.raises(
        ValueError, match=r"annotation id 42 has an empty polygon list.*remove the annotation"
    ):
        CocoDataset.from_dir(_coco(tmp_path, []))
