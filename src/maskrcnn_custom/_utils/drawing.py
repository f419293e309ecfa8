"""Pictures drawn with Pillow only (a dependency of torchvision): fonts, text boxes and simple line charts.

The library draws its overlays and the demo's learning curve with these helpers so that no plotting package is
needed on a fresh machine.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Series", "font", "line_chart", "nice_ticks", "text_size"]


def font(size: int) -> Any:
    """Pillow's default font at ``size`` pixels (the fixed bitmap font on Pillow < 10.1 or without FreeType).

    Examples:
        >>> from maskrcnn_custom._utils.drawing import font
        >>> font(14) is not None
        True
    """
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1, or no FreeType: one fixed-size bitmap font
        return ImageFont.load_default()


def text_size(draw: Any, text: str, typeface: Any) -> tuple[int, int]:
    """``(width, height)`` in pixels of ``text`` drawn at the origin with ``typeface``.

    Examples:
        >>> from PIL import Image, ImageDraw
        >>> from maskrcnn_custom._utils.drawing import font, text_size
        >>> w, h = text_size(ImageDraw.Draw(Image.new("RGB", (8, 8))), "abc", font(12))
        >>> w > 0 and h > 0
        True
    """
    left, top, right, bottom = draw.textbbox((0, 0), text, font=typeface)
    return math.ceil(right - min(left, 0)), math.ceil(bottom - min(top, 0))


def nice_ticks(upper: float, *, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``upper`` (steps of 1, 2 or 5 times a power of ten).

    Examples:
        >>> from maskrcnn_custom._utils.drawing import nice_ticks
        >>> nice_ticks(1600)
        [0, 500, 1000, 1500, 2000]
        >>> nice_ticks(0.23)
        [0.0, 0.05, 0.1, 0.15, 0.2, 0.25]
    """
    if not upper > 0 or not math.isfinite(upper):
        upper = 1.0
    raw = upper / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw - 1e-12)
    ticks = [round(step * k, 10) for k in range(math.ceil(upper / step - 1e-9) + 1)]
    return [int(t) for t in ticks] if step >= 1 and float(step).is_integer() else ticks


@dataclass
class Series:
    """One line of :func:`line_chart`: points, colour, legend label, dashed or not, markers, line or not."""

    label: str
    points: Sequence[tuple[float, float]]
    colour: tuple[int, int, int]
    dashed: bool = False
    markers: bool = True
    line: bool = True
    marker_size: float = 3.5


def _dashed_line(draw: Any, a: tuple[float, float], b: tuple[float, float], colour: Any, width: int) -> None:
    n = max(1, int(math.dist(a, b) // 7))
    for i in range(0, n, 2):
        s, e = i / n, min(1.0, (i + 1) / n)
        draw.line(
            (
                a[0] + (b[0] - a[0]) * s,
                a[1] + (b[1] - a[1]) * s,
                a[0] + (b[0] - a[0]) * e,
                a[1] + (b[1] - a[1]) * e,
            ),
            fill=colour,
            width=width,
        )


def line_chart(
    image: Any,
    box: tuple[int, int, int, int],
    series: Sequence[Series],
    *,
    x_max: float,
    y_label: str,
    x_label: str | None = None,
    y_max: float | None = None,
    y_format: str = "{:.2f}",
    legend: str = "right",
) -> None:
    """Draw a framed line chart with grid, ticks, axis labels and a legend into ``box`` of a PIL ``image``.

    Args:
        image: A PIL RGB image.
        box: ``(left, top, right, bottom)`` of the plot frame; tick labels go left of and below it.
        series: The lines; points outside ``[0, x_max] x [0, y_max]`` are clipped to the frame.
        x_max: Right end of the x axis (ticks at round values up to it).
        y_label: Text above the frame, left.
        x_label: Text below the x tick labels (``None``: none).
        y_max: Top of the y axis (default: the largest value, rounded up to a tick).
        y_format: Format of the y tick labels.
        legend: Legend in the top ``"right"`` or top ``"left"`` corner of the frame.

    Examples:
        >>> from PIL import Image
        >>> from maskrcnn_custom._utils.drawing import Series, line_chart
        >>> img = Image.new("RGB", (400, 300), "white")
        >>> line_chart(img, (60, 40, 380, 250), [Series("loss", [(0, 2.0), (10, 1.0)], (0, 0, 255))],
        ...            x_max=10, y_label="loss")
    """
    from PIL import ImageDraw

    draw = ImageDraw.Draw(image)
    small, normal = font(13), font(15)
    x0, y1, x1, y0 = box
    values = [y for s in series for _, y in s.points if math.isfinite(y)]
    top = y_max if y_max is not None else max([1e-9, *values])
    y_ticks = nice_ticks(top)
    right = x_max if x_max > 0 else 1.0
    x_ticks = [t for t in nice_ticks(right) if t <= right * (1 + 1e-9)]
    top = y_ticks[-1]

    def xy(x: float, y: float) -> tuple[float, float]:
        x = min(max(x, 0.0), right)
        y = min(max(y, 0.0), top)
        return x0 + (x1 - x0) * x / right, y0 - (y0 - y1) * y / top

    for y in y_ticks:
        py = xy(0, y)[1]
        draw.line((x0, py, x1, py), fill=(228, 228, 228))
        draw.text((x0 - 6, py), y_format.format(y), fill="black", font=small, anchor="rm")
    for x in x_ticks:
        px = xy(x, 0)[0]
        draw.line((px, y0, px, y0 + 4), fill="black")
        draw.text((px, y0 + 7), f"{x:g}", fill="black", font=small, anchor="mt")
    draw.rectangle((x0, y1, x1, y0), outline="black")
    draw.text((x0, y1 - 8), y_label, fill="black", font=normal, anchor="ld")
    if x_label:
        draw.text(((x0 + x1) / 2, y0 + 26), x_label, fill="black", font=normal, anchor="mt")
    for s in series:
        pts = [xy(x, y) for x, y in s.points if math.isfinite(y)]
        for a, b in itertools.pairwise(pts if s.line else []):
            if s.dashed:
                _dashed_line(draw, a, b, s.colour, 2)
            else:
                draw.line((*a, *b), fill=s.colour, width=2)
        if s.markers:
            r = s.marker_size
            for px, py in pts:
                draw.ellipse(
                    (px - r, py - r, px + r, py + r), fill=s.colour, outline="black" if r > 4 else None
                )
    # legend, top right inside the frame, on a white box
    rows = [s for s in series if s.label]
    if rows:
        w = max(text_size(draw, s.label, small)[0] for s in rows) + 48
        lx, ly = (x1 - w - 8, y1 + 8) if legend == "right" else (x0 + 8, y1 + 8)
        draw.rectangle((lx, ly, lx + w, ly + 20 * len(rows) + 6), fill="white", outline=(170, 170, 170))
        for i, s in enumerate(rows):
            cy = ly + 13 + 20 * i
            if s.line and s.dashed:
                _dashed_line(draw, (lx + 6, cy), (lx + 34, cy), s.colour, 2)
            elif s.line:
                draw.line((lx + 6, cy, lx + 34, cy), fill=s.colour, width=2)
            if s.markers:
                r = s.marker_size
                draw.ellipse(
                    (lx + 20 - r, cy - r, lx + 20 + r, cy + r),
                    fill=s.colour,
                    outline="black" if r > 4 else None,
                )
            draw.text((lx + 40, cy), s.label, fill="black", font=small, anchor="lm")
