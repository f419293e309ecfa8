import json

import pytest

from maskrcnn_custom.cli import build_parser, main
from maskrcnn_custom.data import CocoDataset, SyntheticElongatedDataset


def test_synth_writes_a_loadable_coco_folder(tmp_path, capsys):
    out = tmp_path / "train"
    rc = main(["synth", "--out", str(out), "--num-images", "3", "--image-size", "64", "--seed", "4",
               "--labels", "kind", "--no-progress", "--json"])  # fmt: skip
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 3 and summary["num_classes"] == 4
    ds = CocoDataset.from_dir(out)
    assert len(ds) == 3 and ds.category_names == ("rod", "ellipse", "fibre")
    assert summary["instances"] == sum(len(ds[i][1]["labels"]) for i in range(3))
    # The same seed and index give the same image as the in-memory dataset.
    from maskrcnn_custom.data import SyntheticConfig

    mem = SyntheticElongatedDataset(3, image_size=64, seed=4, config=SyntheticConfig(labels="kind"))
    assert ds[2][1]["boxes"].tolist() == mem[2][1]["boxes"].tolist()
    # A second run refuses to overwrite, with a one-line error and exit code 2.
    rc = main(["synth", "--out", str(out), "--num-images", "3", "--no-progress"])
    assert rc == 2
    assert "--overwrite" in capsys.readouterr().err


def test_synth_preset_heldout_with_an_override(tmp_path, capsys):
    from maskrcnn_custom.data import SyntheticConfig

    out = tmp_path / "heldout"
    rc = main(["synth", "--out", str(out), "--num-images", "2", "--image-size", "64", "--seed", "7",
               "--preset", "heldout", "--objects", "1,2", "--no-progress"])  # fmt: skip
    assert rc == 0
    ds = CocoDataset.from_dir(out)
    expected = SyntheticConfig.preset("heldout", num_objects=(1, 2))
    assert expected != SyntheticConfig.heldout()  # the override was applied on top of the preset
    mem = SyntheticElongatedDataset(2, image_size=64, seed=7, config=expected)
    for i in range(2):
        assert ds[i][1]["boxes"].tolist() == mem[i][1]["boxes"].tolist()
        assert (ds[i][0] - mem[i][0]).abs().max() <= 0.5 / 255 + 1e-6  # the PNG holds the same image, 8-bit
    other = SyntheticElongatedDataset(2, image_size=64, seed=7, config=SyntheticConfig(num_objects=(1, 2)))
    assert any((ds[i][0] - other[i][0]).abs().max() > 0.05 for i in range(2))  # not the default generator


def test_anchors_reports_fitted_seed_and_torchvision(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["synth", "--out", str(out), "--num-images", "12", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["anchors", "--coco", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"fitted", "seed", "torchvision", "num_boxes"}
    fitted, seed = report["fitted"]["coverage"], report["seed"]["coverage"]
    assert fitted["num_boxes"] == seed["num_boxes"] == report["num_boxes"] > 20
    assert fitted["iou_0_7"] >= seed["iou_0_7"]
    assert len(report["fitted"]["anchor_sizes"]) == 5
    assert (
        main(["anchors", "--synthetic", "8", "--image-size", "128", "--num-ratios", "3", "--no-refine"]) == 0
    )
    text = capsys.readouterr().out
    assert "fitted anchor_sizes=" in text and "IoU>=0.7" in text


@pytest.mark.parametrize("command", ["synth", "anchors"])
def test_help_texts(command, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    text = capsys.readouterr().out
    assert "usage: maskrcnn-custom" in text
    for flag in {"synth": ["--out", "--num-images", "--image-size", "--seed", "COCO"],
                 "anchors": ["--coco", "--synthetic", "--json", "IoU 0.7"]}[command]:  # fmt: skip
        assert flag in text
