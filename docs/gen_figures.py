"""Generate the documentation's pictures from the library itself.

Run it from the repository root after changing anything the pictures show::

    python docs/gen_figures.py                  # all pictures, into docs/images/
    python docs/gen_figures.py --model demo/model        # predicted overlays from a trained folder
    python docs/gen_figures.py --fast --out /tmp/figs    # small and quick (what the tests run)

Pictures:

* ``data_samples.png``: synthetic images with their instance masks and boxes;
* ``heldout_samples.png``: images of the default generator (top) next to the held-out preset's (bottom),
  ``SyntheticConfig.heldout()``, the validation data of ``benchmarks/time_to_accuracy.py``;
* ``anchors_seed.png``: the seed configuration's anchors, one panel per FPN level, centred on a 256x256 canvas
  with the level's anchor centres (its stride) as dots;
* ``anchors_fitted.png``: the seed's anchors against anchors fitted to the synthetic data, with coverage;
* ``predicted_overlay.png``: predictions of a model trained briefly by ``maskrcnn-custom demo`` (or the
  ``--model`` folder) on held-out synthetic images.

Only torchvision (``draw_segmentation_masks``, ``draw_bounding_boxes``) and Pillow draw; PNGs are palette-quantised
to stay small.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks, make_grid

from maskrcnn_custom import SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS, SyntheticElongatedDataset
from maskrcnn_custom.anchors import (
    anchor_coverage,
    anchor_grid,
    boxes_from_dataset,
    cell_anchors,
    fit_anchors,
)
from maskrcnn_custom.inference.writers import PALETTE as WRITER_PALETTE

__all__ = [
    "anchors_fitted_figure",
    "anchors_seed_figure",
    "data_samples_figure",
    "heldout_samples_figure",
    "main",
    "overlay_figure",
]

logger = logging.getLogger("gen_figures")

#: Distinct colours for instances and aspect ratios: the first ten of the overlay palette that ``predict`` users get.
PALETTE: tuple[tuple[int, int, int], ...] = WRITER_PALETTE[:10]
BACKGROUND = (24, 26, 32)
GRID_DOT = (70, 74, 86)
TEXT = (235, 235, 235)
CANVAS = 256


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def save_png(image: Image.Image | torch.Tensor, path: Path, *, colors: int = 96) -> Path:
    """Write a palette PNG atomically and return its path.

    The palette is a median cut of the picture plus :data:`PALETTE`, so instance and anchor colours stay exact.
    """
    if isinstance(image, torch.Tensor):
        image = Image.fromarray(image.permute(1, 2, 0).cpu().numpy())
    image = image.convert("RGB")
    own = colors - len(PALETTE)
    base = image.quantize(colors=own, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette = base.getpalette()[: 3 * own] + [c for rgb in PALETTE for c in rgb]
    holder = Image.new("P", (1, 1))
    holder.putpalette(palette + [0] * (768 - len(palette)))
    small = image.quantize(palette=holder, dither=Image.Dither.NONE)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        small.save(tmp, format="PNG", optimize=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info("wrote %s (%.0f KB)", path, path.stat().st_size / 1024)
    return path


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    return (image.clamp(0, 1) * 255).round().to(torch.uint8)


def annotate(image: torch.Tensor, target: dict[str, torch.Tensor]) -> torch.Tensor:
    """Draw a sample's instance masks and boxes on its image (uint8 ``3xHxW``)."""
    img = _to_uint8(image)
    n = len(target["boxes"])
    if n == 0:
        return img
    colors = [PALETTE[k % len(PALETTE)] for k in range(n)]
    img = draw_segmentation_masks(img, target["masks"].bool(), alpha=0.55, colors=colors)
    return draw_bounding_boxes(img, target["boxes"], colors=colors, width=1)


def data_samples_figure(out: Path, *, num_images: int = 4, image_size: int = 256, seed: int = 0) -> Path:
    """Synthetic images with their instance masks and boxes drawn on."""
    ds = SyntheticElongatedDataset(num_images, image_size=image_size, seed=seed)
    tiles = [annotate(*ds[i]) for i in range(num_images)]
    grid = make_grid(tiles, nrow=num_images, padding=4, pad_value=255)
    # The images' pixel noise does not compress: few colours keep the PNG small.
    return save_png(grid, out / "data_samples.png", colors=48)


