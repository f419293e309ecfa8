"""The held-out preset of the synthetic generator: what differs from the default, determinism, statistics."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from maskrcnn_custom.data import SYNTHETIC_PRESETS, SyntheticConfig, SyntheticElongatedDataset

SIZE = 96


def _rod_stats(config: SyntheticConfig, *, num_images: int = 30, seed: int = 5):
    """Lengths and widths (fractions of the image side) of the rods that touch no border, from their masks."""
    ds = SyntheticElongatedDataset(num_images, image_size=SIZE, seed=seed, config=config)
    lengths, widths = [], []
    for i in range(len(ds)):
        for m in ds[i][1]["masks"].numpy().astype(bool):
            ys, xs = np.nonzero(m)
            if ys.min() == 0 or xs.min() == 0 or ys.max() == SIZE - 1 or xs.max() == SIZE - 1:
                continue  # clipped by the image border: its length is not the drawn one
            pts = np.stack([xs, ys], 1).astype(float)
            pts -= pts.mean(0)
            axis = np.linalg.svd(pts, full_matrices=False)[2][0]
            proj = pts @ axis
            length = proj.max() - proj.min() + 1
            lengths.append(length / SIZE)
            widths.append(m.sum() / length / SIZE)
    return np.array(lengths), np.array(widths)


def test_presets_by_name_and_the_fields_that_differ():
    assert SYNTHETIC_PRESETS == ("default", "heldout")
    assert SyntheticConfig.preset("default") == SyntheticConfig()
    held = SyntheticConfig.heldout()
    assert SyntheticConfig.preset("heldout") == held
    default = SyntheticConfig()
    changed = {
        f.name
        for f in dataclasses.fields(SyntheticConfig)
        if getattr(held, f.name) != getattr(default, f.name)
    }
    assert changed == {
        "num_objects",
        "length_range",
        "width_range",
        "curvature_range",
        "wave_amplitude",
        "background_range",
        "gradient_strength",
        "noise_std",
        "contrast_range",
        "color_jitter",
        "texture",
        "shading",
        "invert_probability",
        "opposite_polarity_probability",
    }
    # Partly outside the training ranges: thinner and longer objects, more bend, both polarities.
    assert held.width_range[0] < default.width_range[0]
    assert held.length_range[1] > default.length_range[1]
    assert held.curvature_range[1] > default.curvature_range[1]
    assert held.invert_probability == 0.5 and held.opposite_polarity_probability > 0
    assert SyntheticConfig.heldout(kinds=("rod",)).kinds == ("rod",)
    with pytest.raises(ValueError, match="unknown synthetic preset 'nope'"):
        SyntheticConfig.preset("nope")
    with pytest.raises(ValueError, match="opposite_polarity_probability"):
        SyntheticConfig(opposite_polarity_probability=1.5)


def test_dataset_takes_a_preset_name_and_is_deterministic():
    a = SyntheticElongatedDataset(6, image_size=64, seed=3, config="heldout")
    b = SyntheticElongatedDataset(6, image_size=64, seed=3, config=SyntheticConfig.heldout())
    assert a.config == SyntheticConfig.heldout()
    for i in (5, 0, 3):
        (ia, ta), (ib, tb) = a[i], b[i]
        assert torch.equal(ia, ib) and torch.equal(ta["masks"], tb["masks"])
        assert torch.equal(ta["boxes"], tb["boxes"])
    # The held-out images are other images than the default's of the same seed.
    default = SyntheticElongatedDataset(6, image_size=64, seed=3)
    assert not torch.equal(a[0][0], default[0][0])
    with pytest.raises(ValueError, match="unknown synthetic preset"):
        SyntheticElongatedDataset(2, config="validation")
    with pytest.raises(TypeError, match="preset name"):
        SyntheticElongatedDataset(2, config=3)


def test_measured_object_sizes_fall_in_the_stated_ranges():
    rods = {"kinds": ("rod",), "allow_overlap": False}
    held = SyntheticConfig.heldout(**rods)
    h_len, h_wid = _rod_stats(held)
    d_len, d_wid = _rod_stats(SyntheticConfig(**rods))
    assert len(h_len) >= 20 and len(d_len) >= 20
    tol = 1.5 / SIZE  # rasterisation: a pixel either side
    assert h_len.min() >= held.length_range[0] - tol and h_len.max() <= held.length_range[1] + tol
    assert h_wid.min() >= held.width_range[0] - tol and h_wid.max() <= held.width_range[1] + tol
    # Longer and thinner than the default objects, as stated.
    assert h_len.mean() > d_len.mean() + 0.1
    assert h_wid.mean() < d_wid.mean()
    assert h_len.max() > SyntheticConfig().length_range[1]  # beyond the training range


def _polarities(config: SyntheticConfig, num_images: int = 24):
    """Per image, the signs of (object mean - mean of a 2 px ring around it), for objects of >= 40 px."""
    ds = SyntheticElongatedDataset(num_images, image_size=SIZE, seed=11, config=config)
    out = []
    for i in range(num_images):
        image, target = ds[i]
        grey = image.mean(0)
        masks = target["masks"].bool()
        union = masks.any(0)
        signs = set()
        for m in masks:
            if m.sum() < 40:
                continue
            ring = F.max_pool2d(m[None, None].float(), 5, stride=1, padding=2)[0, 0].bool() & ~union
            if ring.sum() < 10:
                continue
            signs.add(float(grey[m].mean() - grey[ring].mean()) > 0)
        out.append(signs)
    return out


def test_heldout_images_hold_dark_and_bright_objects():
    mixed = sum(len(s) == 2 for s in _polarities(SyntheticConfig.heldout()))
    alike = sum(len(s) == 2 for s in _polarities(SyntheticConfig.heldout(opposite_polarity_probability=0.0)))
    assert mixed >= 6
    assert alike < mixed
    # Over the images both polarities occur in the held-out set.
    assert set().union(*_polarities(SyntheticConfig.heldout())) == {True, False}


def test_opposite_polarity_changes_colours_only():
    """The polarity draw comes after the shapes: the same masks, other pixels."""
    ds = SyntheticElongatedDataset(3, image_size=64, seed=0)
    flipped = SyntheticElongatedDataset(
        3, image_size=64, seed=0, config=SyntheticConfig(opposite_polarity_probability=1.0)
    )
    for i in range(3):
        assert torch.equal(ds[i][1]["masks"], flipped[i][1]["masks"])
        assert not torch.equal(ds[i][0], flipped[i][0])
