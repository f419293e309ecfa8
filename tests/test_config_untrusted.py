"""A ``config.json`` is untrusted: every field type- and range-checked, with caps, before anything is built."""

from __future__ import annotations

import json
import shutil
import time
import tracemalloc

import pytest

from helpers.hub import reseal, tiny_model
from maskrcnn_custom import from_pretrained, maskrcnn_resnet18_fpn, save_pretrained
from maskrcnn_custom.models.validation import CONFIG_LIMITS, MAX_HEAD_PARAMETERS
from maskrcnn_custom.weights.source import MAX_CONFIG_BYTES


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return save_pretrained(tiny_model(), tmp_path_factory.mktemp("saved") / "model")


def _with(saved, tmp_path, edit):
    folder = tmp_path / "edited"
    shutil.copytree(saved, folder)
    data = json.loads((folder / "config.json").read_text())
    edit(data)
    (folder / "config.json").write_text(json.dumps(data))
    return reseal(folder)  # a hostile publisher writes a matching checksums.json


def _set(path, value):
    def edit(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _load(saved, tmp_path, path, value):
    return from_pretrained(_with(saved, tmp_path, _set(path, value)))


def test_wrong_type_detector_setting_is_refused_naming_it(saved, tmp_path):
    with pytest.raises(ValueError, match=r"box_score_thresh= must be a finite number in \[0, 1\].*'high'"):
        _load(saved, tmp_path, ("detector_kwargs", "box_score_thresh"), "high")


def test_negative_detections_per_image_is_refused(saved, tmp_path):
    with pytest.raises(ValueError, match=r"box_detections_per_img= must be an int in \[1, 10000\], got -5"):
        _load(saved, tmp_path, ("detector_kwargs", "box_detections_per_img"), -5)


def test_huge_num_classes_is_refused_fast_without_allocating(saved, tmp_path):
    folder = _with(saved, tmp_path, _set(("num_classes",), 200_000))
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"num_classes must be an int.*10000.*got 200000"):
        from_pretrained(folder)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0, elapsed
    assert peak < 50 * 2**20, peak  # the tiny model's weights are never even read


CAPPED = [
    (("num_classes",), CONFIG_LIMITS["num_classes"] + 1, "10000"),
    (("backbone", "out_channels"), CONFIG_LIMITS["out_channels"] + 1, "1024"),
    (("box_head", "representation_size"), CONFIG_LIMITS["representation_size"] + 1, "8192"),
    (("mask_head", "hidden_dim"), CONFIG_LIMITS["mask_hidden_dim"] + 1, "4096"),
    (("mask_head", "conv_layers"), [64, 4096], "2048"),
    (("mask_head", "conv_layers"), [8] * 17, "16"),
    (("mask_head", "dilation"), 9, "8"),
    (("box_roi_pool", "output_size"), 65, "64"),
    (("mask_roi_pool", "output_size"), [14, 1000], "64"),
    (("mask_roi_pool", "sampling_ratio"), 17, "16"),
    (("min_size",), 5000, "4096"),
    (("min_size",), list(range(32, 32 + 33)), "32"),
    (("max_size",), 5000, "4096"),
    (("rpn_batch_size_per_image",), 16_385, "16384"),
    (("anchors", "sizes"), [[5000]] * 5, "4096"),
    (("anchors", "aspect_ratios"), [[1.0] * 65] * 5, "64"),
    (("detector_kwargs", "rpn_pre_nms_top_n_test"), 100_001, "100000"),
    (("detector_kwargs", "rpn_post_nms_top_n_train"), 100_001, "100000"),
    (("detector_kwargs", "box_batch_size_per_image"), 16_385, "16384"),
    (("detector_kwargs", "box_detections_per_img"), 10_001, "10000"),
    (("detector_kwargs", "size_divisible"), 257, "256"),
    (("detector_kwargs", "fixed_size"), [64, 5000], "4096"),
]


@pytest.mark.parametrize(("path", "value", "cap"), CAPPED, ids=lambda v: str(v)[:30])
def test_every_size_is_capped_and_the_message_names_the_cap(saved, tmp_path, path, value, cap):
    with pytest.raises(ValueError) as info:
        _load(saved, tmp_path, path, value)
    message = str(info.value)
    assert cap in message, message
    assert "config.json" in message


