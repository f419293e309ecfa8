"""save_pretrained / from_pretrained / push_to_hub / builders' weights=, locally and through a local Hub stand-in."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from safetensors.torch import load_file

import maskrcnn_custom
from helpers.hub import (
    assert_same_predictions,
    assert_same_state,
    predict,
    reseal,
    tiny_model,
    write_resealed,
)
from maskrcnn_custom import (
    MaskRCNNWeights,
    from_pretrained,
    maskrcnn_resnet18_fpn,
    maskrcnn_resnet34_fpn,
    push_to_hub,
    save_pretrained,
)
from maskrcnn_custom.hub.pretrained import CLASS_DEPENDENT_PREFIXES

CLASS_KEYS = [
    "roi_heads.box_predictor.bbox_pred.bias",
    "roi_heads.box_predictor.bbox_pred.weight",
    "roi_heads.box_predictor.cls_score.bias",
    "roi_heads.box_predictor.cls_score.weight",
    "roi_heads.mask_predictor.mask_fcn_logits.bias",
    "roi_heads.mask_predictor.mask_fcn_logits.weight",
]


@pytest.fixture(scope="module")
def model():
    return tiny_model(num_classes=3, class_names=("__background__", "rod", "ring"))


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved") / "thin-rods"
    save_pretrained(model, folder, metrics={"segm_mAP": 0.25, "bbox_mAP": 0.5}, repo_id="org/thin-rods")
    return folder


@pytest.fixture(scope="module")
def reference(model):
    return predict(model)


# ------------------------------------------------------------------------------------------ save_pretrained


def test_save_pretrained_writes_config_weights_and_card(model, saved):
    assert sorted(p.name for p in saved.iterdir()) == [
        "README.md",
        "checksums.json",
        "config.json",
        "model.safetensors",
    ]
    config = json.loads((saved / "config.json").read_text())
    assert config["library_name"] == "maskrcnn-custom"
    assert config["library_version"] == maskrcnn_custom.__version__
    assert config["format_version"] == 1
    assert config["class_names"] == ["__background__", "rod", "ring"]
    assert config["num_classes"] == 3
    assert config["backbone"]["name"] == "resnet18"
    assert config["detector_kwargs"]["box_detections_per_img"] == 5
    tensors = load_file(str(saved / "model.safetensors"))
    state = model.state_dict()
    assert set(tensors) == set(state)
    assert all(torch.equal(tensors[k], state[k]) for k in state)


def test_model_card_front_matter_is_what_the_hub_reads(saved):
    from huggingface_hub import ModelCard

    card = ModelCard.load(saved / "README.md")
    assert card.data.library_name == "maskrcnn-custom"
    assert card.data.license == "mit"
    assert {"maskrcnn-custom", "instance-segmentation", "safetensors"} <= set(card.data.tags)
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results == {"segm_mAP": 0.25, "bbox_mAP": 0.5}
    assert 'from_pretrained("org/thin-rods")' in card.text
    assert "`rod`" in card.text and "`ring`" in card.text


def test_save_is_atomic_a_failed_write_keeps_the_old_file(model, tmp_path, monkeypatch):
    folder = save_pretrained(model, tmp_path / "m")
    before = (folder / "model.safetensors").read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", broken)
    with pytest.raises(OSError, match=r"disk full"):
        save_pretrained(model, folder)
    assert (folder / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "checksums.json",
        "config.json",
        "model.safetensors",
    ]


def test_save_pretrained_rejects_bad_input_before_writing(model, tmp_path):
    with pytest.raises(TypeError, match=r"built by maskrcnn-custom"):
        save_pretrained(torch.nn.Linear(2, 2), tmp_path / "a")
    with pytest.raises(ValueError, match=r"class_names"):
        save_pretrained(model, tmp_path / "b", class_names=["bg", "rod"])
    with pytest.raises(ValueError, match=r"metrics\['x'\]"):
        save_pretrained(model, tmp_path / "c", metrics={"x": float("nan")})
    assert not any((tmp_path / n).exists() for n in "abc")


# ------------------------------------------------------------------------------------------ from_pretrained


def test_local_round_trip_is_bit_identical(model, saved, reference):
    loaded = from_pretrained(saved)
    assert not loaded.training
    assert loaded.config == model.config
    assert_same_state(model, loaded)
    assert_same_predictions(reference, predict(loaded))


def test_hub_round_trip_then_offline_from_cache(saved, reference, hub_stand_in):
    commit = hub_stand_in.add_repo("org/thin-rods", saved)
    online = from_pretrained("org/thin-rods", progress=False)
    assert_same_predictions(reference, predict(online))
    assert ("GET", "/org/thin-rods/resolve/main/model.safetensors") in hub_stand_in.requests
    pinned = from_pretrained(f"org/thin-rods@{commit}", progress=False)
    assert_same_state(online, pinned)
    assert list(hub_stand_in.cache.glob("models--org--thin-rods/snapshots/*/model.safetensors"))

    hub_stand_in.go_offline()
    seen = len(hub_stand_in.requests)
    offline = from_pretrained("org/thin-rods")
    assert_same_state(online, offline)
    assert_same_predictions(reference, predict(offline))
    assert len(hub_stand_in.requests) == seen  # nothing reached the (stopped) server


def test_offline_with_nothing_cached_says_what_to_do(hub_stand_in):
    hub_stand_in.go_offline()
    with pytest.raises(FileNotFoundError) as info:
        from_pretrained("org/never-downloaded")
    message = str(info.value)
    assert "'org/never-downloaded'" in message and "'config.json'" in message and "'main'" in message
    assert "HF_HUB_OFFLINE" in message and "local save_pretrained folder" in message


def test_hub_failures_name_repo_revision_and_file(saved, tmp_path, hub_stand_in):
    hub_stand_in.add_repo("org/thin-rods", saved)
    with pytest.raises(FileNotFoundError, match=r"revision 'v9'.*revision does not exist"):
        from_pretrained("org/thin-rods", revision="v9")
    with pytest.raises(FileNotFoundError, match=r"'org/nope'.*does not exist or is private"):
        from_pretrained("org/nope")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_bytes((saved / "config.json").read_bytes())
    hub_stand_in.add_repo("org/partial", partial)
    with pytest.raises(
        FileNotFoundError, match=r"'model.safetensors' of Hub repo 'org/partial'.*no such file"
    ):
        from_pretrained("org/partial", progress=False)


def test_missing_local_files(saved, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no config.json"):
        from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"neither an existing folder nor a Hub repo id"):
        from_pretrained("no such folder")
    with pytest.raises(ValueError, match=r"revision='main' only applies to Hub repos"):
        from_pretrained(saved, revision="main")


def _copy(saved, tmp_path, name="copy"):
    out = tmp_path / name
    out.mkdir()
    for p in saved.iterdir():
        (out / p.name).write_bytes(p.read_bytes())
    return out


def test_config_from_a_newer_library_is_refused(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["library_version"] = "99.0.0"
    write_resealed(folder, "config.json", json.dumps(config))
    with pytest.raises(ValueError, match=r"99\.0\.0.*newer major version.*pip install -U maskrcnn-custom"):
        from_pretrained(folder)
    config["library_version"] = maskrcnn_custom.__version__
    config["rotated_boxes"] = True  # a key this version does not know
    write_resealed(folder, "config.json", json.dumps(config))
    with pytest.raises(ValueError, match=r"unknown keys \['rotated_boxes'\].*upgrade"):
        from_pretrained(folder)
    config.pop("rotated_boxes")
    config["format_version"] = 2
    write_resealed(folder, "config.json", json.dumps(config))
    with pytest.raises(ValueError, match=r"format_version=2"):
        from_pretrained(folder)


def test_foreign_config_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "resnet101", "num_classes": 1000}))
    with pytest.raises(ValueError, match=r"not written by maskrcnn-custom.*weights_backbone="):
        from_pretrained(tmp_path)


def test_shape_mismatch_lists_the_keys(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["mask_head"]["hidden_dim"] = 48
    write_resealed(folder, "config.json", json.dumps(config))
    with pytest.raises(ValueError) as info:
        from_pretrained(folder)
    message = str(info.value)
    assert (
        "roi_heads.mask_predictor.conv5_mask.weight: file (64, 32, 2, 2) vs model (64, 48, 2, 2)" in message
    )
    assert "save the model again" in message


def test_corrupt_safetensors_says_what_to_do(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    data = (folder / "model.safetensors").read_bytes()
    write_resealed(folder, "model.safetensors", data[: len(data) // 2])
    with pytest.raises(
        ValueError, match=r"model\.safetensors of folder .* corrupt or truncated.*save the model again"
    ):
        from_pretrained(folder)
    write_resealed(folder, "model.safetensors", b"\x00" * 64)
    with pytest.raises(ValueError, match=r"corrupt or truncated"):
        from_pretrained(folder)


def test_corrupt_config_json(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    write_resealed(folder, "config.json", "{not json")
    with pytest.raises(ValueError, match=r"config.json of folder .* is not valid JSON"):
        from_pretrained(folder)


def test_other_num_classes_reinitialises_only_class_layers(model, saved):
    with pytest.warns(UserWarning) as record:
        tuned = from_pretrained(saved, num_classes=5)
    message = str(record[0].message)
    assert (
        all(k.startswith(CLASS_DEPENDENT_PREFIXES) for k in CLASS_KEYS) and len(CLASS_DEPENDENT_PREFIXES) == 3
    )
    for key in CLASS_KEYS:
        assert key in message
    assert "have 3 classes" in message and "6 keys" in message
    assert tuned.config.num_classes == 5 and tuned.config.class_names is None
    assert tuned.roi_heads.box_predictor.cls_score.out_features == 5
    assert tuned.roi_heads.box_predictor.bbox_pred.out_features == 20
    assert tuned.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 5
    source, target = model.state_dict(), tuned.state_dict()
    for key in target:
        if key in CLASS_KEYS:
            assert target[key].shape != source[key].shape
        else:
            assert torch.equal(target[key], source[key]), key
    # the fresh layers follow models/init.py: small normal weights, zero biases
    assert tuned.roi_heads.box_predictor.cls_score.weight.std() < 0.05
    assert torch.count_nonzero(tuned.roi_heads.mask_predictor.mask_fcn_logits.bias) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = from_pretrained(saved, num_classes=3)  # same number: no warning, strict load
    assert_same_state(model, same)


def test_from_pretrained_validates_arguments_first(saved):
    with pytest.raises(ValueError, match=r"num_classes must be"):
        from_pretrained(saved, num_classes=1)
    with pytest.raises(ValueError, match=r"map_location"):
        from_pretrained(saved, map_location="no-such-device")
    with pytest.raises(TypeError, match=r"repo_id_or_path"):
        from_pretrained(42)
    with pytest.raises(ValueError, match=r"give the revision once"):
        from_pretrained("org/x@v1", revision="v2")


# ------------------------------------------------------------------------------------------ weights enum


def test_unpublished_enum_entry_fails_clearly_without_network(hub_stand_in):
    assert not MaskRCNNWeights.SEED_RESNET101_V1.value.published
    with pytest.raises(ValueError, match=r"SEED_RESNET101_V1.*not published"):
        from_pretrained(MaskRCNNWeights.SEED_RESNET101_V1)
    with pytest.raises(ValueError, match=r"not published"):
        from_pretrained("SEED_RESNET101_V1")
    with pytest.raises(ValueError, match=r"not published"):
        maskrcnn_custom.maskrcnn_resnet101_fpn(weights=MaskRCNNWeights.SEED_RESNET101_V1)
    assert hub_stand_in.requests == []


def test_published_enum_entry_downloads_pinned_revision_and_checks_sha256(saved, hub_stand_in, monkeypatch):
    import dataclasses
    import hashlib

    commit = hub_stand_in.add_repo("org/thin-rods", saved)
    digest = hashlib.sha256((saved / "model.safetensors").read_bytes()).hexdigest()
    entry = MaskRCNNWeights.SEED_RESNET101_V1
    published = dataclasses.replace(entry.value, repo_id="org/thin-rods", revision=commit, published=True)
    monkeypatch.setattr(entry, "_value_", dataclasses.replace(published, sha256="0" * 64))
    with pytest.raises(ValueError, match=r"SHA-256 .* does not match"):
        from_pretrained(entry, progress=False)
    monkeypatch.setattr(entry, "_value_", dataclasses.replace(published, sha256=digest))
    loaded = from_pretrained(entry, progress=False)
    assert loaded.config.backbone.name == "resnet18"
    assert all(f"/resolve/{commit}/" in path for _, path in hub_stand_in.requests)


# ------------------------------------------------------------------------------------------ builders' weights=


def test_builder_weights_from_folder_and_hub(model, saved, reference, hub_stand_in):
    local = maskrcnn_resnet18_fpn(weights=saved)
    assert_same_state(model, local)
    assert not local.training
    hub_stand_in.add_repo("org/thin-rods", saved)
    remote = maskrcnn_resnet18_fpn(weights="org/thin-rods", progress=False)
    assert_same_predictions(reference, predict(remote))
    tuned = maskrcnn_resnet18_fpn(
        weights=saved, box_score_thresh=0.9, trainable_backbone_layers=2, num_classes=3
    )
    assert tuned.roi_heads.score_thresh == 0.9
    assert tuned.config.backbone.trainable_layers == 2
    assert not tuned.backbone.body.layer2[0].conv1.weight.requires_grad
    assert_same_state(model, tuned)


def test_builder_weights_conflicts(saved, hub_stand_in):
    with pytest.raises(
        ValueError, match=r"num_classes=5 conflicts.*from_pretrained\(\.\.\., num_classes=5\)"
    ):
        maskrcnn_resnet18_fpn(weights=saved, num_classes=5)
    with pytest.raises(ValueError, match=r"anchor_sizes=.*the weights have"):
        maskrcnn_resnet18_fpn(weights=saved, anchor_sizes=((16,), (32,), (64,), (128,), (256,)))
    with pytest.raises(ValueError, match=r"mask_hidden_dim=64 \(the weights have 32\)"):
        maskrcnn_resnet18_fpn(weights=saved, mask_hidden_dim=64)
    with pytest.raises(ValueError, match=r"backbone_norm='frozen_bn'"):
        maskrcnn_resnet18_fpn(weights=saved, backbone_norm="frozen_bn")
    with pytest.raises(ValueError, match=r"resnet18 backbone.*maskrcnn_resnet18_fpn\(weights=\.\.\.\)"):
        maskrcnn_resnet34_fpn(weights=saved)
    with pytest.raises(ValueError, match=r"unknown keyword argument"):
        maskrcnn_resnet18_fpn(weights=saved, box_scor_thresh=0.3)
    hub_stand_in.add_repo("org/thin-rods", saved)
    with pytest.raises(ValueError, match=r"num_classes=4 conflicts"):
        maskrcnn_resnet18_fpn(weights="org/thin-rods", num_classes=4, progress=False)
    assert not any(
        p.endswith("model.safetensors") for _, p in hub_stand_in.requests
    )  # refused before the download


# ------------------------------------------------------------------------------------------ push_to_hub


def test_push_to_hub_uploads_the_save_pretrained_folder(model, monkeypatch, hub_stand_in):
    """HfApi's methods are replaced by recorders (the stand-in serves downloads only; it makes the Hub reachable)."""
    from huggingface_hub import HfApi

    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs))

    def create_branch(self, repo_id, **kwargs):
        calls.append(("create_branch", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        from pathlib import Path

        folder = Path(kwargs["folder_path"])
        files = sorted(p.name for p in folder.iterdir())
        config = json.loads((folder / "config.json").read_text())
        card = (folder / "README.md").read_text()
        calls.append(("upload_folder", files, config["num_classes"], kwargs, card))

        class Info:
            commit_url = "http://hub.local/org/thin/commit/abc"

        return Info()

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "create_branch", create_branch)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    url = push_to_hub(
        model, "org/thin", private=True, commit_message="first weights", revision="v1", metrics={"m": 1}
    )
    assert url == "http://hub.local/org/thin/commit/abc"
    assert calls[0] == ("create_repo", "org/thin", {"private": True, "exist_ok": True, "repo_type": "model"})
    assert calls[1] == ("create_branch", "org/thin", {"branch": "v1", "exist_ok": True, "repo_type": "model"})
    _, files, num_classes, kwargs, card = calls[2]
    assert files == ["README.md", "checksums.json", "config.json", "model.safetensors"] and num_classes == 3
    assert kwargs["repo_id"] == "org/thin" and kwargs["commit_message"] == "first weights"
    assert kwargs["revision"] == "v1"
    assert 'from_pretrained("org/thin")' in card
    with pytest.raises(ValueError, match=r"repo_id must look like 'org/name'"):
        push_to_hub(model, "org/thin@v1")
    assert len(calls) == 3


def test_non_finite_weights_are_refused_naming_the_tensors(saved, tmp_path):
    from safetensors.torch import save_file

    folder = _copy(saved, tmp_path)
    state = load_file(str(folder / "model.safetensors"))
    state["roi_heads.box_head.fc6.weight"][0, 0] = float("nan")
    state["rpn.head.conv.0.0.bias"][1] = float("inf")
    # Finite values whose sum overflows must not be mistaken for bad weights.
    state["roi_heads.box_head.fc7.weight"][:2] = 3.0e38
    save_file(state, str(folder / "model.safetensors"))
    reseal(folder)
    with pytest.raises(FloatingPointError) as info:
        from_pretrained(folder)
    message = str(info.value)
    assert "roi_heads.box_head.fc6.weight" in message and "rpn.head.conv.0.0.bias" in message
    assert "fc7" not in message and "(2 tensors)" in message
