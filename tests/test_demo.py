"""The end-to-end demo (``maskrcnn-custom demo``) in its fast mode, and its argument checks."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

import maskrcnn_custom.demo as demo_module
from maskrcnn_custom import from_pretrained, get_preset
from maskrcnn_custom.cli import main
from maskrcnn_custom.demo import HELDOUT_SEED, DemoSettings, demo_settings, run_demo


def test_demo_cli_fast_writes_model_pictures_curve_card_and_metrics(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--fast", "--no-progress"]) == 0
    printed = capsys.readouterr().out

    metrics = json.loads((out / "metrics.json").read_text())
    s = demo_settings(fast=True)
    preset = get_preset("fast_cpu")
    assert metrics["preset"] == json.loads(json.dumps(preset.to_dict())) and metrics["backbone"] == "resnet18"
    assert metrics["settings"]["image_size"] == s.image_size == 64
    for kind in ("bbox", "segm", "boundary"):
        assert set(metrics[kind]) >= {"AP", "AP50", "AP75"}
        assert all(0.0 <= v <= 1.0 or v == -1.0 for v in metrics[kind].values())
    skeleton = metrics["skeleton"]
    assert set(skeleton) >= {"clDice", "Tprec", "Tsens", "recall"}
    assert 0.0 <= skeleton["clDice"] <= 1.0 or (skeleton["clDice"] == -1.0 and skeleton["num_matched"] == 0)
    assert set(metrics["boundary"]) == set(metrics["segm"])  # the same 12 COCO numbers

    # Held-out validation: the other generator, its own seed, said so.
    assert metrics["validation"]["generator"] == "heldout" and metrics["validation"]["held_out"] is True
    assert metrics["validation"]["seed"] == HELDOUT_SEED and metrics["validation"]["images"] == s.num_val
    assert "generalisation" in metrics["validation"]["note"]
    # The expected time was announced (timed here: the fast settings are not the preset's own).
    assert metrics["expected_time"]["line"].startswith("expected about ")
    assert "on this machine" in metrics["expected_time"]["line"] and metrics["expected_time"]["seconds"] > 0

    # The printed table: held-out AP, AP50, clDice, detections vs objects, seconds.
    assert "held-out evaluation: 4 images of the 'heldout' synthetic generator" in printed
    for row in ("segm (mask) AP", "bbox AP", "boundary AP", "clDice", "objects per image", "seconds"):
        assert row in printed, row
    assert f"{metrics['segm']['AP']:>8.3f}{metrics['segm']['AP50']:>8.3f}" in printed
    assert f"{metrics['objects_per_image']:>8.2f}" in printed
    assert metrics["detections_per_image"] >= 0 and metrics["objects_per_image"] > 0
    assert len(metrics["train_loss_per_epoch"]) == s.epochs
    assert all(torch.isfinite(torch.tensor(metrics["train_loss_per_epoch"])))
    assert metrics["seconds"]["total"] >= metrics["seconds"]["train"] > 0

    # The saved folder loads, is the preset's model, and its card has the held-out table and the preset.
    model = from_pretrained(out / metrics["pretrained_dir"])
    assert model.config.backbone.name == "resnet18" and model.config.mask_head.resolution == 56
    assert model.config.class_names == ("background", "object")
    assert not model.training
    card = (out / metrics["pretrained_dir"] / "README.md").read_text()
    assert f"| segm_AP | {metrics['segm']['AP']:.4f} |" in card
    assert f"| bbox_AP50 | {metrics['bbox']['AP50']:.4f} |" in card
    assert "held-out images" in card and "`fast_cpu` training preset" in card
    assert "trades the seed network's defaults" in card and "maskrcnn_resnet101_fpn()" in card
    assert "| lr_schedule | `cosine` |" in card  # the preset's full recipe

    # Pictures: ground truth | prediction panels of at least 512 px, one per requested image.
    assert len(metrics["overlays"]) == s.num_overlays
    for entry in metrics["overlays"]:
        with Image.open(out / entry["path"]) as im:
            assert im.mode == "RGB" and im.size[0] >= 2 * 512 and im.size[1] >= 512
        assert entry["objects"] >= 0 and entry["detections"] >= 0
    # Learning curve: loss and AP against iterations.
    curve = metrics["learning_curve"]
    with Image.open(out / curve["path"]) as im:
        assert im.size[0] >= 800 and im.size[1] >= 600
    assert [p[0] for p in curve["loss"]] == [(e + 0.5) * s.iters_per_epoch for e in range(s.epochs)]
    assert curve["segm_AP_final"] == [[s.epochs * s.iters_per_epoch, round(metrics["segm"]["AP"], 5)]]
    assert len(curve["bbox_AP_subset"]) == s.epochs and curve["curve_images"] == s.num_curve_val
    assert (out / "training" / "checkpoint_last.pt").is_file()


def test_demo_overwrite_replaces_a_previous_run(tmp_path):
    out = tmp_path / "demo"
    (out / "training").mkdir(parents=True)
    (out / "training" / "checkpoint_last.pt").write_bytes(b"a previous run")
    assert main(["demo", "--out", str(out), "--fast", "--no-progress"]) == 2  # refused without the switch
    assert (out / "training" / "checkpoint_last.pt").read_bytes() == b"a previous run"
    assert main(["demo", "--out", str(out), "--fast", "--no-progress", "--overwrite"]) == 0
    assert (out / "training" / "checkpoint_last.pt").read_bytes() != b"a previous run"
    assert len(list((out / "overlays").glob("val_*.png"))) == demo_settings(fast=True).num_overlays


def test_settings_derive_from_the_preset():
    preset = get_preset("fast_cpu")
    s = demo_settings()
    assert s == DemoSettings() and s.preset == "fast_cpu"
    assert s.image_size == preset.image_size and s.recipe == preset.recipe
    assert s.box_batch_size_per_image == preset.model["box_batch_size_per_image"]
    assert s.max_detections == preset.model["box_detections_per_img"]
    assert s.eval_every * s.curve_points >= s.epochs and s.num_curve_val < s.num_val == 50
    seed = demo_settings(preset="seed")
    assert seed.recipe == get_preset("seed").recipe and seed.image_size == get_preset("seed").image_size
    assert demo_settings(epochs=3).recipe == preset.recipe.replace(epochs=3)


def test_expected_time_comes_from_the_preset_when_measured(monkeypatch):
    import dataclasses

    from maskrcnn_custom import presets

    measured = dataclasses.replace(
        get_preset("fast_cpu"), expected={"demo_seconds": 780, "machine": "2-core CPU"}
    )
    monkeypatch.setitem(presets._PRESETS, "fast_cpu", measured)
    # The preset's own settings: no model is timed (None would fail if it were).
    expected = demo_module._expected_time(None, None, demo_settings(), device=None)
    assert expected["seconds"] == 780 and expected["line"].startswith("expected about 13 min")
    assert "2-core CPU" in expected["line"]


def test_demo_refuses_a_non_empty_folder_before_any_work(tmp_path):
    (tmp_path / "old.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="overwrite"):
        run_demo(tmp_path, fast=True, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"backbone": "vgg16"}, ValueError, "backbone must be one of"),
        ({"backbone": "resnet101"}, ValueError, "preset='seed'"),
        ({"preset": "fastest"}, ValueError, r"preset must be one of \['seed', 'fast_cpu'"),
        (
            {"preset": "seed", "settings": demo_settings(fast=True)},
            ValueError,
            "demo_settings\\(preset='seed'\\)",
        ),
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
        ({"preset": "fastest"}, "preset must be one of"),
        ({"num_curve_val": 60}, "num_curve_val"),
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
    assert seen["device"] is None and seen["backbone"] is None and seen["progress"] is True
    assert seen["preset"] == "fast_cpu"
    assert main(["demo", "--out", str(tmp_path), "--preset", "seed", "--epochs", "2"]) == 2
    assert seen["settings"] == demo_settings(preset="seed", epochs=2) and seen["preset"] == "seed"
    assert main(["demo", "--out", str(tmp_path), "--backbone", "resnet101"]) == 2
    assert seen["backbone"] == "resnet101"