def test_the_heads_parameter_count_is_capped(saved, tmp_path):
    def edit(data):
        data["box_roi_pool"]["output_size"] = 64
        data["backbone"]["out_channels"] = 1024
        data["box_head"]["representation_size"] = 8192

    with pytest.raises(ValueError, match=f"above the cap {MAX_HEAD_PARAMETERS:,}"):
        from_pretrained(_with(saved, tmp_path, edit))


WRONG_TYPES = [
    (("num_classes",), "3", "num_classes"),
    (("num_classes",), True, "num_classes"),
    (("box_head", "representation_size"), 1.5, "representation_size"),
    (("mask_head", "hidden_dim"), None, "mask_hidden_dim"),
    (("backbone", "out_channels"), [64], "out_channels"),
    (("min_size",), [64, "x"], "min_size"),
    (("max_size",), "64", "max_size"),
    (("anchors", "sizes"), "big", "anchor_sizes"),
    (("box_roi_pool", "sampling_ratio"), 2.0, "sampling_ratio"),
    (("class_names",), "abc", "class_names"),
    (("class_names",), ["bg", "a", 3], "class_names"),
    (("detector_kwargs", "box_nms_thresh"), 1.5, "box_nms_thresh"),
    (("detector_kwargs", "rpn_nms_thresh"), None, "rpn_nms_thresh"),
    (("detector_kwargs", "rpn_score_thresh"), [0.1], "rpn_score_thresh"),
    (("detector_kwargs", "rpn_pre_nms_top_n_train"), 10.5, "rpn_pre_nms_top_n_train"),
    (("detector_kwargs", "image_std"), [0.2, 0.2, 0.0], "image_std"),
    (("detector_kwargs", "image_mean"), [0.5, 0.5, "x"], "image_mean"),
    (("detector_kwargs", "bbox_reg_weights"), [10, 10, 5], "bbox_reg_weights"),
    (("detector_kwargs", "fixed_size"), 64, "fixed_size"),
    (("detector_kwargs", "box_predictor"), "x", "box_predictor"),
    (("detector_kwargs", "not_a_setting"), 1, "not_a_setting"),
    (("detector_kwargs",), [1, 2], "detector_kwargs"),
    (("backbone",), "resnet18", "backbone"),
]


@pytest.mark.parametrize(("path", "value", "field"), WRONG_TYPES, ids=lambda v: str(v)[:30])
def test_wrong_types_are_refused_naming_the_field(saved, tmp_path, path, value, field):
    with pytest.raises(ValueError, match=field):
        _load(saved, tmp_path, path, value)


def test_iou_thresholds_must_be_ordered(saved, tmp_path):
    def edit(data):
        data["detector_kwargs"].update(box_fg_iou_thresh=0.3, box_bg_iou_thresh=0.6)

    with pytest.raises(ValueError, match=r"box_bg_iou_thresh=0\.6 must not exceed box_fg_iou_thresh=0\.3"):
        from_pretrained(_with(saved, tmp_path, edit))


def test_oversized_and_deeply_nested_files_are_refused(saved, tmp_path):
    big = _with(saved, tmp_path, lambda d: d.update(notes="x" * (MAX_CONFIG_BYTES + 1)))
    with pytest.raises(ValueError, match="more than the"):
        from_pretrained(big)
    deep = tmp_path / "deep"
    shutil.copytree(saved, deep)
    (deep / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    reseal(deep)
    with pytest.raises(ValueError, match="not valid JSON"):
        from_pretrained(deep)


def test_the_same_checks_guard_builder_arguments():
    with pytest.raises(ValueError, match=r"box_detections_per_img= must be an int in \[1, 10000\]"):
        maskrcnn_resnet18_fpn(weights_backbone=None, box_detections_per_img=-1)
    with pytest.raises(TypeError, match="box_score_thresh= must be a finite number"):
        maskrcnn_resnet18_fpn(weights_backbone=None, box_score_thresh="high")
    start = time.perf_counter()
    with pytest.raises(ValueError, match="num_classes"):
        maskrcnn_resnet18_fpn(weights_backbone=None, num_classes=200_000)
    assert time.perf_counter() - start < 1.0


def test_values_at_the_caps_pass_validation():
    from maskrcnn_custom import MaskRCNNConfig, validate_config

    validate_config(
        MaskRCNNConfig(
            num_classes=CONFIG_LIMITS["num_classes"],
            detector_kwargs={
                "box_detections_per_img": CONFIG_LIMITS["detections_per_img"],
                "box_score_thresh": 1,
            },
        )
    )
