"""save_pretrained records the SHA-256 of its files in checksums.json; from_pretrained verifies them first."""

from __future__ import annotations

import json
import shutil
import struct
import warnings

import pytest

from helpers.hub import tiny_model
from maskrcnn_custom import from_pretrained, maskrcnn_resnet18_fpn, save_pretrained
from maskrcnn_custom._utils.hashing import sha256_file


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return save_pretrained(tiny_model(), tmp_path_factory.mktemp("saved") / "model")


def _copy(saved, tmp_path):
    return shutil.copytree(saved, tmp_path / "copy")


def _flip_a_tensor_byte(path):
    """Flip one byte inside the tensor data (after the 8-byte length and the JSON header)."""
    data = bytearray(path.read_bytes())
    (header_len,) = struct.unpack("<Q", data[:8])
    offset = 8 + header_len + (len(data) - 8 - header_len) // 2
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def test_manifest_lists_every_file_with_its_sha256(saved):
    manifest = json.loads((saved / "checksums.json").read_text())
    assert manifest["format_version"] == 1 and manifest["algorithm"] == "sha256"
    assert set(manifest["files"]) == {"config.json", "model.safetensors", "README.md"}
    for name, digest in manifest["files"].items():
        assert digest == sha256_file(saved / name), name


def test_a_flipped_tensor_byte_is_refused_naming_the_file_and_both_hashes(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    expected = json.loads((folder / "checksums.json").read_text())["files"]["model.safetensors"]
    _flip_a_tensor_byte(folder / "model.safetensors")
    actual = sha256_file(folder / "model.safetensors")
    with pytest.raises(ValueError, match=r"integrity check failed: model\.safetensors") as info:
        from_pretrained(folder)
    assert expected in str(info.value) and actual in str(info.value)
    with pytest.raises(ValueError, match=r"integrity check failed: model\.safetensors"):
        maskrcnn_resnet18_fpn(weights=folder)


def test_an_edited_config_is_refused(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    data = json.loads((folder / "config.json").read_text())
    data["detector_kwargs"]["box_score_thresh"] = 0.9
    (folder / "config.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"integrity check failed: config\.json"):
        from_pretrained(folder)


def test_a_hub_download_is_verified_too(hub_stand_in, saved, tmp_path):
    folder = _copy(saved, tmp_path)
    _flip_a_tensor_byte(folder / "model.safetensors")
    hub_stand_in.add_repo("org/tampered", folder)
    with pytest.raises(
        ValueError, match=r"integrity check failed: model.safetensors of Hub repo 'org/tampered'"
    ):
        from_pretrained("org/tampered", progress=False)
    hub_stand_in.add_repo("org/intact", saved)
    model = from_pretrained("org/intact", progress=False)
    assert model.config == tiny_model().config
    assert ("GET", "/org/intact/resolve/main/checksums.json") in hub_stand_in.requests


def test_a_folder_without_manifest_loads_with_a_warning(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    (folder / "checksums.json").unlink()
    with pytest.warns(UserWarning, match="has no checksums.json.*save the model again"):
        model = from_pretrained(folder)
    assert model.config == tiny_model().config
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_pretrained(saved)  # an intact folder with a manifest loads silently


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "malformed"),
        ("[]", "JSON object"),
        (json.dumps({"format_version": 2, "algorithm": "sha256", "files": {}}), "format_version=2"),
        (json.dumps({"format_version": 1, "algorithm": "md5", "files": {}}), "SHA-256 hex digests"),
        (
            json.dumps({"format_version": 1, "algorithm": "sha256", "files": {"config.json": "abc"}}),
            "SHA-256",
        ),
        (
            json.dumps({"format_version": 1, "algorithm": "sha256", "files": {}}),
            "lists no SHA-256 for config",
        ),
    ],
)
def test_a_malformed_manifest_is_refused(saved, tmp_path, content, match):
    folder = _copy(saved, tmp_path)
    (folder / "checksums.json").write_text(content)
    with pytest.raises(ValueError, match=match):
        from_pretrained(folder)
