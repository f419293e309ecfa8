"""One rule for outputs: a call that would replace existing user files refuses, naming the path and the switch."""

import json

import pytest
import torch

from helpers.killed_fit_script import FIT_KWARGS, dataset
from helpers.models import train_model
from maskrcnn_custom import Prediction, fit
from maskrcnn_custom.cli import main
from maskrcnn_custom.data import SyntheticElongatedDataset, export_coco
from maskrcnn_custom.engine import load_checkpoint
from maskrcnn_custom.inference import save_coco_results, save_instance_masks, save_label_image, save_overlay

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _previous_run(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(f"previous {name}".encode())
    return _snapshot(folder)


# --- fit and `train` ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [("checkpoint_last.pt",), ("metrics.csv", "metrics.jsonl"), ("run_config.json",), ("pretrained/x",)],
)
def test_fit_refuses_a_folder_holding_a_previous_run_before_training(tmp_path, names):
    out = tmp_path / "run"
    (out / "pretrained").mkdir(parents=True)
    before = _previous_run(out, *names)
    if "pretrained/x" not in names:
        (out / "pretrained").rmdir()
    with pytest.raises(FileExistsError) as info:
        fit(train_model(), dataset(), output_dir=out, **FIT_KWARGS)
    message = str(info.value)
    assert str(out) in message and "resume=True" in message and "overwrite=True" in message
    assert "--resume" in message and "--overwrite" in message
    assert _snapshot(out) == before


