"""Crash safety of training runs: a SIGKILL during a checkpoint write, a full disk, stale temporary files."""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import maskrcnn_custom
from helpers.killed_fit_script import FIT_KWARGS, dataset
from helpers.models import train_model
from helpers.rods import TinyRods
from maskrcnn_custom import fit
from maskrcnn_custom.engine import checkpoint as checkpoint_module
from maskrcnn_custom.engine import load_checkpoint
from maskrcnn_custom.engine.checkpoint import atomic_torch_save

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TESTS = Path(__file__).parent


def _temporaries(folder):
    return sorted(
        p.name for p in Path(folder).iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")
    )


def test_sigkill_during_a_checkpoint_write_then_resume(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    src = Path(maskrcnn_custom.__file__).resolve().parents[1]  # the package this test process imported
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), str(TESTS), env.get("PYTHONPATH")) if p)
    script = TESTS / "helpers" / "killed_fit_script.py"
    proc = subprocess.Popen([sys.executable, str(script), str(out), "2"], env=env, stderr=subprocess.PIPE)
    marker = Path(f"{out}.hanging")
    deadline = time.monotonic() + 90
    try:
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the subprocess never reached its second checkpoint write"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # mid-write: half of epoch 1's checkpoint is in the temporary file
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    temp_name = marker.read_text()
    assert _temporaries(out) == [temp_name] and temp_name.startswith(".checkpoint_last.pt.")
    assert temp_name.endswith(".maskrcnn.tmp") and (out / temp_name).stat().st_size > 0
    # the last complete checkpoint (epoch 0) is intact and loads
    assert load_checkpoint(out / "checkpoint_last.pt")["epoch"] == 1

    # resuming loads it, removes the orphan and trains to the end
    torch.manual_seed(99)  # another random model: the weights must come from the checkpoint
    result = fit(train_model(), dataset(), output_dir=out, resume=True, **FIT_KWARGS)
    assert [r["epoch"] for r in result.history] == [0, 1, 2]
    assert _temporaries(out) == []
    final = load_checkpoint(out / "checkpoint_last.pt")
    assert final["epoch"] == 3 and len(final["history"]) == 3
    for k, v in result.history[0].items():  # epoch 0's record is the killed run's, from the checkpoint
        if not k.endswith("time_s"):
            assert final["history"][0][k] == v, k
    state = train_model().state_dict()
    for k, v in final["model"].items():
        assert v.shape == state[k].shape, k


def _previous_checkpoint(folder):
    path = folder / "checkpoint_last.pt"
    atomic_torch_save({"epoch": 1, "weights": torch.arange(1000.0)}, path)
    return path, path.read_bytes()


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 4352 vs 4246"),
        RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"),
    ],
    ids=["ENOSPC", "torch-unexpected-pos", "torch-file-write-failed"],
)
def test_a_full_disk_names_the_path_keeps_the_previous_checkpoint_and_leaves_no_temporary(
    tmp_path, monkeypatch, failure
):
    path, before = _previous_checkpoint(tmp_path)
    real_save = torch.save

    def full_disk_save(obj, f, *args, **kwargs):
        real_save({"part": torch.zeros(100)}, f)  # some bytes reach the temporary file, then the disk is full
        f.flush()
        assert _temporaries(tmp_path), "the write must go to a temporary file"
        raise failure

    monkeypatch.setattr(checkpoint_module.torch, "save", full_disk_save)
    with pytest.raises(OSError, match=r"checkpoint_last\.pt") as info:
        atomic_torch_save({"epoch": 2, "weights": torch.zeros(1000)}, path)
    assert info.value.errno == errno.ENOSPC
    assert str(path) in str(info.value) and "the previous checkpoint_last.pt is intact" in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_last.pt"]


