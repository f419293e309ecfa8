import csv
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.models import detecting_model, save_detecting_model
from helpers.rods import rods_image
from helpers.shapes import arc, capsule
from maskrcnn_custom import Prediction, predict
from maskrcnn_custom.cli import main
from maskrcnn_custom.inference import measurement_rows, save_coco_results, save_measurements, to_coco_results
from maskrcnn_custom.measure import MEASUREMENT_FIELDS, measure_mask


def _prediction():
    masks = torch.from_numpy(np.stack([capsule(96, 60, 5, 30), arc(96, 30, 90, 5), np.zeros((96, 96), bool)]))
    boxes = torch.tensor([[10.0, 10.0, 80.0, 80.0]] * 3)
    return Prediction(boxes, torch.tensor([1, 2, 1]), torch.tensor([0.9, 0.8, 0.7]), masks, (96, 96),
                      class_names=("bg", "rod", "fibre"), source="a.png")  # fmt: skip


def test_prediction_measure_and_coco_results_carry_the_numbers():
    pred = _prediction()
    shapes = pred.measure()
    assert len(shapes) == 3
    assert shapes[0].length == pytest.approx(60, rel=0.03)
    assert shapes[1].length == pytest.approx(30 * math.pi / 2, rel=0.05)
    assert shapes[2].area == 0 and math.isnan(shapes[2].length)
    plain = to_coco_results([pred])
    assert all("measurements" not in r for r in plain)
    rich = to_coco_results([pred], measure=True)
    assert [r["measurements"] for r in rich] == [s.to_dict() for s in shapes]
    assert rich[2]["measurements"]["length"] is None
    assert {k: v for k, v in rich[0].items() if k != "measurements"} == plain[0]
    json.dumps(rich)  # JSON-serialisable (no nan)


def test_save_coco_results_with_measurements(tmp_path):
    pred = _prediction()
    saved = json.loads(save_coco_results([pred], tmp_path / "r.json", measure=True).read_text())
    assert saved == to_coco_results([pred], measure=True)
    assert "measurements" not in json.loads(save_coco_results([pred], tmp_path / "p.json").read_text())[0]


def test_measurement_rows_and_files(tmp_path):
    pred = _prediction()
    rows = measurement_rows([pred, pred.filter(score_threshold=0.85)], image_ids=[7, 8])
    assert [(r["image_id"], r["detection"], r["name"]) for r in rows] == [
        (7, 0, "rod"), (7, 1, "fibre"), (7, 2, "rod"), (8, 0, "rod")
    ]  # fmt: skip
    assert rows[0]["file_name"] == "a.png"
    assert rows[0]["length"] == round(measure_mask(pred.masks[0]).length, 3)
    c = save_measurements(rows, tmp_path / "m.csv")
    with c.open() as f:
        table = list(csv.DictReader(f))
    assert list(table[0])[-len(MEASUREMENT_FIELDS) :] == list(MEASUREMENT_FIELDS)
    assert float(table[1]["length"]) == rows[1]["length"] and table[2]["length"] == ""
    j = save_measurements(rows, tmp_path / "m.json")
    assert json.loads(j.read_text()) == rows
    with pytest.raises(FileExistsError, match="overwrite"):
        save_measurements(rows, c)
    save_measurements(rows[:1], c, overwrite=True)
    assert len(c.read_text().splitlines()) == 2
    with pytest.raises(ValueError, match=r"\.csv or \.json"):
        save_measurements(rows, tmp_path / "m.txt")
    with pytest.raises(ValueError, match="one image id"):
        measurement_rows([pred], image_ids=[1, 2])


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    return save_detecting_model(tmp_path_factory.mktemp("weights") / "rods-model")


def test_cli_predict_measurements(tmp_path, weights_dir, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    arr = (rods_image(seed=0)[0].numpy() * 255).round().astype(np.uint8)
    Image.fromarray(arr, mode="L").save(folder / "img0.png")
    out, table = tmp_path / "out", tmp_path / "shapes.csv"
    args = ["predict", str(folder), "--weights", str(weights_dir), "--out", str(out), "--no-progress"]
    assert main([*args, "--measurements", str(table)]) == 0
    rows = list(csv.DictReader(table.open()))
    expected = predict(detecting_model(), [str(folder / "img0.png")])[0]
    assert len(rows) == len(expected) > 0
    for row, m in zip(rows, expected.measure(), strict=True):
        assert float(row["length"]) == pytest.approx(m.length, abs=1e-3)
        assert row["file_name"] == str(folder / "img0.png")
    results = json.loads((out / "predictions.json").read_text())
    assert [r["measurements"]["length"] for r in results] == [float(r["length"]) for r in rows]
    # an existing file is refused before any work, and replaced with --overwrite
    table.write_text("keep me")
    capsys.readouterr()
    assert main([*args, "--measurements", str(table)]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--overwrite" in err
    assert table.read_text() == "keep me"
    assert main([*args, "--measurements", str(tmp_path / "shapes.txt")]) == 2
    assert ".csv or .json" in capsys.readouterr().err
    assert main([*args, "--measurements", str(tmp_path / "shapes.json"), "--overwrite"]) == 0
    assert main([*args, "--measurements", str(table), "--overwrite"]) == 0
    assert len(list(csv.DictReader(table.open()))) == len(rows)
