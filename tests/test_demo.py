"""The end-to-end demo (``maskrcnn-custom demo``) in its fast mode, and its argument checks."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from maskrcnn_custom import from_pretrained
from maskrcnn_custom.cli import main
from maskrcnn_custom.demo import DemoSettings, demo_settings, run_demo


def test_demo_cli_fast_writes_model_overlays_and_metrics(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--fast", "--no-progress"]) == 0
    printed = capsys.readouterr().out

    metrics = json.loads((out / "metrics.json").read_text())
    s = demo_settings(fast=True)
    assert metrics["backbone"] == "resnet18" and metrics["settings"]["image_size"] == s.image_size
    for kind in ("bbox", "segm", "boundary"):
        assert set(metrics[kind]) >= {"AP", "AP50", "AP75"}
        assert all(0.0 <= v <= 1.0 or v == -1.0 for v in metrics[kind].values())
    skeleton = metrics["skeleton"]
    assert set(skeleton) >= {"clDice", "Tprec", "Tsens", "recall"}
    assert 0.0 <= skeleton["clDice"] <= 1.0 or (skeleton["clDice"] == -1.0 and skeleton["num_matched"] == 0)
    assert set(metrics["boundary"]) == set(metrics["segm"])  # the same 12 COCO numbers
    assert f"segm AP {metrics['segm']['AP']:.3f}" in printed
    assert f"boundary AP {metrics['boundary']['AP']:.3f}" in printed
    assert f"clDice {skeleton['clDice']:.3f}" in printed
    assert len(metrics["train_loss_per_epoch"]) == s.epochs
    assert all(torch.isfinite(torch.tensor(metrics["train_loss_per_epoch"])))
    assert metrics["seconds"]["total"] >= metrics["seconds"]["train"] > 0

    # The saved folder loads and is the model the demo describes.
    model = from_pretrained(out / metrics["pretrained_dir"])
    assert model.config.backbone.name == "resnet18"
    assert model.config.class_names == ("background", "object")
    assert not model.training

    # One overlay per requested image: ground truth | 4 px gap | prediction, at the images' size.
    assert len(metrics["overlays"]) == s.num_overlays
    for entry in metrics["overlays"]:
        with Image.open(out / entry["path"]) as im:
            assert im.size == (2 * s.image_size + 4, s.image_size) and im.mode == "RGB"
        assert entry["objects"] >= 0 and entry["detections"] >= 0
    assert (out / "training" / "checkpoint_last.pt").is_file()

    # --overwrite replaces the previous demo, its training run included.
    first = (out / "training" / "checkpoint_last.pt").stat().st_mtime_ns
    assert main(["demo", "--out", str(out), "--fast", "--no-progress"]) == 2  # refused without the switch
    assert main(["demo", "--out", str(out), "--fast", "--no-progress", "--overwrite"]) == 0
    assert (out / "training" / "checkpoint_last.pt").stat().st_mtime_ns > first


def test_demo_refuses_a_non_empty_folder_before_any_work(tmp_path):
    (tmp_path / "old.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="overwrite"):
        run_demo(tmp_path, fast=True, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"backbone": "vgg16"}, ValueError, "backbone must be one of"),
        ({"seed": -1}, ValueError, "seed"),
        ({"settings": {"epochs": 1}}, TypeError, "DemoSettings"),
    ],
)
def test_demo_bad_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        run_demo(tmp_path / "out", progress=False, **kwargs)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"image_size": 100}, "multiple of 32"),
        ({"epochs": 0}, "epochs"),
        ({"lr": 2.0}, "lr"),
        ({"optimizer": "adam"}, "optimizer"),
        ({"num_overlays": 9, "num_val": 4}, "num_overlays"),
        ({"colour": "red"}, "unknown demo setting"),
    ],
)
def test_demo_settings_are_checked(overrides, match):
    with pytest.raises(ValueError, match=match):
        demo_settings(**overrides)


def test_fast_settings_are_smaller_than_the_defaults():
    fast, full = demo_settings(fast=True), DemoSettings()
    assert fast.image_size < full.image_size
    assert (
        fast.epochs * fast.iters_per_epoch * fast.batch_size
        < full.epochs * full.iters_per_epoch * full.batch_size
    )


def test_cli_flags_override_only_what_is_given(monkeypatch, tmp_path):
    import maskrcnn_custom.demo as demo_module

    seen = {}

    def fake_run_demo(out, **kwargs):
        seen.update(kwargs, out=out)
        raise ValueError("stop here")

    monkeypatch.setattr(demo_module, "run_demo", fake_run_demo)
    assert main(["demo", "--out", str(tmp_path), "--fast", "--iters", "7"]) == 2
    assert seen["settings"] == demo_settings(fast=True, iters_per_epoch=7)
    assert seen["device"] is None and seen["backbone"] == "resnet18" and seen["progress"] is True
    assert main(["demo", "--out", str(tmp_path), "--backbone", "resnet101", "--epochs", "2"]) == 2
    assert seen["settings"] == demo_settings(epochs=2) and seen["backbone"] == "resnet101"