def test_a_full_disk_on_a_first_write_says_nothing_was_written(tmp_path, monkeypatch):
    def full_disk_save(obj, f, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", full_disk_save)
    with pytest.raises(OSError, match="nothing was written"):
        atomic_torch_save({"epoch": 1}, tmp_path / "checkpoint_last.pt")
    assert list(tmp_path.iterdir()) == []


def test_other_torch_errors_are_not_mistaken_for_a_full_disk(tmp_path, monkeypatch):
    def broken_save(obj, f, *args, **kwargs):
        raise RuntimeError("cannot pickle this object")

    monkeypatch.setattr(checkpoint_module.torch, "save", broken_save)
    with pytest.raises(RuntimeError, match="cannot pickle"):
        atomic_torch_save({"epoch": 1}, tmp_path / "ckpt.pt")
    assert list(tmp_path.iterdir()) == []


def test_fit_on_a_full_disk_raises_oserror_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_save, calls = torch.save, []

    def save_then_full(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # epoch 1's checkpoint
            raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "save", save_then_full)
    torch.manual_seed(0)
    with pytest.raises(OSError, match=r"checkpoint_last\.pt.*previous checkpoint_last\.pt is intact"):
        fit(train_model(), dataset(), output_dir=out, **{**FIT_KWARGS, "epochs": 2})
    assert load_checkpoint(out / "checkpoint_last.pt")["epoch"] == 1
    assert _temporaries(out) == []


def test_stale_temporaries_are_removed_at_the_start_of_a_run_and_on_resume_and_nothing_else(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    ours = [
        ".checkpoint_last.pt.k2j4_9az.maskrcnn.tmp",
        ".metrics.csv.abcd1234.tmp",  # an earlier release's name, for a file the run writes
    ]
    kept = [".notes.txt.abcd1234.tmp", "my.tmp", ".checkpoint_last.pt.tmp", "data.csv"]

    def plant():
        for name in ours + kept:
            (out / name).write_bytes(b"x" * 100)

    plant()
    torch.manual_seed(0)
    fit(train_model(), dataset(), output_dir=out, **{**FIT_KWARGS, "epochs": 1})  # no run files: a fresh run
    names = {p.name for p in out.iterdir()}
    assert not names & set(ours) and set(kept) <= names
    # and on resume, also in pretrained/
    plant()
    (out / "pretrained").mkdir()
    (out / "pretrained" / ".model.safetensors.a1b2c3d4.maskrcnn.tmp").write_bytes(b"x")
    result = fit(train_model(), dataset(), output_dir=out, resume=True, **{**FIT_KWARGS, "epochs": 2})
    assert [r["epoch"] for r in result.history] == [0, 1]
    names = {p.name for p in out.iterdir()}
    assert not names & set(ours) and set(kept) <= names
    assert list((out / "pretrained").iterdir()) == []


class _BadSample(TinyRods):
    def __init__(self, field, **kwargs):
        super().__init__(n=3, size=64, seed=1)
        self.field = field

    def __getitem__(self, i):
        image, target = super().__getitem__(i)
        if i == 1 and self.field == "labels":
            target = dict(target, labels=torch.zeros_like(target["labels"]))  # label 0 is the background
        if i == 2 and self.field == "masks":
            target = dict(target, masks=target["masks"][:, :32])  # masks of another size than the image
        return image, target


@pytest.mark.parametrize(
    ("which", "field", "match"),
    [
        ("train", "labels", r"train_dataset: sample 1.*label"),
        ("train", "masks", r"train_dataset: sample 2.*masks"),
        ("val", "labels", r"val_dataset: sample 1.*label"),
    ],
)
def test_a_bad_sample_fails_fit_before_the_output_dir_is_created(tmp_path, which, field, match):
    good, bad = TinyRods(n=2, size=64, seed=1), _BadSample(field)
    train, val = (bad, good) if which == "train" else (good, bad)
    with pytest.raises(ValueError, match=match):
        fit(train_model(), train, val, output_dir=tmp_path / "run", **FIT_KWARGS)
    assert not (tmp_path / "run").exists()


def test_a_label_beyond_the_models_classes_fails_fit_before_the_output_dir_is_created(tmp_path):
    with pytest.raises(ValueError, match=r"train_dataset: sample 0.*num_classes"):
        fit(train_model(num_classes=2), _Relabel(), output_dir=tmp_path / "run", **FIT_KWARGS)
    assert not (tmp_path / "run").exists()


class _Relabel(TinyRods):
    def __getitem__(self, i):
        image, target = super().__getitem__(i)
        return image, dict(target, labels=torch.full_like(target["labels"], 5))
