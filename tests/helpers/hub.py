"""Inputs and comparisons shared by the ``test_hub_*`` files; their model is :func:`helpers.models.hub_model`."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from helpers.models import hub_model as tiny_model
from maskrcnn_custom.weights.source import CHECKSUMS_NAME, build_checksums

__all__ = [
    "assert_same_predictions",
    "assert_same_state",
    "images",
    "predict",
    "reseal",
    "tiny_model",
    "write_resealed",
]


def reseal(folder: Path) -> Path:
    """Rewrite ``checksums.json`` for the folder's current files, as a publisher of edited files would."""
    names = [p.name for p in folder.iterdir() if p.is_file() and p.name != CHECKSUMS_NAME]
    (folder / CHECKSUMS_NAME).write_text(json.dumps(build_checksums(folder, names)))
    return folder


def write_resealed(folder: Path, name: str, data: str | bytes) -> None:
    """Replace ``folder/name`` with ``data`` and :func:`reseal` the folder (to test checks after the manifest's)."""
    path = folder / name
    path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    reseal(folder)


def images(seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(3, 64, 64, generator=g), torch.rand(3, 64, 48, generator=g)]


def predict(model: torch.nn.Module) -> list[dict[str, torch.Tensor]]:
    model.eval()
    with torch.no_grad():
        return model(images())


def assert_same_predictions(a: list[dict[str, torch.Tensor]], b: list[dict[str, torch.Tensor]]) -> None:
    assert len(a) == len(b)
    for pa, pb in zip(a, b, strict=True):
        assert set(pa) == set(pb) == {"boxes", "labels", "scores", "masks"}
        for key in pa:
            assert torch.equal(pa[key], pb[key]), key


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module, *, skip: tuple[str, ...] = ()) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert set(sa) == set(sb)
    for key in sa:
        if not key.startswith(skip):
            assert torch.equal(sa[key], sb[key]), key
