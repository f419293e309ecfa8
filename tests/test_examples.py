"""Every example's fast mode runs and produces what it promises (examples/ must never rot)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(args: list[str], tmp_path: Path, timeout: float = 600) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("OMP_NUM_THREADS", "2")
    proc = subprocess.run(
        args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def python_example(name: str, *args: str) -> list[str]:
    return [sys.executable, str(EXAMPLES / name), *args]


def number(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in output:\n{text}"
    return float(m.group(1))


def test_every_example_is_tested():
    tested = {
        "quickstart.py",
        "train_synthetic.py",
        "finetune_coco.py",
        "fit_anchors.py",
        "weights_hub.py",
        "export_onnx.py",
        "distributed_train.sh",
    }
    present = {p.name for p in EXAMPLES.iterdir() if p.suffix in (".py", ".sh")}
    assert present == tested


def test_quickstart(tmp_path):
    out = run_example(python_example("quickstart.py", "--fast", "--out", "q"), tmp_path)
    pngs = sorted((tmp_path / "q").glob("overlay_*.png"))
    assert [p.name for p in pngs] == ["overlay_0.png", "overlay_1.png", "overlay_2.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert number(r"overlays: (\d+)", out) == 3
    assert "model: resnet18" in out


def _check_training_output(out: str) -> None:
    assert 0.0 <= number(r"segm AP: ([0-9.]+)", out) <= 1.0
    assert 0.0 <= number(r"bbox AP: ([0-9.]+)", out) <= 1.0
    pretrained = Path(re.search(r"pretrained: (.+)", out).group(1).strip())
    assert (pretrained / "config.json").is_file() and (pretrained / "model.safetensors").is_file()


def test_train_synthetic(tmp_path):
    out = run_example(
        python_example("train_synthetic.py", "--fast", "--out", str(tmp_path / "run")), tmp_path
    )
    _check_training_output(out)
    assert (tmp_path / "run" / "checkpoint_last.pt").is_file()


def test_finetune_coco_exports_a_coco_folder_and_trains_on_it(tmp_path):
    out = run_example(python_example("finetune_coco.py", "--fast", "--out", str(tmp_path / "ft")), tmp_path)
    coco = json.loads((tmp_path / "ft" / "data" / "train" / "annotations.json").read_text())
    assert len(coco["images"]) == 8 and coco["annotations"]
    assert "train: 8 images, val: 2 images, classes: ('object',)" in out
    _check_training_output(out)


def test_fit_anchors_beats_the_seed_anchors_on_the_boxes_it_fits(tmp_path):
    out = run_example(python_example("fit_anchors.py", "--fast", "--out", "a"), tmp_path)
    saved = json.loads((tmp_path / "a" / "anchors.json").read_text())
    assert len(saved["fitted"]["anchor_sizes"]) == 5 and len(saved["fitted"]["aspect_ratios"][0]) == 5
    assert number(r"boxes: (\d+)", out) == saved["seed"]["num_boxes"] > 50
    assert number(r"fitted iou_0_7: ([0-9.]+)", out) > number(r"seed iou_0_7: ([0-9.]+)", out)


def test_weights_hub_round_trip_without_pushing(tmp_path):
    out = run_example(python_example("weights_hub.py", "--fast", "--out", "m"), tmp_path)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "README.md",
        "checksums.json",
        "config.json",
        "model.safetensors",
    ]
    assert "identical weights: True" in out
    assert "pushed" not in out


def test_export_onnx_runs_with_onnxruntime(tmp_path):
    pytest.importorskip("onnxruntime")
    out = run_example(python_example("export_onnx.py", "--fast", "--out", "m.onnx"), tmp_path)
    assert (tmp_path / "m.onnx").stat().st_size > 1_000_000
    onnx_n = number(r"onnxruntime: (\d+) detections", out)
    torch_n = number(r"torch: (\d+) detections", out)
    assert onnx_n >= 0 and torch_n >= 0


def test_distributed_train_script_runs_one_process(tmp_path):
    script = str(EXAMPLES / "distributed_train.sh")
    subprocess.run(["bash", "-n", script], check=True)
    out = run_example(["bash", script, "1", "--fast", "--out", str(tmp_path / "ddp")], tmp_path)
    _check_training_output(out)