def test_fit_into_an_empty_or_unrelated_folder_is_fine(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    torch.manual_seed(0)
    result = fit(train_model(), dataset(), output_dir=out, **{**FIT_KWARGS, "epochs": 1})
    assert result.last_checkpoint.is_file() and (out / "notes.txt").read_text() == "mine"


def test_fit_overwrite_starts_over_and_removes_only_the_previous_runs_files(tmp_path):
    out = tmp_path / "run"
    _previous_run(out, "checkpoint_last.pt", "checkpoint_best.pt", "metrics.csv", "notes.txt")
    (out / "pretrained").mkdir()
    (out / "pretrained" / "model.safetensors").write_bytes(b"old")
    torch.manual_seed(0)
    result = fit(train_model(), dataset(), output_dir=out, overwrite=True, **{**FIT_KWARGS, "epochs": 1})
    assert load_checkpoint(out / "checkpoint_last.pt")["epoch"] == 1
    assert result.best_checkpoint is None and not (out / "checkpoint_best.pt").exists()  # the old one is gone
    assert "epoch" in (out / "metrics.csv").read_text()
    assert not (out / "pretrained").exists()  # save_pretrained=False here: the old model is not left behind
    assert (out / "notes.txt").read_bytes() == b"previous notes.txt"


def test_fit_resume_and_overwrite_together_and_a_resume_with_nothing_to_resume(tmp_path):
    out = tmp_path / "run"
    before = _previous_run(out, "checkpoint_best.pt")
    with pytest.raises(ValueError, match=r"resume=True.*overwrite=True.*only one"):
        fit(train_model(), dataset(), output_dir=out, resume=True, overwrite=True, **FIT_KWARGS)
    with pytest.raises(
        FileExistsError, match=r"checkpoint_best\.pt but no checkpoint_last\.pt.*overwrite=True"
    ):
        fit(train_model(), dataset(), output_dir=out, resume=True, **FIT_KWARGS)
    with pytest.raises(TypeError, match="overwrite must be True or False"):
        fit(train_model(), dataset(), output_dir=tmp_path / "new", overwrite="yes", **FIT_KWARGS)
    assert _snapshot(out) == before and not (tmp_path / "new").exists()


def test_fit_resuming_another_runs_checkpoint_into_a_used_folder_is_refused(tmp_path):
    torch.manual_seed(0)
    fit(train_model(), dataset(), output_dir=tmp_path / "a", **{**FIT_KWARGS, "epochs": 1})
    before = _previous_run(tmp_path / "b", "metrics.csv")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        fit(train_model(), dataset(), output_dir=tmp_path / "b", resume=tmp_path / "a", **FIT_KWARGS)
    assert _snapshot(tmp_path / "b") == before


def test_cli_train_refuses_a_previous_run_before_building_anything(tmp_path, capsys):
    out = tmp_path / "run"
    before = _previous_run(out, "checkpoint_last.pt", "metrics.jsonl")
    argv = ["train", "--synthetic", "2", "--output", str(out), "--model", "maskrcnn_resnet18_fpn",
            "--weights-backbone", "none", "--epochs", "1", "--iters-per-epoch", "1", "--no-progress"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--resume" in err and "--overwrite" in err
    assert _snapshot(out) == before
    assert main([*argv, "--resume", "--overwrite"]) == 2
    assert "only one" in capsys.readouterr().err


# --- export_coco and `synth` -------------------------------------------------------------------------------


def test_export_coco_refuses_to_replace_images_without_annotations(tmp_path):
    out = tmp_path / "ds"
    (out / "images").mkdir(parents=True)
    (out / "images" / "000001.png").write_bytes(b"my image")
    (out / "images" / "other.png").write_bytes(b"kept")
    data = SyntheticElongatedDataset(3, image_size=64, seed=0)
    with pytest.raises(FileExistsError, match=r"000001\.png.*overwrite=True"):
        export_coco(data, out)
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000001.png", "other.png"]
    assert (out / "images" / "000001.png").read_bytes() == b"my image"
    assert not (out / "annotations.json").exists()
    # images of other names do not stand in the way; overwrite=True replaces the same names
    assert export_coco(data, out, num_images=1).is_file()
    with pytest.raises(FileExistsError, match=r"annotations\.json"):
        export_coco(data, out, num_images=1)
    export_coco(data, out, overwrite=True)
    assert (out / "images" / "000001.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "images" / "other.png").read_bytes() == b"kept"
    assert len(json.loads((out / "annotations.json").read_text())["images"]) == 3


def test_cli_synth_refuses_an_images_folder_before_generating(tmp_path, capsys):
    out = tmp_path / "ds"
    (out / "images").mkdir(parents=True)
    (out / "images" / "000000.png").write_bytes(b"my image")
    assert main(["synth", "--out", str(out), "--num-images", "2", "--image-size", "64", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "000000.png" in err and "--overwrite" in err
    assert [p.name for p in (out / "images").iterdir()] == ["000000.png"]
    argv = [
        "synth",
        "--out",
        str(out),
        "--num-images",
        "2",
        "--image-size",
        "64",
        "--no-progress",
        "--overwrite",
    ]
    assert main(argv) == 0
    assert (out / "annotations.json").is_file() and len(list((out / "images").iterdir())) == 2


# --- export_onnx and `export` ------------------------------------------------------------------------------


def test_export_onnx_refuses_an_existing_file(tmp_path):
    pytest.importorskip("onnx")
    from maskrcnn_custom import export_onnx

    target = tmp_path / "model.onnx"
    target.write_bytes(b"my model")
    model = train_model().eval()
    with pytest.raises(FileExistsError, match=r"model\.onnx.*overwrite=True"):
        export_onnx(model, target, image_size=64)
    assert target.read_bytes() == b"my model"


def test_cli_export_refuses_an_existing_out_before_loading_weights(tmp_path, capsys):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"my model")
    missing = str(tmp_path / "no-such-weights")
    assert main(["export", "--weights", missing, "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "model.onnx" in err and "--overwrite" in err and "no-such-weights" not in err
    assert target.read_bytes() == b"my model"
    assert main(["export", "--weights", missing, "--out", str(target), "--overwrite"]) == 2
    assert "no-such-weights" in capsys.readouterr().err  # with --overwrite the next check is the weights


# --- prediction writers and `predict` ----------------------------------------------------------------------


def _prediction():
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[0, 1:3, 1:7] = True
    masks[1, 5:7, 1:7] = True
    boxes = torch.tensor([[1.0, 1.0, 7.0, 3.0], [1.0, 5.0, 7.0, 7.0]])
    return Prediction(boxes, torch.tensor([1, 1]), torch.tensor([0.9, 0.8]), masks, (8, 8))


@pytest.mark.parametrize(
    ("writer", "name"),
    [
        (lambda pred, path, **kw: save_coco_results([pred], path, **kw), "results.json"),
        (lambda pred, path, **kw: save_label_image(pred, path, **kw), "labels.png"),
        (lambda pred, path, **kw: save_overlay(torch.zeros(3, 8, 8), pred, path, **kw), "overlay.png"),
    ],
    ids=["save_coco_results", "save_label_image", "save_overlay"],
)
def test_prediction_writers_refuse_an_existing_file(tmp_path, writer, name):
    path = tmp_path / name
    path.write_bytes(b"mine")
    with pytest.raises(FileExistsError, match=rf"{name}.*overwrite=True"):
        writer(_prediction(), path)
    assert path.read_bytes() == b"mine"
    assert writer(_prediction(), path, overwrite=True) == path
    assert path.read_bytes() != b"mine" and sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_save_instance_masks_refuses_existing_masks_and_overwrite_replaces_the_set(tmp_path):
    first = save_instance_masks(_prediction(), tmp_path, stem="img")
    assert [p.name for p in first] == ["img_000.png", "img_001.png"]
    before = _snapshot(tmp_path)
    with pytest.raises(FileExistsError, match=r"img_000\.png.*overwrite=True"):
        save_instance_masks(_prediction(), tmp_path, stem="img")
    assert _snapshot(tmp_path) == before
    one = _prediction()
    one = Prediction(one.boxes[:1], one.labels[:1], one.scores[:1], one.masks[:1], (8, 8))
    save_instance_masks(one, tmp_path, stem="img", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img_000.png"]  # no stale img_001.png
    assert save_instance_masks(one, tmp_path, stem="other") == [tmp_path / "other_000.png"]


def test_cli_predict_refuses_existing_outputs_before_loading_weights(tmp_path, capsys):
    from PIL import Image

    image = tmp_path / "a.png"
    Image.new("RGB", (32, 32)).save(image)
    out = tmp_path / "out"
    (out / "overlays").mkdir(parents=True)
    (out / "overlays" / "a.png").write_bytes(b"mine")
    missing = str(tmp_path / "no-such-weights")
    argv = ["predict", str(image), "--weights", missing, "--out", str(out), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "a.png" in err and "--overwrite" in err and "no-such-weights" not in err
    assert main([*argv, "--formats", "coco"]) == 2  # overlays are not written: the next check is the weights
    assert "no-such-weights" in capsys.readouterr().err
    assert (out / "overlays" / "a.png").read_bytes() == b"mine"


def test_cli_evaluate_refuses_an_existing_output_before_loading_weights(tmp_path, capsys):
    target = tmp_path / "metrics.json"
    target.write_text("mine")
    missing = str(tmp_path / "no-such-weights")
    argv = ["evaluate", "--weights", missing, "--synthetic", "2", "--output", str(target), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        "--output" in err and "metrics.json" in err and "--overwrite" in err and "no-such-weights" not in err
    )
    assert main([*argv, "--overwrite"]) == 2
    assert "no-such-weights" in capsys.readouterr().err
    assert target.read_text() == "mine"


def test_cli_reports_a_full_disk_in_one_line(tmp_path, capsys, monkeypatch):
    import errno

    import maskrcnn_custom.cli.synth as synth_cli
    from maskrcnn_custom.cli import main

    def full_disk(args):
        raise OSError(
            errno.ENOSPC,
            f"no space left on the device while writing {tmp_path / 'x.png'}; nothing was written",
        )

    monkeypatch.setattr(synth_cli, "run", full_disk)
    assert main(["synth", "--out", str(tmp_path / "d"), "--num-images", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "maskrcnn-custom synth: error:" in err and "no space left" in err
