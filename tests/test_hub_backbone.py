"""ImageNet backbone weights through the real huggingface_hub client and a local Hub stand-in."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from maskrcnn_custom import ResNet18BackboneWeights, maskrcnn_resnet18_fpn
from maskrcnn_custom.weights import backbone_weights_enum

ENTRY = ResNet18BackboneWeights.IMAGENET1K_V1
PINNED = ENTRY.value.revision


def _timm_state(arch: str = "resnet18", seed: int = 0) -> dict[str, torch.Tensor]:
    """A random ResNet state dict named like timm's ``{arch}.tv_in1k`` (torchvision's keys, ``fc.*`` included)."""
    torch.manual_seed(seed)
    state = getattr(torchvision.models, arch)(weights=None).state_dict()
    for i, key in enumerate(k for k in state if k.endswith("num_batches_tracked")):
        state[key] = torch.tensor(100 + i)
    for key in (k for k in state if k.endswith("running_var")):
        state[key] = torch.rand_like(state[key]) + 0.5
    return state


@pytest.fixture(scope="module")
def timm_repo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timm_resnet18")
    state = _timm_state()
    assert any(k.startswith("fc.") for k in state) and any(k.endswith("num_batches_tracked") for k in state)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text('{"architecture": "resnet18", "num_classes": 1000}')
    return folder, state


def _publish(hub_stand_in, timm_repo, monkeypatch, *, sha256: str | None = "match") -> None:
    folder, _ = timm_repo
    hub_stand_in.add_repo("timm/resnet18.tv_in1k", folder, commit=PINNED, branches=("main",))
    if sha256 == "match":
        sha256 = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    monkeypatch.setattr(ENTRY, "_value_", dataclasses.replace(ENTRY.value, sha256=sha256))


def _assert_body_matches(
    model: torch.nn.Module, state: dict[str, torch.Tensor], *, with_counters: bool
) -> None:
    body = model.backbone.body.state_dict()
    expected = {k: v for k, v in state.items() if not k.startswith("fc.")}
    if not with_counters:
        expected = {k: v for k, v in expected.items() if not k.endswith("num_batches_tracked")}
    assert set(body) == set(expected)
    for key, value in expected.items():
        assert torch.equal(body[key], value.to(body[key].dtype)), key


def test_enum_member_downloads_the_pinned_revision_and_loads(hub_stand_in, timm_repo, monkeypatch):
    _publish(hub_stand_in, timm_repo, monkeypatch)
    model = maskrcnn_resnet18_fpn(weights_backbone=ENTRY, progress=False)
    assert model.config.backbone.norm == "frozen_bn"
    _assert_body_matches(model, timm_repo[1], with_counters=False)
    assert hub_stand_in.requests
    assert all(
        path == f"/timm/resnet18.tv_in1k/resolve/{PINNED}/model.safetensors"
        for _, path in hub_stand_in.requests
    )


def test_enum_name_repo_id_and_local_file(hub_stand_in, timm_repo, monkeypatch):
    _publish(hub_stand_in, timm_repo, monkeypatch)
    by_name = maskrcnn_resnet18_fpn(weights_backbone="IMAGENET1K_V1", progress=False)
    by_repo = maskrcnn_resnet18_fpn(weights_backbone=f"timm/resnet18.tv_in1k@{PINNED}", progress=False)
    local = maskrcnn_resnet18_fpn(weights_backbone=timm_repo[0] / "model.safetensors")
    for model in (by_name, by_repo, local):
        _assert_body_matches(model, timm_repo[1], with_counters=False)


def test_trainable_batchnorm_keeps_the_counters(hub_stand_in, timm_repo, monkeypatch):
    _publish(hub_stand_in, timm_repo, monkeypatch)
    model = maskrcnn_resnet18_fpn(weights_backbone=ENTRY, backbone_norm="bn", progress=False)
    _assert_body_matches(model, timm_repo[1], with_counters=True)


def test_offline_uses_the_cache_and_fails_clearly_without_it(hub_stand_in, timm_repo, monkeypatch):
    _publish(hub_stand_in, timm_repo, monkeypatch)
    maskrcnn_resnet18_fpn(weights_backbone=ENTRY, progress=False)
    hub_stand_in.go_offline()
    seen = len(hub_stand_in.requests)
    model = maskrcnn_resnet18_fpn(weights_backbone=ENTRY)
    _assert_body_matches(model, timm_repo[1], with_counters=False)
    assert len(hub_stand_in.requests) == seen
    with pytest.raises(FileNotFoundError) as info:
        maskrcnn_resnet18_fpn(weights_backbone="timm/resnet18.tv2_in1k")
    message = str(info.value)
    assert "'timm/resnet18.tv2_in1k'" in message and "'model.safetensors'" in message
    assert "HF_HUB_OFFLINE" in message and "weights_backbone=None" in message


def test_sha256_mismatch_is_refused(hub_stand_in, timm_repo, monkeypatch):
    _publish(hub_stand_in, timm_repo, monkeypatch, sha256=ResNet18BackboneWeights.IMAGENET1K_V1.value.sha256)
    with pytest.raises(ValueError, match=r"SHA-256 [0-9a-f]{64} does not match the expected 694f673d"):
        maskrcnn_resnet18_fpn(weights_backbone=ENTRY, progress=False)


def test_wrong_revision_and_missing_repo(hub_stand_in, timm_repo, monkeypatch):
    _publish(hub_stand_in, timm_repo, monkeypatch)
    with pytest.raises(FileNotFoundError, match=r"at revision 'v0'.*revision does not exist"):
        maskrcnn_resnet18_fpn(weights_backbone="timm/resnet18.tv_in1k@v0", progress=False)
    with pytest.raises(FileNotFoundError, match=r"'timm/resnet18.nope'.*does not exist or is private"):
        maskrcnn_resnet18_fpn(weights_backbone="timm/resnet18.nope", progress=False)


def test_weights_of_another_depth_are_listed(tmp_path):
    path = tmp_path / "resnet34.safetensors"
    save_file(_timm_state("resnet34"), str(path))
    with pytest.raises(
        ValueError, match=r"do not fit the resnet18 backbone: missing keys \[\] \(0\), unexpected keys"
    ):
        maskrcnn_resnet18_fpn(weights_backbone=path)


def test_progress_flag_switches_the_hub_progress_bar(hub_stand_in, timm_repo, monkeypatch, capfd):
    import importlib

    hf_tqdm = importlib.import_module("huggingface_hub.utils.tqdm")  # the module, not the class it exports

    monkeypatch.setenv("TQDM_POSITION", "-1")  # huggingface_hub shows bars even without a terminal
    monkeypatch.setattr(hf_tqdm, "HF_HUB_DISABLE_PROGRESS_BARS", None)
    hub_stand_in.add_repo("org/r18-a", timm_repo[0])
    hub_stand_in.add_repo("org/r18-b", timm_repo[0])
    capfd.readouterr()
    maskrcnn_resnet18_fpn(weights_backbone="org/r18-a", progress=True)
    shown = capfd.readouterr().err
    maskrcnn_resnet18_fpn(weights_backbone="org/r18-b", progress=False)
    silent = capfd.readouterr().err
    assert "model.safetensors" in shown and "100%" in shown
    assert "model.safetensors" not in silent and "100%" not in silent


def test_every_member_records_its_source_and_metrics():
    for arch in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
        for member in backbone_weights_enum(arch):
            w = member.value
            assert w.repo_id.startswith(f"timm/{arch}.tv")
            assert w.meta["license"] == "bsd-3-clause"
            assert set(w.meta["metrics"]) == {"acc@1", "acc@5"}
            assert len(w.revision) == 40 or w.revision == "main"
            assert w.meta["revision_pinned"] == (w.revision != "main")
            if w.revision != "main":
                assert w.revision in w.meta["revision_source"]


def test_pinned_sha256_values_are_well_formed_and_sourced():
    pinned = []
    for arch in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
        for member in backbone_weights_enum(arch):
            w = member.value
            if w.sha256 is not None:
                assert len(w.sha256) == 64 and int(w.sha256, 16) >= 0
                assert w.meta["sha256_source"].startswith(f"https://huggingface.co/{w.repo_id}/blob/")
                assert w.revision != "main"
                pinned.append(w.repo_id)
    assert "timm/resnet152.tv_in1k" in pinned and len(pinned) >= 3
