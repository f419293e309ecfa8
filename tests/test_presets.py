"""Training presets: one name for the model, image size, augmentation and recipe, shared by fit, CLI and demo."""

import json
import math

import pytest
import torch

from maskrcnn_custom import (
    TrainingRecipe,
    build_preset_model,
    fit,
    get_preset,
    get_recipe,
    list_presets,
    list_recipes,
    maskrcnn_resnet101_fpn,
)
from maskrcnn_custom.cli import main
from maskrcnn_custom.data import DetectionTransforms, SyntheticElongatedDataset
from maskrcnn_custom.engine.optim import CosineFactor, make_lr_scheduler, make_optimizer
from maskrcnn_custom.presets import presets_table_markdown

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_presets_are_listed_and_unknown_names_are_refused():
    assert list_presets() == ["seed", "fast_cpu"]
    assert "fast_cpu" in list_recipes() and get_preset("fast_cpu").recipe == get_recipe("fast_cpu")
    with pytest.raises(ValueError, match=r"preset must be one of \['seed', 'fast_cpu'\], got 'fast'"):
        get_preset("fast")
    preset = get_preset("fast_cpu")
    assert get_preset(preset) is preset and hash(preset) == hash(get_preset("fast_cpu"))


def test_seed_preset_builds_the_seed_network():
    seed = build_preset_model("seed")
    assert seed.config == maskrcnn_resnet101_fpn(weights_backbone=None).config
    assert get_preset("seed").train_transforms() is None and get_preset("seed").recipe == get_recipe("seed")


def test_fast_cpu_preset_model_and_augmentation():
    preset = get_preset("fast_cpu")
    model = build_preset_model("fast_cpu", num_classes=3, class_names=("background", "a", "b"))
    cfg = model.config
    assert (cfg.backbone.name, cfg.backbone.out_channels, cfg.box_head.representation_size) == (
        "resnet18",
        128,
        256,
    )
    assert cfg.mask_head.conv_layers == (128, 128) and cfg.mask_head.resolution == 56
    assert cfg.mask_head.foreground_dim == 64 and type(model.roi_heads).__name__ == "ForegroundRoIHeads"
    assert (cfg.min_size, cfg.max_size, cfg.num_classes) == (256, 256, 3)
    assert model.roi_heads.fg_bg_sampler.batch_size_per_image == 64
    assert model.backbone.fpn.layer_blocks[0][0].out_channels == 128
    assert isinstance(preset.train_transforms(), DetectionTransforms)
    # the anchors scale with the image size (the seed's were chosen for 256 px)
    small = build_preset_model("fast_cpu", image_size=128, box_detections_per_img=7)
    assert small.config.anchors.sizes[0] == (16.0,) and small.config.min_size == 128
    assert small.roi_heads.detections_per_img == 7  # keyword overrides win over the preset's
    assert json.loads(json.dumps(preset.to_dict()))["model"]["mask_resolution"] == 56
    table = presets_table_markdown()
    assert "`fast_cpu`" in table and "`maskrcnn_resnet18_fpn`" in table and "cosine" in table


def test_fast_cpu_model_trains_and_predicts_at_its_image_size():
    model = build_preset_model(
        "fast_cpu", image_size=64, box_batch_size_per_image=16, box_detections_per_img=5
    )
    images, targets = zip(
        *(SyntheticElongatedDataset(2, image_size=64, seed=0)[i] for i in range(2)), strict=True
    )
    model.train()
    losses = model(list(images), list(targets))
    assert set(losses) >= {"loss_mask", "loss_classifier"} and all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        out = model([images[0]])[0]
    assert out["masks"].shape[-2:] == (64, 64)


def test_cosine_schedule_values_and_validation():
    assert [round(CosineFactor(4)(e), 4) for e in range(6)] == [1.0, 0.8536, 0.5, 0.1464, 0.0, 0.0]
    with pytest.raises(ValueError, match="lr_schedule must be one of 'step', 'cosine', got 'linear'"):
        TrainingRecipe(lr_schedule="linear")
    opt = make_optimizer("adamw", [torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched = make_lr_scheduler(opt, get_recipe("fast_cpu").replace(epochs=4))
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1e-3 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)])
    assert "lr_lambdas" in sched.state_dict()  # the factor is stored as data, so checkpoints hold it


def test_fit_follows_the_cosine_schedule(tmp_path):
    from helpers.models import TRAIN_OPTIONS, tiny_model

    model = tiny_model(**TRAIN_OPTIONS)
    result = fit(
        model,
        SyntheticElongatedDataset(4, image_size=64, seed=0),
        output_dir=tmp_path / "run",
        recipe="fast_cpu",
        epochs=3,
        iters_per_epoch=1,
        warmup_iters=0,
        progress=False,
        tensorboard=False,
        save_pretrained=False,
    )
    assert result.recipe.lr_schedule == "cosine"
    assert [r["lr"] for r in result.history] == pytest.approx([1e-3, 7.5e-4, 2.5e-4])
    with pytest.raises(ValueError, match="lr_schedule='cosine'"):  # the schedule is fixed on resume
        fit(model, SyntheticElongatedDataset(4, image_size=64, seed=0), output_dir=tmp_path / "run",
            recipe="fast_cpu", epochs=4, iters_per_epoch=1, lr_schedule="step", resume=True, progress=False,
            tensorboard=False, save_pretrained=False)  # fmt: skip


def test_cli_train_with_a_preset(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--preset", "fast_cpu", "--synthetic", "4", "--val-synthetic", "2", "--output", str(out),
               "--image-size", "64", "--epochs", "1", "--iters-per-epoch", "1", "--warmup-iters", "0", "--workers", "0",
               "--no-progress",
               "--model-kwargs", '{"box_detections_per_img": 5}', "--no-tensorboard", "--json"])  # fmt: skip
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    config = json.loads((out / "pretrained" / "config.json").read_text())
    assert config["backbone"]["out_channels"] == 128 and config["mask_head"]["resolution"] == 56
    assert config["min_size"] == 64 and config["detector_kwargs"]["box_detections_per_img"] == 5
    assert summary["last"]["lr"] == pytest.approx(1e-3)
    run_config = json.loads((out / "run_config.json").read_text())
    assert run_config["recipe"]["lr_schedule"] == "cosine" and run_config["config"]["preset"] == "fast_cpu"


def test_cli_train_refuses_a_preset_with_a_model(tmp_path, capsys):
    rc = main(["train", "--preset", "fast_cpu", "--model", "maskrcnn_resnet18_fpn", "--synthetic", "4",
               "--output", str(tmp_path / "run")])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert "--model maskrcnn_resnet18_fpn and --preset fast_cpu both choose the model" in err
    assert not (tmp_path / "run").exists()