def heldout_samples_figure(out: Path, *, num_images: int = 3, image_size: int = 256, seed: int = 0) -> Path:
    """Default generator images (top row) against held-out preset images (bottom row).

    Each image is shown plain and with its masks and boxes drawn on. Both rows use the same seed, so the objects
    sit at the same places and the rows differ only in what the presets change (sizes, bend, appearance).
    """
    rows = []
    for preset, text in (
        ("default", "default generator (training): SyntheticConfig()"),
        ("heldout", "held-out generator (validation): SyntheticConfig.heldout()"),
    ):
        ds = SyntheticElongatedDataset(num_images, image_size=image_size, seed=seed, config=preset)
        plain = [_to_uint8(ds[i][0]) for i in range(num_images)]
        drawn = [annotate(*ds[i]) for i in range(num_images)]
        tiles = [t for pair in zip(plain, drawn, strict=True) for t in pair]
        grid = make_grid(tiles, nrow=len(tiles), padding=4, pad_value=255)
        row = Image.fromarray(grid.permute(1, 2, 0).numpy())
        rows += [_caption(text, row.width), row]
    # The images' pixel noise does not compress: few colours keep the PNG small.
    return save_png(_stack(rows), out / "heldout_samples.png", colors=24)


def _anchor_panel(
    sizes: Sequence[float],
    ratios: Sequence[float],
    *,
    level: int,
    stride: int,
    title: str,
    canvas: int = CANVAS,
) -> Image.Image:
    """One FPN level's anchors centred on a ``canvas`` x ``canvas`` image, with the level's anchor centres."""
    header = 22
    panel = Image.new("RGB", (canvas, canvas + header), BACKGROUND)
    draw = ImageDraw.Draw(panel)
    # Anchor centres of this level sit at multiples of the stride.
    if stride >= 8:
        for y in range(0, canvas, stride):
            for x in range(0, canvas, stride):
                draw.point((x, y + header), fill=GRID_DOT)
    else:
        for y in range(0, canvas, stride * 2):
            for x in range(0, canvas, stride * 2):
                draw.point((x, y + header), fill=GRID_DOT)
    centre = canvas / 2
    anchors = cell_anchors(((*sizes,),) * 5, (tuple(ratios),) * 5)[level]
    for k, (x1, y1, x2, y2) in enumerate(anchors.tolist()):
        colour = PALETTE[(k % len(ratios)) % len(PALETTE)]
        draw.rectangle(
            (centre + x1, centre + y1 + header, centre + x2 - 1, centre + y2 - 1 + header),
            outline=colour,
            width=2,
        )
    draw.text((6, 4), title, fill=TEXT, font=_font(13))
    return panel


def _legend(ratios: Sequence[float], width: int) -> Image.Image:
    legend = Image.new("RGB", (width, 24), BACKGROUND)
    draw = ImageDraw.Draw(legend)
    font = _font(13)
    x = 8
    draw.text((x, 5), "aspect ratio (h / w):", fill=TEXT, font=font)
    x += 140
    for k, r in enumerate(ratios):
        colour = PALETTE[k % len(PALETTE)]
        draw.rectangle((x, 7, x + 14, 17), outline=colour, width=2)
        draw.text((x + 20, 5), f"{r:g}", fill=TEXT, font=font)
        x += 80
    return legend


def _stack(rows: Sequence[Image.Image], gap: int = 4) -> Image.Image:
    width = max(r.width for r in rows)
    height = sum(r.height for r in rows) + gap * (len(rows) - 1)
    out = Image.new("RGB", (width, height), (255, 255, 255))
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height + gap
    return out


def _row(panels: Sequence[Image.Image], gap: int = 4) -> Image.Image:
    width = sum(p.width for p in panels) + gap * (len(panels) - 1)
    out = Image.new("RGB", (width, max(p.height for p in panels)), (255, 255, 255))
    x = 0
    for p in panels:
        out.paste(p, (x, 0))
        x += p.width + gap
    return out


def _level_row(
    anchor_sizes: Sequence[Sequence[float]], aspect_ratios: Sequence[float], *, label: str = ""
) -> Image.Image:
    strides = [stride[0] for _, stride in anchor_grid(CANVAS)]
    panels = []
    for level, (sizes, stride) in enumerate(zip(anchor_sizes, strides, strict=True)):
        size_text = ", ".join(f"{s:.0f}" for s in sizes)
        title = f"{label}level {level}: size {size_text}, stride {stride}"
        panels.append(_anchor_panel(sizes, aspect_ratios, level=level, stride=stride, title=title))
    return _row(panels)


