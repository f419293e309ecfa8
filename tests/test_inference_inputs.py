import numpy as np
import pytest
import torch
from PIL import Image

from maskrcnn_custom.inference import check_images, load_image


def _load(x):
    return [load_image(item) for item in check_images(x)]


def _rgb_u8(h=20, w=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_every_accepted_type_gives_the_same_float_rgb_tensor(tmp_path):
    arr = _rgb_u8()
    expected = torch.from_numpy(arr).permute(2, 0, 1).float() / 255
    path = tmp_path / "img.png"
    Image.fromarray(arr).save(path)
    inputs = [
        arr,  # HWC uint8
        arr.transpose(2, 0, 1).astype(np.float32) / 255,  # CHW float
        torch.from_numpy(arr).permute(2, 0, 1).contiguous(),  # CHW uint8 tensor
        expected.clone(),  # CHW float tensor
        Image.fromarray(arr),  # PIL
        str(path),  # str path
        path,  # PathLike
    ]
    out = _load(inputs)
    assert len(out) == len(inputs)
    for i, t in enumerate(out):
        assert t.shape == (3, 20, 30) and t.dtype == torch.float32, i
        torch.testing.assert_close(t, expected, atol=1e-6, rtol=0, msg=f"input {i}")


def test_batch_tensor_is_split_into_images():
    batch = torch.rand(3, 3, 16, 16)
    out = _load(batch)
    assert len(out) == 3
    torch.testing.assert_close(out[2], batch[2])


def test_source_is_kept_for_paths(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(_rgb_u8()).save(path)
    items = check_images([str(path), _rgb_u8()])
    assert items[0].source == str(path) and items[1].source is None


@pytest.mark.parametrize(
    "make",
    [
        lambda g: g,  # HW uint8 array
        lambda g: g[:, :, None],  # HW1 uint8 array
        lambda g: torch.from_numpy(g),  # HW uint8 tensor
        lambda g: torch.from_numpy(g)[None].float() / 255,  # 1HW float tensor
        lambda g: Image.fromarray(g, mode="L"),  # PIL grayscale
        lambda g: g.astype(np.float32) / 255,  # HW float array
    ],
)
def test_grayscale_is_replicated_to_three_channels(make):
    gray = np.random.default_rng(1).integers(0, 256, size=(12, 14), dtype=np.uint8)
    [t] = _load(make(gray))
    assert t.shape == (3, 12, 14)
    expected = torch.from_numpy(gray).float() / 255
    for c in range(3):
        torch.testing.assert_close(t[c], expected, atol=1e-6, rtol=0)


def test_16_bit_grayscale_png_uses_the_full_range(tmp_path):
    gray = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(gray).save(path)
    [t] = _load(path)
    torch.testing.assert_close(t[0], torch.from_numpy(gray.astype(np.float32) / 65535), atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["numpy", "tensor", "pil"])
def test_rgba_drops_alpha(kind):
    rgba = np.random.default_rng(2).integers(0, 256, size=(10, 11, 4), dtype=np.uint8)
    x = {
        "numpy": rgba,
        "tensor": torch.from_numpy(rgba).permute(2, 0, 1).contiguous(),
        "pil": Image.fromarray(rgba, mode="RGBA"),
    }[kind]
    [t] = _load(x)
    torch.testing.assert_close(t, torch.from_numpy(rgba[..., :3]).permute(2, 0, 1).float() / 255)


@pytest.mark.parametrize(
    ("bad", "exc", "words"),
    [
        (b"bytes", TypeError, ["images[1]", "bytes", "not an image"]),
        ({"a": 1}, TypeError, ["images[1]", "dict", "not an image"]),
        (None, TypeError, ["images[1]", "NoneType"]),
        (torch.rand(2, 8, 8), ValueError, ["images[1]", "2 channels"]),
        (torch.rand(1, 1, 3, 8, 8), ValueError, ["images[1]", "shape"]),
        (torch.rand(3, 8, 8) * 255, ValueError, ["images[1]", "[0, 1]", "255"]),
        (torch.full((3, 8, 8), float("nan")), FloatingPointError, ["images[1]", "NaN"]),
        (torch.zeros(3, 8, 8, dtype=torch.int32), TypeError, ["images[1]", "int32"]),
        (np.zeros((8, 8, 3), dtype=np.float32), ValueError, ["images[1]", "HxWxC", "transpose"]),
        (np.zeros((8, 8, 3), dtype=np.int64), TypeError, ["images[1]", "int64"]),
        (np.zeros((8, 8, 2), dtype=np.uint8), ValueError, ["images[1]", "2 channels"]),
        (np.zeros((3, 0, 8), dtype=np.float32), ValueError, ["images[1]", "empty"]),
        ("/no/such/image.png", FileNotFoundError, ["images[1]", "/no/such/image.png"]),
    ],
)
def test_bad_items_are_rejected_with_index_and_type(bad, exc, words):
    with pytest.raises(exc) as info:
        check_images([torch.rand(3, 8, 8), bad])
    for word in words:
        assert word in str(info.value)


def test_unreadable_file_is_rejected(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not a picture")
    with pytest.raises(ValueError, match=r"images\[0\].*not an image file"):
        check_images([path])
