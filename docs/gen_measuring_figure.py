"""Draw the "Measuring thin objects" picture: masks with their centre line, oriented box and numbers.

Run from the repository root::

    python docs/gen_measuring_figure.py               # writes docs/images/measurements.png
    python docs/gen_measuring_figure.py --out /tmp/m.png

Four synthetic objects (a straight rod, a thick rod at 135 degrees, a circular arc, a noisy wavy fibre) are
measured with :func:`maskrcnn_custom.measure.measure_masks` and drawn with Pillow.
"""

from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from maskrcnn_custom.inference.writers import PALETTE
from maskrcnn_custom.measure import MaskMeasurement, measure_masks

__all__ = ["main", "measurement_figure", "synthetic_objects"]

SIZE = 160
SCALE = 3  # pixels of the picture per mask pixel
BACKGROUND = (24, 26, 32)
TEXT = (235, 235, 235)
LINE = (255, 255, 255)
BOX = (255, 225, 25)
PANEL = 300
#: Object colours: the overlay palette without its yellow (the boxes are yellow).
COLOURS = (PALETTE[0], PALETTE[1], PALETTE[5], PALETTE[3])
NAMES = ("straight rod", "thick rod", "circular arc", "noisy wavy fibre")


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def _grid() -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    return xs, ys


def _stroke(points: np.ndarray, width: float) -> np.ndarray:
    """Mask of a polyline (x, y points) thickened to ``width`` with round ends."""
    xs, ys = _grid()
    out = np.zeros((SIZE, SIZE), bool)
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
        out |= np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy)) <= width / 2
    return out


def synthetic_objects(seed: int = 0) -> np.ndarray:
    """``[4, SIZE, SIZE]`` masks: straight rod, thick rod, circular arc, noisy wavy fibre."""
    rng = np.random.default_rng(seed)
    rod = _stroke(np.array([[12.0, 22.0], [96.0, 40.0]]), 5)
    thick = _stroke(np.array([[118.0, 14.0], [150.0, 62.0]]), 11)
    phi = np.linspace(math.radians(200), math.radians(330), 60)
    arc = _stroke(np.stack([60 + 44 * np.cos(phi), 70 - 44 * np.sin(phi)], 1), 6)
    x = np.linspace(20, 145, 80)
    wave = _stroke(np.stack([x, 135 + 9 * np.sin((x - 20) / 18)], 1), 5)
    flip = rng.random(wave.shape) < 0.15
    edge = wave ^ np.roll(wave, 1, 0) | wave ^ np.roll(wave, 1, 1)
    wave = wave ^ (flip & edge)
    return np.stack([rod, thick, arc, wave])


def _box_corners(m: MaskMeasurement) -> list[tuple[float, float]]:
    a = math.radians(m.box_angle)
    u = np.array([math.cos(a), -math.sin(a)]) * m.box_length / 2
    v = np.array([math.sin(a), math.cos(a)]) * m.box_width / 2
    c = np.array([m.box_cx, m.box_cy])
    return [tuple((c + s * u + t * v) * SCALE) for s, t in ((-1, -1), (1, -1), (1, 1), (-1, 1))]


def measurement_figure(masks: np.ndarray, measurements: list[MaskMeasurement]) -> Image.Image:
    """Masks in colour with oriented boxes (yellow), centre lines and tips (white); numbers in a side panel."""
    canvas = np.zeros((SIZE, SIZE, 3), np.uint8) + np.array(BACKGROUND, np.uint8)
    for k, m in enumerate(masks):
        canvas[m] = COLOURS[k % len(COLOURS)]
    side = SIZE * SCALE
    img = Image.new("RGB", (side + PANEL, side), BACKGROUND)
    img.paste(Image.fromarray(canvas).resize((side, side), Image.NEAREST))
    draw = ImageDraw.Draw(img)
    font, small = _font(15), _font(13)
    for k, m in enumerate(measurements):
        corners = _box_corners(m)
        draw.line([*corners, corners[0]], fill=BOX, width=2)
        line = [tuple(p * SCALE) for p in m.centerline]
        draw.line(line, fill=LINE, width=2)
        for x, y in (line[0], line[-1]):
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], outline=LINE, width=2)
        x, y = corners[0]
        draw.text(
            (min(max(x - 16, 2), side - 14), min(max(y - 18, 2), side - 18)), str(k + 1), fill=TEXT, font=font
        )
    x0, y = side + 14, 12
    draw.text((x0, y), "measure_masks(masks)", fill=TEXT, font=font)
    y += 30
    for k, m in enumerate(measurements):
        c = COLOURS[k % len(COLOURS)]
        draw.rectangle([x0, y + 2, x0 + 12, y + 14], fill=c)
        draw.text((x0 + 20, y), f"{k + 1}  {NAMES[k]}", fill=TEXT, font=font)
        rows = (
            f"length {m.length:.1f} px   tortuosity {m.tortuosity:.2f}",
            f"width: mean {m.mean_width:.1f}, max {m.max_width:.1f}",
            f"box {m.box_length:.0f} x {m.box_width:.0f} at {m.box_angle:.0f} deg",
        )
        for i, row in enumerate(rows):
            draw.text((x0 + 20, y + 22 + 18 * i), row, fill=c, font=small)
        y += 22 + 18 * len(rows) + 16
    legend = (
        "white line: centre line, tip to tip",
        "(its length is 'length')",
        "yellow: minimum-area oriented box",
        "mean width = area / length",
    )
    for i, row in enumerate(legend):
        draw.text((x0, side - 20 - 18 * (len(legend) - 1 - i)), row, fill=TEXT, font=small)
    return img


def main(argv: list[str] | None = None) -> Path:
    """Write the picture and return its path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "images" / "measurements.png")
    args = parser.parse_args(argv)
    masks = synthetic_objects()
    img = measurement_figure(masks, measure_masks(masks))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=64).save(args.out, optimize=True)
    return args.out


if __name__ == "__main__":
    print(main())
