"""Run by test_engine_distributed.py (with src/ and tests/ on PYTHONPATH) under torchrun: fit() on 2 CPU processes, then report per-rank state."""

import hashlib
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from helpers.models import train_model as tiny_model  # tests/ is on PYTHONPATH (set by the test)
from helpers.rods import TinyRods
from maskrcnn_custom import fit


def main(out: str) -> None:
    torch.set_num_threads(1)
    rank_env = int(__import__("os").environ["RANK"])
    torch.manual_seed(100 + rank_env)  # different initial weights per rank: DDP must synchronise them
    model = tiny_model()
    result = fit(
        model,
        TinyRods(n=6, size=64, seed=1),
        TinyRods(n=3, size=64, seed=2),  # 3 images on 2 ranks: the sampler pads, evaluation must dedupe
        output_dir=out,
        epochs=2,
        iters_per_epoch=2,
        batch_size=1,
        lr=0.005,
        warmup_iters=1,
        device="cpu",
        progress=False,
        tensorboard=False,
    )
    digest = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        digest.update(k.encode())
        digest.update(v.detach().contiguous().numpy().tobytes())
    info = {
        "rank": dist.get_rank(),
        "world_size": dist.get_world_size(),
        "digest": digest.hexdigest(),
        "history": result.history,
        "best_metric": result.best_metric,
    }
    Path(out, f"rank{dist.get_rank()}.json").write_text(json.dumps(info, default=float))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
