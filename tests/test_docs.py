"""The documentation: quickstart snippets run as written, pictures are generated from the library, pages are wired."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load_gen_figures():
    spec = importlib.util.spec_from_file_location("gen_figures", DOCS / "gen_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_python_blocks_run_in_order(tmp_path, monkeypatch):
    text = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"quickstart.md block {i}", "exec"), namespace)
    assert (tmp_path / "overlay.png").is_file()
    assert (tmp_path / "my-model" / "model.safetensors").is_file()
    assert (tmp_path / "runs" / "quick" / "pretrained" / "config.json").is_file()
    assert namespace["same"].config == namespace["model"].config


def test_readme_quickstart_runs_with_a_shorter_schedule(tmp_path, monkeypatch, capsys):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [block] = re.findall(r"## Quickstart\n\n```python\n(.*?)```", readme, flags=re.S)
    assert len(block.strip().splitlines()) <= 12
    assert 'get_preset("fast_cpu")' in block and 'config="heldout"' in block  # the preset, held-out images
    short = block.replace(
        "recipe=preset.recipe,", "recipe=preset.recipe.replace(epochs=1, iters_per_epoch=2),"
    )
    short = short.replace("SyntheticElongatedDataset(2000,", "SyntheticElongatedDataset(4,")
    short = short.replace("SyntheticElongatedDataset(50,", "SyntheticElongatedDataset(2,")
    assert short.count("iters_per_epoch=2") == 1 and short.count("SyntheticElongatedDataset(") == 2
    assert "(4, image_size" in short and "(2, image_size" in short
    monkeypatch.chdir(tmp_path)
    exec(compile(short, "README.md quickstart", "exec"), {})
    printed = capsys.readouterr().out
    assert re.search(r"'segm': [0-9.]+, 'bbox': [0-9.]+", printed), printed  # it prints its held-out AP
    assert (tmp_path / "overlay.png").is_file()
    assert (tmp_path / "runs" / "quick" / "pretrained" / "model.safetensors").is_file()


def test_gen_figures_fast_writes_small_pngs(tmp_path):
    from maskrcnn_custom import maskrcnn_resnet18_fpn, save_pretrained

    gen = _load_gen_figures()
    model_dir = save_pretrained(
        maskrcnn_resnet18_fpn(weights_backbone=None, min_size=64, max_size=64, mask_hidden_dim=16),
        tmp_path / "model",
    )
    paths = gen.main(["--fast", "--out", str(tmp_path / "images"), "--model", str(model_dir)])
    names = sorted(p.name for p in paths)
    assert names == [
        "anchors_fitted.png",
        "anchors_seed.png",
        "data_samples.png",
        "heldout_samples.png",
        "predicted_overlay.png",
    ]
    for p in paths:
        assert p.stat().st_size < 150_000, (p.name, p.stat().st_size)
        with Image.open(p) as im:
            im.load()
            assert im.mode == "P"
    with Image.open(tmp_path / "images" / "anchors_seed.png") as im:
        assert im.size[0] == 5 * 256 + 4 * 4  # five 256 px levels side by side
    with Image.open(tmp_path / "images" / "data_samples.png") as im:
        assert im.size == (4 * 256 + 5 * 4, 256 + 2 * 4)
    with Image.open(tmp_path / "images" / "heldout_samples.png") as im:
        # Two captioned rows (default, held-out) of 3 images, each plain and annotated.
        assert im.size == (6 * 256 + 7 * 4, 2 * (24 + 256 + 2 * 4) + 3 * 4)
    with Image.open(tmp_path / "images" / "predicted_overlay.png") as im:
        assert im.size == (4 * 64 + 5 * 4, 2 * 64 + 3 * 4)  # images on top, predictions below


def test_seed_anchor_picture_shows_each_levels_anchors():
    gen = _load_gen_figures()
    from maskrcnn_custom.anchors import cell_anchors

    panel = gen._anchor_panel((64,), (0.25, 0.33, 1, 2, 3), level=1, stride=8, title="t")
    pixels = panel.load()
    header = panel.size[1] - gen.CANVAS
    # Each anchor's outline is drawn in its ratio's colour at the anchor's corners, centred on the canvas.
    for k, (x1, y1, _x2, _y2) in enumerate(cell_anchors(((64,),) * 5, (0.25, 0.33, 1, 2, 3))[1].tolist()):
        x, y = int(128 + x1), int(128 + y1 + header)
        assert pixels[x, y] == gen.PALETTE[k], (k, x, y)


def test_committed_pictures_exist_and_are_small():
    images = DOCS / "images"
    referenced = set()
    for md in DOCS.glob("*.md"):
        referenced |= set(re.findall(r"\]\(images/([^)]+)\)", md.read_text(encoding="utf-8")))
    assert {
        "anchors_seed.png",
        "anchors_fitted.png",
        "data_samples.png",
        "predicted_overlay.png",
    } <= referenced
    for name in referenced:
        assert (images / name).is_file(), name
        assert (images / name).stat().st_size < 150_000, name


def test_every_page_is_in_the_nav():
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8").replace("!!python", "#"))
    nav = [next(iter(item.values())) for item in config["nav"]]
    pages = {p.name for p in DOCS.glob("*.md")}
    assert set(nav) == pages
    assert nav[:2] == ["index.md", "quickstart.md"] and nav[-2:] == ["api.md", "changelog.md"]
    assert (DOCS / "changelog.md").read_text(encoding="utf-8").strip() == '--8<-- "CHANGELOG.md"'


def test_training_page_recipe_table_matches_the_presets():
    from maskrcnn_custom import get_recipe, list_recipes
    from maskrcnn_custom.recipe import recipes_table_markdown

    text = (DOCS / "training.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- recipes-table:[^>]*-->\n(.*?)<!-- /recipes-table -->", text, flags=re.S)
    assert block is not None, "docs/training.md lost its recipes table markers"
    assert block.group(1) == recipes_table_markdown()
    # and the generated table says what get_recipe says, field by field
    header, _, *rows = block.group(1).split("\n\n")[0].splitlines()
    names = [c.strip(" `") for c in header.split("|")[2:-3]]
    assert names == list_recipes()
    for row in rows:
        cells = [c.strip() for c in row.split("|")[1:-1]]
        field, values = cells[0], cells[1 : 1 + len(names)]
        for name, shown in zip(names, values, strict=True):
            value = getattr(get_recipe(name), field)
            expected = (
                "`None`" if value is None else f"`{value!r}`" if isinstance(value, (bool, str)) else None
            )
            if expected is None:
                assert float(shown) == value, (field, name)
            else:
                assert shown == expected, (field, name)


def test_training_page_presets_table_matches_the_presets():
    from maskrcnn_custom.presets import presets_table_markdown

    text = (DOCS / "training.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- presets-table:[^>]*-->\n(.*?)<!-- /presets-table -->", text, flags=re.S)
    assert block is not None, "docs/training.md lost its presets table markers"
    assert block.group(1) == presets_table_markdown()
