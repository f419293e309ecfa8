"""One image reader: CocoDataset and predict's reader give the same exact pixels for every kind of file."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from maskrcnn_custom.data import CocoDataset, check_image_file, pil_image_to_tensor, read_image
from maskrcnn_custom.inference import check_images, load_image

H, W = 24, 32


def _coco_image(tmp_path, name, save):
    """A one-image COCO folder whose image is written by ``save(path)``; returns (dataset, path)."""
    (tmp_path / "images").mkdir(exist_ok=True)
    path = tmp_path / "images" / name
    save(path)
    data = {
        "images": [{"id": 1, "file_name": name, "height": H, "width": W}],
        "categories": [{"id": 1, "name": "rod"}],
        "annotations": [],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    return CocoDataset.from_dir(tmp_path), path


def _predict_reader(path):
    return load_image(check_images(str(path))[0])


def _rng(seed=0):
    return np.random.default_rng(seed)


def _both_readers_agree(tmp_path, name, save, expected):
    ds, path = _coco_image(tmp_path, name, save)
    from_dataset = ds[0][0]
    from_predict = _predict_reader(path)
    assert from_dataset.dtype == from_predict.dtype == torch.float32
    assert from_dataset.shape == from_predict.shape == (3, H, W)
    assert torch.equal(from_dataset, from_predict)
    assert torch.equal(from_dataset, expected)
    assert torch.equal(read_image(path), expected)
    # A PIL image passed to predict goes through the same conversion.
    with Image.open(path) as im:
        assert torch.equal(load_image(check_images(im)[0]), expected)


def test_16_bit_png_is_scaled_by_65535_in_dataset_and_predict(tmp_path):
    arr = _rng().integers(0, 65536, size=(H, W), dtype=np.uint16)
    arr[0, 0], arr[0, 1] = 0, 65535

    def save(path):
        Image.fromarray(arr).save(path)

    expected = torch.from_numpy(arr.astype(np.float32) / 65535.0).expand(3, -1, -1)
    _both_readers_agree(tmp_path, "deep.png", save, expected)
    image = read_image(tmp_path / "images" / "deep.png")
    # Not almost pure white, as an 8-bit clip would give: the mean of uniform 16-bit noise is about 0.5.
    assert float((image == 1.0).float().mean()) < 0.01
    assert 0.4 < float(image.mean()) < 0.6


def test_16_bit_tiff_is_scaled_by_65535(tmp_path):
    arr = _rng(1).integers(0, 65536, size=(H, W), dtype=np.uint16)
    expected = torch.from_numpy(arr.astype(np.float32) / 65535.0).expand(3, -1, -1)
    _both_readers_agree(tmp_path, "deep.tif", lambda p: Image.fromarray(arr).save(p), expected)


def test_grayscale_is_replicated_to_three_channels(tmp_path):
    arr = _rng(2).integers(0, 256, size=(H, W), dtype=np.uint8)
    expected = torch.from_numpy(arr).float().div(255).expand(3, -1, -1)
    _both_readers_agree(tmp_path, "gray.png", lambda p: Image.fromarray(arr).save(p), expected)


def test_rgba_alpha_is_dropped_not_composited(tmp_path):
    arr = _rng(3).integers(0, 256, size=(H, W, 4), dtype=np.uint8)
    arr[..., 3] = 0  # fully transparent: the colour values are still kept
    expected = torch.from_numpy(arr[..., :3]).permute(2, 0, 1).float().div(255)
    _both_readers_agree(tmp_path, "rgba.png", lambda p: Image.fromarray(arr, "RGBA").save(p), expected)


def test_palette_image_is_expanded_to_its_colours(tmp_path):
    index = _rng(4).integers(0, 3, size=(H, W), dtype=np.uint8)
    palette = np.array([[10, 20, 30], [200, 100, 0], [0, 255, 128]], np.uint8)

    def save(path):
        im = Image.fromarray(index, "P")
        im.putpalette(palette.flatten().tolist())
        im.save(path)

    expected = torch.from_numpy(palette[index]).permute(2, 0, 1).float().div(255)
    _both_readers_agree(tmp_path, "palette.png", save, expected)


def test_float_tiff_in_unit_range_is_kept_exactly(tmp_path):
    arr = _rng(5).random((H, W), dtype=np.float32)
    expected = torch.from_numpy(arr).expand(3, -1, -1)
    _both_readers_agree(tmp_path, "float.tif", lambda p: Image.fromarray(arr).save(p), expected)


def test_float_tiff_outside_unit_range_is_refused_not_clipped(tmp_path):
    arr = _rng(6).random((H, W), dtype=np.float32) * 1000.0
    ds, path = _coco_image(tmp_path, "big.tif", lambda p: Image.fromarray(arr).save(p))
    with pytest.raises(ValueError, match=r"big\.tif.*values in \[.*\].*\[0, 1\].*Rescale"):
        ds[0]
    with pytest.raises(ValueError, match=r"big\.tif.*Rescale"):
        _predict_reader(path)
    with pytest.raises(ValueError, match=r"images\[0\].*Rescale"):
        check_images(Image.fromarray(arr))  # a PIL float image is refused by the check, before any work


def test_float_tiff_with_nan_is_named_as_nan(tmp_path):
    arr = _rng(7).random((H, W), dtype=np.float32)
    arr[3, 4] = np.nan
    ds, path = _coco_image(tmp_path, "nan.tif", lambda p: Image.fromarray(arr).save(p))
    with pytest.raises(ValueError, match=r"nan\.tif.*contains NaN"):
        ds[0]
    with pytest.raises(ValueError, match=r"nan\.tif.*contains NaN"):
        _predict_reader(path)


def _truncated_png(path):
    arr = _rng(8).integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_png_is_refused_naming_its_path(tmp_path):
    ds, path = _coco_image(tmp_path, "cut.png", _truncated_png)
    with pytest.raises(ValueError, match=r"cut\.png.*(truncated|corrupt).*image id 1"):
        ds[0]
    with pytest.raises(ValueError, match=r"cut\.png.*(truncated|corrupt)"):
        read_image(path)
    with pytest.raises(ValueError, match=r"cut\.png.*(truncated|corrupt)"):
        check_image_file(path)
    # predict's check refuses it before any model work (it used to read only the header).
    with pytest.raises(ValueError, match=r"IMAGES\[0\].*cut\.png.*(truncated|corrupt)"):
        check_images([str(path)], name="IMAGES")


def test_not_an_image_is_refused_naming_its_path(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(ValueError, match=r"notes\.png.*not an image"):
        read_image(path)


def test_images_above_max_pixels_are_refused_from_the_header(tmp_path):
    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((H, W), np.uint8)).save(path)
    with pytest.raises(ValueError, match=r"wide\.png.*32x24 = 768 pixels.*max_pixels=100"):
        read_image(path, max_pixels=100)
    with pytest.raises(ValueError, match=r"max_pixels=100"):
        check_image_file(path, max_pixels=100)
    assert read_image(path, max_pixels=768).shape == (3, H, W)
    assert check_image_file(path) == (H, W)
    with pytest.raises(ValueError, match="max_pixels must be"):
        read_image(path, max_pixels=0)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    # A 1-bit PNG of 20000 x 20000 pixels (400 M, above the default limit) is a few kilobytes on disk.
    path = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(path)
    assert path.stat().st_size < 200_000
    with pytest.raises(ValueError, match=r"bomb\.png.*(max_pixels|too large)"):
        read_image(path)
    with pytest.raises(ValueError, match=r"bomb\.png"):
        check_images(str(path))


def test_32_bit_integer_images_are_read_as_16_bit_or_refused():
    arr = np.array([[0, 65535], [1000, 30000]], np.int32)
    t = pil_image_to_tensor(Image.fromarray(arr, "I"))
    assert torch.equal(t, torch.from_numpy(arr.astype(np.float32) / 65535.0).expand(3, -1, -1))
    # A dark 32-bit image (all values <= 255) is still 16-bit data: the scale does not depend on the content.
    dark = np.array([[0, 200], [100, 255]], np.int32)
    t = load_image(check_images(Image.fromarray(dark, "I"))[0])
    assert torch.equal(t, torch.from_numpy(dark.astype(np.float32) / 65535.0).expand(3, -1, -1))
    with pytest.raises(ValueError, match=r"32-bit integer.*\[0, 70000\]"):
        pil_image_to_tensor(Image.fromarray(np.array([[0, 70000]], np.int32), "I"), source="x")


def test_cli_predict_refuses_a_truncated_png_before_loading_weights(tmp_path, capsys):
    from maskrcnn_custom.cli import main

    path = tmp_path / "cut.png"
    _truncated_png(path)
    missing_weights = str(tmp_path / "no-such-weights")  # the image error must come first
    code = main(
        ["predict", str(path), "--weights", missing_weights, "--out", str(tmp_path / "o"), "--no-progress"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "cut.png" in err and ("truncated" in err or "corrupt" in err) and "no-such-weights" not in err
    assert not (tmp_path / "o").exists()
