import json

import numpy as np
import pytest
from PIL import Image

from helpers.models import detecting_model, save_detecting_model
from helpers.rods import rods_image
from maskrcnn_custom import predict
from maskrcnn_custom.cli import main


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """A real save_pretrained folder (config.json + model.safetensors) of the small detecting test model."""
    return save_detecting_model(tmp_path_factory.mktemp("weights") / "rods-model")


@pytest.fixture
def image_dir(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for seed in range(2):
        arr = (rods_image(seed=seed)[0].numpy() * 255).round().astype(np.uint8)
        Image.fromarray(arr, mode="L").save(folder / f"img{seed}.png")
    (folder / "notes.txt").write_text("not an image, skipped")
    return folder


def test_cli_predict_writes_every_output(image_dir, weights_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            str(image_dir),
            "--weights",
            str(weights_dir),
            "--out",
            str(out),
            "--formats",
            "coco,labels,masks,overlays",
        ]
    )
    assert code == 0
    assert "2/2" in capsys.readouterr().err  # the progress bar
    images = json.loads((out / "images.json").read_text())
    assert [(im["id"], im["height"], im["width"]) for im in images] == [(1, 96, 96), (2, 96, 96)]
    results = json.loads((out / "predictions.json").read_text())
    # The CLI's detections are exactly what predict() gives with the in-memory model on the same files.
    expected = predict(detecting_model(), sorted(str(p) for p in image_dir.glob("*.png")))
    assert [sum(r["image_id"] == i + 1 for r in results) for i in range(2)] == [len(p) for p in expected]
    assert sum(len(p) for p in expected) > 0
    for i, pred in enumerate(expected):
        scores = [r["score"] for r in results if r["image_id"] == i + 1]
        np.testing.assert_allclose(scores, pred.scores.numpy(), atol=1e-5)
    assert all(r["score"] > 0.5 for r in results)
    for stem in ("img0", "img1"):
        labels = np.asarray(Image.open(out / "labels" / f"{stem}.png"))
        n = sum(1 for r in results if r["image_id"] == int(stem[-1]) + 1)
        assert labels.max() == n
        assert len(list((out / "masks").glob(f"{stem}_*.png"))) == n
        assert Image.open(out / "overlays" / f"{stem}.png").size == (96, 96)


def test_cli_predict_score_threshold_and_batches(image_dir, weights_dir, tmp_path):
    out = tmp_path / "out"
    argv = ["predict", str(image_dir), "--weights", str(weights_dir), "--out", str(out), "--no-progress"]
    assert main([*argv, "--formats", "coco", "--score-threshold", "0.05", "--batch-size", "2"]) == 0
    low = json.loads((out / "predictions.json").read_text())
    assert main([*argv, "--formats", "coco"]) == 2  # the first run's predictions.json is not replaced...
    assert main([*argv, "--formats", "coco", "--overwrite"]) == 0  # ...unless asked to
    high = json.loads((out / "predictions.json").read_text())
    assert len(low) > len(high) > 0
    assert min(r["score"] for r in low) > 0.05
    assert not (out / "labels").exists()


def test_cli_predict_bad_image_fails_before_loading_weights(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    # The weights folder does not exist either: the image error must come first.
    missing_weights = str(tmp_path / "no-such-weights")
    code = main(
        ["predict", str(bad), "--weights", missing_weights, "--out", str(tmp_path / "o"), "--no-progress"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "not an image file" in err and "no-such-weights" not in err
    code = main(
        ["predict", str(tmp_path / "missing.png"), "--weights", missing_weights, "--out", str(tmp_path / "o")]
    )
    assert code == 2 and "missing.png" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_predict_missing_weights_folder(image_dir, tmp_path, capsys):
    code = main(
        ["predict", str(image_dir), "--weights", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]
    )
    assert code == 2
    assert "nowhere" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_predict_rejects_unknown_formats(image_dir, weights_dir, tmp_path, capsys):
    code = main(
        [
            "predict",
            str(image_dir),
            "--weights",
            str(weights_dir),
            "--out",
            str(tmp_path / "o"),
            "--formats",
            "coco,gif",
        ]
    )
    assert code == 2 and "gif" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
