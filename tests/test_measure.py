import math

import numpy as np
import pytest
import torch

from helpers.shapes import CENTRE, arc, capsule, flip_boundary
from maskrcnn_custom.measure import (
    MEASUREMENT_FIELDS,
    boundary_region,
    distance_to_background,
    measure_mask,
    measure_masks,
    min_area_rect,
    skeletonize,
)

ANGLES = (0, 30, 45, 90, 135)


@pytest.mark.parametrize("angle", ANGLES)
@pytest.mark.parametrize(("length", "width"), [(40, 3), (60, 5), (90, 9), (100, 12)])
def test_straight_capsule_length_width_angle(angle, length, width):
    r = measure_mask(capsule(128, length, width, angle))
    assert r.length == pytest.approx(length, rel=0.03)
    assert abs(r.mean_width - width) <= 1.0
    assert abs(r.max_width - width) <= (1.0 if width >= 5 else 1.5)  # 3-px rods: pixel steps of the profile
    assert abs((r.box_angle - angle + 90) % 180 - 90) < 1.0
    assert abs((r.orientation - angle + 90) % 180 - 90) < 1.0
    assert r.tortuosity == pytest.approx(1.0, abs=0.01)
    assert r.elongation == pytest.approx(r.length / r.mean_width)
    assert np.hypot(*np.diff(r.centerline, axis=0).T).sum() == pytest.approx(r.length)
    assert r.box_length == pytest.approx(length, abs=1.5)
    assert r.box_width == pytest.approx(width, abs=1.5)
    cx, cy = CENTRE(128)
    assert (r.box_cx, r.box_cy) == (pytest.approx(cx, abs=0.75), pytest.approx(cy, abs=0.75))


@pytest.mark.parametrize("start", ANGLES)
@pytest.mark.parametrize(("radius", "theta", "width"), [(40, 90, 5), (30, 180, 4), (45, 60, 7), (25, 270, 5)])
def test_circular_arc_length_and_tortuosity(start, radius, theta, width):
    r = measure_mask(arc(128, radius, theta, width, start_deg=start))
    t = math.radians(theta)
    assert r.length == pytest.approx(radius * t, rel=0.05)
    assert abs(r.mean_width - width) <= 1.0
    chord_ratio = t / (2 * math.sin(t / 2))
    assert r.tortuosity == pytest.approx(chord_ratio, rel=0.06 if theta <= 180 else 0.12)
    # the centre line runs along the arc: every point within a pixel or two of the mid radius
    d = np.hypot(r.centerline[:, 0] - 64, r.centerline[:, 1] - 64)
    assert np.abs(d - radius).max() < width / 2 + 1.5


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("angle", ANGLES)
def test_noisy_masks_stay_within_tolerance(seed, angle):
    m = flip_boundary(capsule(128, 80, 7, angle), 0.1, seed)
    clean = capsule(128, 80, 7, angle)
    assert (m != clean).sum() > 10  # the noise is real
    r = measure_mask(m)
    assert r.length == pytest.approx(80, rel=0.04)
    assert abs(r.mean_width - 7) <= 1.0
    a = measure_mask(flip_boundary(arc(128, 40, 90, 6, start_deg=angle), 0.1, seed))
    assert a.length == pytest.approx(40 * math.pi / 2, rel=0.06)


def test_max_width_sees_a_bulge():
    rod = capsule(128, 90, 5, 30)
    bulge = rod | capsule(128, 24, 13, 30)
    r, b = measure_mask(rod), measure_mask(bulge)
    assert r.max_width == pytest.approx(5, abs=1.0)
    assert b.max_width == pytest.approx(13, abs=2.0) and b.max_width > r.max_width + 5
    assert b.length == pytest.approx(90, rel=0.03)


def test_empty_mask_and_batch_api():
    masks = torch.zeros(3, 32, 32, dtype=torch.bool)
    masks[1, 10:14, 2:30] = True
    masks[2, 5, 5] = True
    out = measure_masks(masks)
    assert len(out) == 3
    assert out[0].area == 0 and all(math.isnan(getattr(out[0], f)) for f in MEASUREMENT_FIELDS[1:])
    assert out[0].to_dict()["length"] is None and out[0].to_dict()["area"] == 0
    assert out[1].length == pytest.approx(28, rel=0.03) and out[1].area == 112
    assert out[2].length == pytest.approx(1.0, abs=0.1) and out[2].mean_width == pytest.approx(1.0, abs=0.1)
    assert list(out[1].to_dict()) == list(MEASUREMENT_FIELDS)
    assert measure_masks(np.zeros((0, 8, 8), bool)) == []
    with pytest.raises(ValueError, match="masks must be"):
        measure_masks(torch.zeros(8, 8))
    with pytest.raises(TypeError, match="threshold it first"):
        measure_masks(torch.full((1, 8, 8), 0.7))


def test_building_blocks_on_small_arrays():
    m = np.zeros((9, 12), bool)
    m[2:7, 1:11] = True  # 5 x 10 rectangle
    assert distance_to_background(m, np.array([[4, 5], [2, 1], [4, 1]])).tolist() == [3.0, 1.0, 1.0]
    sk = skeletonize(m)
    assert sk[4, 3:8].all() and sk.sum() == 5  # the middle row, ends eroded by the thinning
    assert min_area_rect(m) == (6.0, 4.5, 10.0, 5.0, 0.0)
    assert min_area_rect(np.zeros((3, 3))) is None
    b = boundary_region(torch.from_numpy(m), dilation=1)
    assert int(b.sum()) == 5 * 10 - 3 * 8
    b2 = boundary_region(torch.from_numpy(m)[None], dilation=2)
    assert int(b2.sum()) == 5 * 10 - 1 * 6


def test_docs_measurement_figure(tmp_path):
    import runpy
    from pathlib import Path

    from PIL import Image

    script = runpy.run_path(str(Path(__file__).parents[1] / "docs" / "gen_measuring_figure.py"))
    masks = script["synthetic_objects"]()
    shapes = measure_masks(masks)
    assert [round(s.tortuosity, 1) for s in shapes][:2] == [1.0, 1.0] and shapes[2].tortuosity > 1.1
    path = script["main"](["--out", str(tmp_path / "m.png")])
    img = Image.open(path)
    assert img.size == (160 * 3 + 300, 160 * 3)
    assert len(img.convert("RGB").getcolors(1 << 16)) > 8  # masks, boxes, lines and text were drawn
