"""Offline, every Hub call fails within 2 seconds with the library's message; cached files still load."""

from __future__ import annotations

import socket
import time

import pytest

from helpers.hub import tiny_model
from maskrcnn_custom import from_pretrained, maskrcnn_resnet18_fpn, push_to_hub, save_pretrained
from maskrcnn_custom.cli import cli_message, main
from maskrcnn_custom.weights.download import hub_download, hub_unreachable_reason


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture
def unreachable(hub_stand_in, monkeypatch):
    """HF_ENDPOINT points at a closed port, without HF_HUB_OFFLINE: the library must notice by itself."""
    from huggingface_hub import constants

    url = f"http://127.0.0.1:{_closed_port()}"
    hub_stand_in.stop()
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setenv("HF_ENDPOINT", url)
    return url


def _timed(call):
    start = time.perf_counter()
    with pytest.raises((FileNotFoundError, ConnectionError)) as info:
        call()
    return time.perf_counter() - start, str(info.value)


def test_unreachable_endpoint_fails_fast_with_the_library_message(unreachable, capsys):
    for call in (
        lambda: from_pretrained("org/thin", progress=False),
        lambda: maskrcnn_resnet18_fpn(weights="org/thin"),
        lambda: maskrcnn_resnet18_fpn(weights_backbone="IMAGENET1K_V1", progress=False),
        lambda: hub_download("timm/resnet18.tv_in1k", "model.safetensors", what="weights_backbone"),
    ):
        elapsed, message = _timed(call)
        assert elapsed < 2.0, (elapsed, message)
        assert "cannot be reached" in message and "not in the local cache" in message, message
    elapsed, message = _timed(lambda: push_to_hub(tiny_model(), "org/thin"))
    assert elapsed < 2.0 and "the Hub cannot be reached" in message
    assert "Retrying" not in capsys.readouterr().err


def test_hf_hub_offline_fails_fast(hub_stand_in):
    hub_stand_in.go_offline()
    elapsed, message = _timed(lambda: from_pretrained("org/thin", progress=False))
    assert elapsed < 2.0 and "HF_HUB_OFFLINE=1" in message
    elapsed, message = _timed(lambda: push_to_hub(tiny_model(), "org/thin"))
    assert elapsed < 2.0 and "HF_HUB_OFFLINE=1 is set" in message


def test_cached_files_still_load_when_the_hub_is_unreachable(hub_stand_in, tmp_path, monkeypatch):
    folder = save_pretrained(tiny_model(), tmp_path / "saved")
    hub_stand_in.add_repo("org/thin", folder)
    first = from_pretrained("org/thin", progress=False)
    # Now the network goes away without anyone setting HF_HUB_OFFLINE.
    from huggingface_hub import constants

    url = f"http://127.0.0.1:{_closed_port()}"
    hub_stand_in.stop()
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    start = time.perf_counter()
    again = from_pretrained("org/thin", progress=False)
    assert time.perf_counter() - start < 2.0
    for key, value in first.state_dict().items():
        assert again.state_dict()[key].equal(value), key


def test_probe(unreachable, hub_stand_in):
    assert "cannot connect to 127.0.0.1" in hub_unreachable_reason(unreachable, timeout=0.5)
    assert "has no host name" in hub_unreachable_reason("not a url")


def test_probe_passes_for_a_listening_server():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert hub_unreachable_reason(f"http://127.0.0.1:{server.getsockname()[1]}", timeout=1.0) is None


def test_cli_names_flags_not_python_arguments(unreachable, tmp_path, capsys):
    image = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (32, 32)).save(image)
    start = time.perf_counter()
    code = main(
        [
            "predict",
            str(image),
            "--weights",
            "org/thin",
            "--out",
            str(tmp_path / "out"),
            "--formats",
            "labels",
        ]
    )
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2 and elapsed < 2.0, (code, elapsed, err)
    assert "maskrcnn-custom predict: error: --weights: file 'checksums.json'" in err or "--weights:" in err, (
        err
    )
    assert "from_pretrained" not in err and "cache_dir=" not in err and "local_files_only" not in err, err


def test_cli_message_of_an_offline_backbone_download(unreachable):
    _, message = _timed(lambda: maskrcnn_resnet18_fpn(weights_backbone="IMAGENET1K_V1", progress=False))
    assert "weights_backbone=None" in message
    text = cli_message(message)
    assert "--weights-backbone none" in text and "weights_backbone" not in text and "cache_dir=" not in text
