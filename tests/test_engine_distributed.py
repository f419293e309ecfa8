import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from maskrcnn_custom.engine import load_checkpoint

SCRIPT = Path(__file__).parent / "helpers" / "ddp_fit_script.py"


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_fit_under_torchrun_with_two_cpu_processes(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    tests = Path(__file__).resolve().parent
    paths = (str(tests.parent / "src"), str(tests), env.get("PYTHONPATH", ""))  # the script imports helpers
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(SCRIPT),
        str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    # DDP kept the replicas identical although each rank started from different random weights
    assert ranks[0]["digest"] == ranks[1]["digest"]

    # losses and metrics were reduced across ranks: every rank reports the same numbers
    def strip(history):
        return [{k: v for k, v in h.items() if not k.endswith("time_s")} for h in history]

    assert strip(ranks[0]["history"]) == strip(ranks[1]["history"])
    history = ranks[0]["history"]
    assert [h["epoch"] for h in history] == [0, 1]
    assert history[-1]["num_images"] == 3  # padded duplicate from the sampler counted once
    assert "AP" in history[-1]["segm"] and "AP" in history[-1]["bbox"]
    # only rank 0 wrote: one checkpoint, one log, no leftovers
    ckpt = load_checkpoint(out / "checkpoint_last.pt")
    assert ckpt["epoch"] == 2 and ckpt["run"]["world_size"] == 2 and len(ckpt["rng"]) == 2
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert sorted(p.name for p in out.glob("checkpoint_*.pt")) == ["checkpoint_best.pt", "checkpoint_last.pt"]
    assert not list(out.glob(".*.tmp"))
    assert (out / "pretrained" / "model.safetensors").is_file()
    # the checkpoint holds the synchronised weights
    digest = hashlib.sha256()
    for k, v in sorted(ckpt["model"].items()):
        digest.update(k.encode())
        digest.update(v.contiguous().numpy().tobytes())
    assert digest.hexdigest() == ranks[0]["digest"]
