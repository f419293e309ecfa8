import errno
import os

import pytest

from maskrcnn_custom._utils.atomic import atomic_path, atomic_write, atomic_write_bytes, atomic_write_text


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "predictions.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.json"]


def test_writes_replace_the_file_and_create_missing_folders(tmp_path):
    target = tmp_path / "a" / "b" / "labels.png"
    assert atomic_write_bytes(target, b"\x89PNG") == target
    assert target.read_bytes() == b"\x89PNG"
    atomic_write_text(target, "text")
    assert target.read_text() == "text"
    atomic_write(target, lambda p: p.write_bytes(b"xyz"))
    assert target.read_bytes() == b"xyz"
    assert [p.name for p in target.parent.iterdir()] == ["labels.png"]


def test_files_get_the_permissions_of_a_plain_open_not_mkstemps_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        target = atomic_write_text(tmp_path / "config.json", "{}")
    finally:
        os.umask(old)
    assert (target.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777) == 0o644


def test_the_umask_is_read_without_changing_it(tmp_path, monkeypatch):
    from maskrcnn_custom._utils import atomic

    def forbidden(*args):
        raise AssertionError("os.umask must not be called on a write")

    monkeypatch.setattr(atomic.os, "umask", forbidden)
    target = atomic.atomic_write_text(tmp_path / "a.txt", "x")
    assert (target.stat().st_mode & 0o777) == 0o666 & ~atomic._current_umask()


def test_the_old_module_path_still_works_with_a_deprecation_warning():
    import importlib
    import sys

    sys.modules.pop("maskrcnn_custom.hub.atomic", None)
    with pytest.warns(
        DeprecationWarning, match=r"maskrcnn_custom\.hub\.atomic is deprecated.*_utils\.atomic"
    ):
        old = importlib.import_module("maskrcnn_custom.hub.atomic")
    assert old.atomic_write_text is atomic_write_text


def test_temporaries_carry_the_librarys_suffix_and_only_those_are_removed(tmp_path):
    from maskrcnn_custom._utils.atomic import TEMP_SUFFIX, is_temporary, remove_stale_temporaries

    seen = []
    atomic_write(tmp_path / "ckpt.pt", lambda p: seen.append(p.name) or p.write_bytes(b"x"))
    assert seen[0].startswith(".ckpt.pt.") and seen[0].endswith(TEMP_SUFFIX) and is_temporary(seen[0])
    names = [".ckpt.pt.abcd_123.maskrcnn.tmp", ".metrics.csv.abcd1234.tmp", ".notes.abcd1234.tmp", "x.tmp"]
    for name in names:
        (tmp_path / name).write_text("half")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / names[0]).write_text("half")
    removed = remove_stale_temporaries(tmp_path, legacy_targets=["metrics.csv"])
    assert [p.name for p in removed] == names[:2]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.abcd1234.tmp", "ckpt.pt", "sub", "x.tmp"]
    assert (tmp_path / "sub" / names[0]).exists()  # sub-folders are not searched
    assert remove_stale_temporaries(tmp_path / "missing") == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_names_the_path_and_keeps_the_previous_file(tmp_path, code):
    target = tmp_path / "predictions.json"
    target.write_text("old")

    def writer(path):
        path.write_text("half")
        raise OSError(code, os.strerror(code))

    with pytest.raises(OSError, match=r"predictions\.json.*the previous predictions\.json is intact") as info:
        atomic_write(target, writer)
    assert info.value.errno == code and str(target) in str(info.value)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["predictions.json"]
    with pytest.raises(PermissionError):  # other errors pass through unchanged
        atomic_write(target, lambda p: (_ for _ in ()).throw(PermissionError(errno.EACCES, "denied")))


def test_check_overwrite_names_the_path_and_the_switch(tmp_path):
    from maskrcnn_custom._utils.atomic import check_overwrite

    existing = tmp_path / "a.json"
    existing.write_text("x")
    check_overwrite([tmp_path / "new.json"], overwrite=False)
    check_overwrite(existing, overwrite=True)
    with pytest.raises(FileExistsError, match=r"--out: '.*a\.json' exists; pass --overwrite to replace it"):
        check_overwrite(
            [tmp_path / "new.json", existing], overwrite=False, switch="--overwrite", what="--out"
        )
