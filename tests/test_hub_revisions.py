"""Repo ids and revisions are untrusted: checked before any I/O, for every entry point."""

from __future__ import annotations

import pytest

from helpers.hub import tiny_model
from maskrcnn_custom import from_pretrained, maskrcnn_resnet18_fpn, push_to_hub, save_pretrained
from maskrcnn_custom._utils.repo_id import (
    check_repo_id,
    check_revision,
    is_repo_id,
    is_revision,
    split_repo_id,
)
from maskrcnn_custom.weights.download import hub_download

ATTACK_SUFFIX = "org/name@../../../../victim.txt"
ATTACK_REVISION = "../../etc"

BAD_REVISIONS = [
    "../../etc",
    "a/../b",
    "/main",
    "-main",
    "a//b",
    "main/",
    "v1.lock",
    "a/.hidden",
    "main.",
    "@",
    "ma@{in",
    "ma in",
    "ma\x00in",
    "ma\nin",
    "a~1",
    "a^1",
    "a:b",
    "a?",
    "a*",
    "a[b",
    "a\\b",
    "",
    "x" * 256,
]
GOOD_REVISIONS = ["main", "v1.0", "refs/pr/1", "feature/thin-rods", "a@b", "0" * 40, "54887a0"]

BAD_REPO_IDS = [
    "name",
    "a/b/c",
    "../x",
    "org/..",
    "org/a..b",
    "org/-name",
    "org/name-",
    "org/na--me",
    "--org/name",
    "org/.name",
    "org/name.",
    "org/na me",
    "o" * 50 + "/" + "n" * 50,
]


@pytest.mark.parametrize("revision", BAD_REVISIONS)
def test_bad_revisions_are_refused(revision):
    assert not is_revision(revision)
    with pytest.raises(ValueError, match="revision="):
        check_revision(revision)
    assert not is_repo_id(f"org/name@{revision}")


@pytest.mark.parametrize("revision", GOOD_REVISIONS)
def test_git_ref_names_and_commits_are_accepted(revision):
    assert is_revision(revision) and check_revision(revision) == revision
    assert split_repo_id(f"org/name@{revision}") == ("org/name", revision)


@pytest.mark.parametrize("repo_id", BAD_REPO_IDS)
def test_bad_repo_ids_are_refused(repo_id):
    assert not is_repo_id(repo_id)
    with pytest.raises(ValueError, match="repo_id="):
        check_repo_id(repo_id)


def test_check_revision_type():
    with pytest.raises(TypeError, match="revision must be a string"):
        check_revision(3)


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def served(hub_stand_in, tmp_path):
    """A repo served under a branch literally named like the attack, so that only validation stops it."""
    folder = save_pretrained(tiny_model(), tmp_path / "saved")
    hub_stand_in.add_repo(
        "org/name", folder, branches=("main", ATTACK_SUFFIX.split("@", 1)[1], ATTACK_REVISION)
    )
    return hub_stand_in


def _calls(model_folder):
    yield "from_pretrained('org/name@...')", lambda: from_pretrained(ATTACK_SUFFIX, progress=False)
    yield "from_pretrained(revision=)", lambda: from_pretrained("org/name", revision=ATTACK_REVISION)
    yield "builder weights=", lambda: maskrcnn_resnet18_fpn(weights=ATTACK_SUFFIX)
    yield "builder weights_backbone=", lambda: maskrcnn_resnet18_fpn(weights_backbone=ATTACK_SUFFIX)
    yield (
        "hub_download(revision=)",
        lambda: hub_download("org/name", "config.json", revision=ATTACK_REVISION, what="weights"),
    )
    yield "hub_download(filename=)", lambda: hub_download("org/name", "../../x.json", what="weights")


def test_traversal_attacks_raise_value_error_and_write_nothing(served, tmp_path):
    """Each entry point refuses before any request; nothing appears in or beside the cache."""
    home = served.cache.parent
    outside = tmp_path / "outside"
    outside.mkdir()
    before_home, before_tmp = _tree(home), _tree(tmp_path)
    for name, call in _calls(tmp_path / "saved"):
        with pytest.raises(ValueError, match=r"revision|repo id|filename") as info:
            call()
        assert "../" in str(info.value) or "not a valid" in str(info.value), name
    assert served.requests == []
    assert _tree(home) == before_home and _tree(tmp_path) == before_tmp
    assert list(home.parent.glob("*victim*")) == [] and not (home.parent / "etc").exists()


def test_attack_messages_name_the_parameter(served):
    with pytest.raises(ValueError, match=r"repo_id_or_path='org/name@\.\./\.\./\.\./\.\./victim\.txt'"):
        from_pretrained(ATTACK_SUFFIX)
    with pytest.raises(ValueError, match=r"revision='\.\./\.\./etc' is not a valid Hub revision"):
        from_pretrained("org/name", revision=ATTACK_REVISION)
    with pytest.raises(ValueError, match=r"weights_backbone='org/name@\.\./"):
        maskrcnn_resnet18_fpn(weights_backbone=ATTACK_SUFFIX)
    with pytest.raises(ValueError, match=r"revision='\.\./\.\./etc'"):
        push_to_hub(tiny_model(), "org/name", revision=ATTACK_REVISION)


def test_a_valid_branch_still_downloads(served):
    model = from_pretrained("org/name@main", progress=False)
    assert model.config.num_classes == tiny_model().config.num_classes
    assert any(path.endswith("/config.json") for _, path in served.requests)