def anchors_seed_figure(out: Path) -> Path:
    """The seed configuration's anchors, one panel per FPN level."""
    ratios = SEED_ASPECT_RATIOS[0] if isinstance(SEED_ASPECT_RATIOS[0], tuple) else SEED_ASPECT_RATIOS
    row = _level_row(SEED_ANCHOR_SIZES, ratios)
    return save_png(_stack([row, _legend(ratios, row.width)]), out / "anchors_seed.png")


def _caption(text: str, width: int) -> Image.Image:
    img = Image.new("RGB", (width, 24), BACKGROUND)
    ImageDraw.Draw(img).text((8, 5), text, fill=TEXT, font=_font(14))
    return img


def anchors_fitted_figure(out: Path, *, num_images: int = 500, seed: int = 0) -> Path:
    """The seed's anchors (top) against anchors fitted to synthetic boxes (bottom), with their coverage."""
    boxes = boxes_from_dataset(SyntheticElongatedDataset(num_images, image_size=CANVAS, seed=seed))
    fit = fit_anchors(boxes, max_boxes=min(4000, len(boxes)))
    seed_ratios = SEED_ASPECT_RATIOS[0] if isinstance(SEED_ASPECT_RATIOS[0], tuple) else SEED_ASPECT_RATIOS
    seed_cov = anchor_coverage(boxes, SEED_ANCHOR_SIZES, SEED_ASPECT_RATIOS)
    seed_row = _level_row(SEED_ANCHOR_SIZES, seed_ratios)
    fit_row = _level_row(fit.anchor_sizes, fit.aspect_ratios[0])
    width = seed_row.width
    ratio_text = ", ".join(f"{r:.2f}" for r in fit.aspect_ratios[0])
    rows = [
        _caption(f"seed anchors: {seed_cov}", width),
        seed_row,
        _caption(f"fitted anchors (ratios {ratio_text}): {fit.coverage}", width),
        fit_row,
    ]
    return save_png(_stack(rows), out / "anchors_fitted.png")


def overlay_figure(
    out: Path, *, model_dir: str | os.PathLike[str] | None = None, fast: bool = False, num_images: int = 4
) -> Path:
    """Predicted masks and boxes on held-out synthetic images.

    Uses the ``save_pretrained`` folder ``model_dir``, or trains one with :func:`maskrcnn_custom.demo.run_demo`.
    """
    from maskrcnn_custom import from_pretrained, predict
    from maskrcnn_custom.inference import draw_overlay

    with tempfile.TemporaryDirectory() as tmp:
        if model_dir is None:
            from maskrcnn_custom.demo import run_demo

            report = run_demo(Path(tmp) / "demo", fast=fast, progress=not fast)
            model_dir = report.pretrained_dir
        model = from_pretrained(model_dir)
        size = int(model.transform.min_size[0])
        # The demo's data: its objects are a little thicker than the generator's defaults.
        from maskrcnn_custom import SyntheticConfig
        from maskrcnn_custom.demo import DemoSettings

        demo = DemoSettings()
        config = SyntheticConfig(num_objects=demo.num_objects, width_range=demo.width_range)
        val_set = SyntheticElongatedDataset(num_images, image_size=size, seed=123, config=config)
        images = [val_set[i][0] for i in range(num_images)]
        preds = predict(model, images, score_threshold=0.5)
        tiles = [draw_overlay(img, p, labels=False) for img, p in zip(images, preds, strict=True)]
        tiles = [_to_uint8(img) for img in images] + tiles
        grid = make_grid(tiles, nrow=num_images, padding=4, pad_value=255)
        return save_png(grid, out / "predicted_overlay.png")


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Write the pictures and return their paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "images")
    parser.add_argument("--fast", action="store_true", help="small inputs, a few seconds (used by the tests)")
    parser.add_argument(
        "--model", help="save_pretrained folder for the predicted overlays (default: train one)"
    )
    parser.add_argument("--skip-overlay", action="store_true", help="do not make the predicted overlays")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002
    paths = [
        data_samples_figure(args.out),
        heldout_samples_figure(args.out),
        anchors_seed_figure(args.out),
        anchors_fitted_figure(args.out, num_images=40 if args.fast else 500),
    ]
    if not args.skip_overlay:
        paths.append(overlay_figure(args.out, model_dir=args.model, fast=args.fast))
    return paths


if __name__ == "__main__":
    for p in main():
        print(p)
