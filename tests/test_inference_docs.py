"""Every code block of docs/inference.md runs as written, against a real save_pretrained folder.

The Hub repo id of the examples (``org/rods-maskrcnn``) is replaced by a local ``save_pretrained`` folder of a
small resnet18 model (nothing is downloaded); ``a.png`` / ``b.png`` / ``images/`` are created in a temporary
working directory. Shell blocks run through ``maskrcnn_custom.cli.main``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.models import save_detecting_model
from helpers.rods import rods_image
from maskrcnn_custom.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "inference.md"
REPO_ID = "org/rods-maskrcnn"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    weights = save_detecting_model(tmp_path / "weights")
    (tmp_path / "images").mkdir()
    for seed, name in enumerate(("a.png", "b.png", "images/c.png", "extra.png")):
        arr = (rods_image(seed=seed)[0].numpy() * 255).round().astype(np.uint8)
        Image.fromarray(arr, mode="L").save(tmp_path / name)
    big = np.tile((rods_image(100, seed=5)[0].numpy() * 255).round().astype(np.uint8), (2, 3))
    Image.fromarray(big, mode="L").save(tmp_path / "big.tif")  # 200 x 300, for the tiled-inference blocks
    return weights


def test_python_blocks_run(workdir, capsys):
    pytest.importorskip("pycocotools", reason="COCO results need the [coco] extra")
    pytest.importorskip("onnxruntime", reason="the ONNX block needs the [onnx] extra")
    blocks = _blocks("python")
    assert len(blocks) == 8 and REPO_ID in blocks[0]
    namespace: dict = {}
    for block in blocks:
        exec(compile(block.replace(REPO_ID, str(workdir)), str(DOC), "exec"), namespace)
    assert [Path(p.source).name for p in namespace["preds"]] == ["a.png", "b.png"]
    assert sum(len(p) for p in namespace["preds"]) > 0
    assert capsys.readouterr().out.count("png") == 2  # the print() of the first block, once per image
    assert [len(p) > 0 for p in namespace["bf16_preds"]] == [True, True]
    assert [Path(p.source).name for p in namespace["batch_preds"]] == ["a.png", "b.png", "extra.png"]
    assert len(namespace["int8_preds"]) == 2
    for name in (
        "predictions.json",
        "labels.png",
        "overlay.png",
        "model.onnx",
        "model_b2.onnx",
        "model_int8.onnx",
    ):
        assert Path(name).is_file(), name
    assert list(Path("masks").glob("a_*.png"))
    assert namespace["p"].masks.shape[1:] == (200, 300)  # the tiled block


def test_shell_blocks_run(workdir):
    pytest.importorskip("pycocotools", reason="COCO results need the [coco] extra")
    pytest.importorskip("onnxruntime", reason="the export command needs the [onnx] extra")
    blocks = _blocks("bash")
    assert len(blocks) == 4
    for block in blocks:
        argv = shlex.split(block.replace("\\\n", " ").replace(REPO_ID, str(workdir)))
        assert argv[0] == "maskrcnn-custom"
        assert main(argv[1:]) == 0, block
    assert len(list(Path("results/overlays").glob("*.png"))) == 2  # images/ (one file) and extra.png
    assert Path("model.onnx").is_file()
    assert len(list(Path("tiled/overlays").glob("*.png"))) == 1  # the tiled block
    assert Path("out/predictions.json").is_file()  # the bfloat16 block
