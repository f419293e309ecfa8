import builtins
import sys

import numpy as np
import pytest
import torch

from maskrcnn_custom._utils.checks import (
    check_fraction,
    check_int,
    check_non_negative_int,
    check_number,
    check_optional_positive_int,
    check_positive_int,
)
from maskrcnn_custom._utils.hashing import sha256_file
from maskrcnn_custom._utils.optional import require
from maskrcnn_custom._utils.progress import progress_bar
from maskrcnn_custom._utils.repo_id import is_repo_id, split_repo_id
from maskrcnn_custom._utils.state_dict import compare_state_dicts


def test_int_checks_name_the_parameter_and_the_fix():
    assert check_positive_int(3, "batch_size") == 3
    assert check_non_negative_int(np.int64(0), "seed") == 0
    assert check_optional_positive_int(None, "max_detections") is None
    with pytest.raises(ValueError, match=r"^batch_size must be an int >= 1, got 0$"):
        check_positive_int(0, "batch_size")
    with pytest.raises(ValueError, match=r"^epochs must be an int >= 1, got True$"):
        check_positive_int(True, "epochs")
    with pytest.raises(ValueError, match=r"^k must be None or an int in \[0, 5\], got 6; 5 trains all$"):
        check_int(6, "k", minimum=0, maximum=5, allow_none=True, hint="5 trains all")
    with pytest.raises(ValueError, match=r"must be an int >= 1 or|must be None or an int >= 1, got 2.5"):
        check_optional_positive_int(2.5, "num_threads")


def test_number_checks_raise_type_and_value_errors():
    assert check_number(1, "lr", minimum=0, min_inclusive=False) == 1.0
    assert check_fraction(0.0, "score_threshold") == 0.0
    with pytest.raises(
        ValueError, match=r"score_threshold must be in \[0, 1\), got 1.0; 0.5 is a good default"
    ):
        check_fraction(1.0, "score_threshold")
    with pytest.raises(TypeError, match=r"lr must be a finite number > 0, got nan"):
        check_number(float("nan"), "lr", minimum=0, min_inclusive=False)
    with pytest.raises(ValueError, match=r"lr must be > 0, got 0"):
        check_number(0, "lr", minimum=0, min_inclusive=False)
    with pytest.raises(TypeError, match=r"got '0\.5'"):
        check_fraction("0.5", "mask_threshold")


def test_sha256_file(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc" * 1_000_000)
    import hashlib

    assert sha256_file(path) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()


def test_state_dict_report_lists_every_kind_of_difference():
    target = {"a": torch.zeros(3), "b": torch.zeros(2), "c": torch.zeros(1)}
    state = {"a": torch.zeros(4), "b": torch.zeros(2), "d": torch.zeros(1)}
    report = compare_state_dicts(state, target)
    assert not report.ok
    assert report.missing == ("c",) and report.unexpected == ("d",)
    assert report.shapes == ("a: file (4,) vs model (3,)",)
    assert report.describe(limit=1) == (
        "missing keys ['c'] (1), unexpected keys ['d'] (1), shape mismatches ['a: file (4,) vs model (3,)'] (1)"
    )
    assert compare_state_dicts({"b": torch.zeros(2)}, target, ignore_missing={"a", "c"}).ok
    many = compare_state_dicts({}, {f"k{i}": torch.zeros(1) for i in range(12)})
    assert "'k7'] ... (12)" in many.describe(limit=10)


def test_progress_bar_without_tqdm_is_a_silent_stand_in(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError("no tqdm")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "tqdm.auto", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    with progress_bar(total=3, desc="x", enabled=True) as bar:
        bar.update(1)
        bar.set_postfix(loss=1.0)
    assert list(progress_bar([1, 2, 3], desc="x")) == [1, 2, 3]
    assert capsys.readouterr().err == ""


def test_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(
        ImportError,
        match=r'^ONNX export needs onnx, which is not installed; install it with pip install "maskrcnn-custom\[onnx\]"$',
    ):
        require("onnx", extra="onnx", purpose="ONNX export")
    assert require("json", extra="coco", purpose="x").dumps([1]) == "[1]"


def test_repo_ids():
    assert is_repo_id("timm/resnet18.tv_in1k") and is_repo_id("org/name@refs/pr/1")
    assert (
        not is_repo_id("org/name@v1", allow_revision=False) and not is_repo_id("name") and not is_repo_id(3)
    )
    assert split_repo_id("org/name@abc") == ("org/name", "abc")
    with pytest.raises(ValueError, match="'org/name@revision'"):
        split_repo_id("not a repo")
