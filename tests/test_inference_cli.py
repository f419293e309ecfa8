import json

import numpy as np
import pytest
from PIL import Image

from _inference_helpers import detecting_model, rods_image
from maskrcnn_custom import hub
from maskrcnn_custom.cli import main


@pytest.fixture
def image_dir(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for seed in range(2):
        arr = (rods_image(seed=seed)[0].numpy() * 255).round().astype(np.uint8)
        Image.fromarray(arr, mode="L").save(folder / f"img{seed}.png")
    (folder / "notes.txt").write_text("not an image, skipped")
    return folder


@pytest.fixture
def loader(monkeypatch):
    """Stand in for from_pretrained: the CLI's own code path is tested, the weights come from the test model."""
    calls = []

    def fake_from_pretrained(weights, *args, **kwargs):
        calls.append(weights)
        return detecting_model()

    monkeypatch.setattr(hub, "from_pretrained", fake_from_pretrained, raising=False)
    return calls


def test_cli_predict_writes_every_output(image_dir, tmp_path, loader, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            str(image_dir),
            "--weights",
            "some/repo",
            "--out",
            str(out),
            "--formats",
            "coco,labels,masks,overlays",
        ]
    )
    assert code == 0 and loader == ["some/repo"]
    assert "2/2" in capsys.readouterr().err  # the progress bar
    images = json.loads((out / "images.json").read_text())
    assert [(im["id"], im["height"], im["width"]) for im in images] == [(1, 96, 96), (2, 96, 96)]
    results = json.loads((out / "predictions.json").read_text())
    assert results and {r["image_id"] for r in results} <= {1, 2}
    assert all(r["score"] > 0.5 for r in results)
    for stem in ("img0", "img1"):
        labels = np.asarray(Image.open(out / "labels" / f"{stem}.png"))
        n = sum(1 for r in results if r["image_id"] == int(stem[-1]) + 1)
        assert labels.max() == n
        assert len(list((out / "masks").glob(f"{stem}_*.png"))) == n
        assert Image.open(out / "overlays" / f"{stem}.png").size == (96, 96)


def test_cli_predict_bad_image_fails_before_loading_weights(tmp_path, loader, capsys):
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    code = main(["predict", str(bad), "--weights", "w", "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 2 and loader == []
    assert "not an image file" in capsys.readouterr().err
    code = main(["predict", str(tmp_path / "missing.png"), "--weights", "w", "--out", str(tmp_path / "o")])
    assert code == 2 and loader == []


def test_cli_predict_rejects_unknown_formats(image_dir, tmp_path, loader, capsys):
    code = main(
        ["predict", str(image_dir), "--weights", "w", "--out", str(tmp_path / "o"), "--formats", "coco,gif"]
    )
    assert code == 2 and "gif" in capsys.readouterr().err and loader == []
