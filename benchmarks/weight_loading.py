"""Weight loading: ``from_pretrained`` (safetensors folder) vs ``torch.load`` of the same state dict.

One process, the seed's ResNet-101 Mask R-CNN (``--quick``: resnet18). The model is saved once with
``save_pretrained`` and once with ``torch.save(model.state_dict())``; then, repeats interleaved so that machine
load hits every path alike, it times:

* ``from_pretrained``: ``maskrcnn_custom.from_pretrained(folder)`` end to end (read config, read and check
  the safetensors file, build the model, load the weights strictly, eval mode);
* ``torch_load``: the plain way: build the model, ``torch.load(file, weights_only=True)``,
  ``model.load_state_dict`` (strict), ``model.eval()``;
* the parts: ``build`` (``build_model(config)``: module construction and random initialisation),
  ``read_safetensors`` (``safetensors.torch.load_file``), ``read_torch_load`` (``torch.load``),
  ``read_torch_load_mmap`` (``torch.load(..., mmap=True)``) and ``load_state_dict``.

Files are on local disk and in the page cache after the first repeat (warm reads): the figures are the cost
of deserialising and building, not of the disk.

    PYTHONPATH=src python benchmarks/weight_loading.py            # resnet101, 5 repeats
    PYTHONPATH=src python benchmarks/weight_loading.py --quick    # resnet18, 2 repeats
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from _machine import cpu_model

from maskrcnn_custom import build_model, from_pretrained, make_config, save_pretrained


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="resnet18, 2 repeats")
    p.add_argument(
        "--arch", default=None, help="backbone (default resnet101, the seed's; resnet18 with --quick)"
    )
    p.add_argument(
        "--repeats", type=int, default=None, help="interleaved repeats (default 5; 2 with --quick)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    args = p.parse_args(argv)
    args.arch = args.arch or ("resnet18" if args.quick else "resnet101")
    args.repeats = args.repeats or (2 if args.quick else 5)
    args.threads = args.threads or os.cpu_count() or 1
    return args


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from safetensors.torch import load_file

    config = make_config(backbone=args.arch)
    model = build_model(config).eval()
    reference = model.state_dict()
    times: dict[str, list[float]] = {
        k: []
        for k in (
            "from_pretrained",
            "torch_load",
            "build",
            "read_safetensors",
            "read_torch_load",
            "read_torch_load_mmap",
            "load_state_dict",
        )
    }
    with tempfile.TemporaryDirectory(prefix="maskrcnn-weights-bench-") as tmp:
        folder = save_pretrained(model, Path(tmp) / "model")
        pt_file = Path(tmp) / "model.pth"
        torch.save(reference, pt_file)
        sizes = {
            "safetensors_mb": (folder / "model.safetensors").stat().st_size / 2**20,
            "torch_save_mb": pt_file.stat().st_size / 2**20,
        }

        def plain():
            m = build_model(config)
            m.load_state_dict(torch.load(pt_file, map_location="cpu", weights_only=True), strict=True)
            return m.eval()

        # Warm-up (imports, page cache), and a check that both ways give the same weights.
        loaded_a, loaded_b = from_pretrained(folder, progress=False), plain()
        for k, v in reference.items():
            if not (torch.equal(v, loaded_a.state_dict()[k]) and torch.equal(v, loaded_b.state_dict()[k])):
                raise RuntimeError(f"loaded weights differ from the saved ones at {k}")
        del loaded_a, loaded_b
        for _ in range(args.repeats):
            times["from_pretrained"].append(_timed(lambda: from_pretrained(folder, progress=False))[0])
            times["torch_load"].append(_timed(plain)[0])
            dt, m = _timed(lambda: build_model(config))
            times["build"].append(dt)
            dt, sd_st = _timed(lambda: load_file(str(folder / "model.safetensors"), device="cpu"))
            times["read_safetensors"].append(dt)
            dt, sd_pt = _timed(lambda: torch.load(pt_file, map_location="cpu", weights_only=True))
            times["read_torch_load"].append(dt)
            times["read_torch_load_mmap"].append(
                _timed(lambda: torch.load(pt_file, map_location="cpu", weights_only=True, mmap=True))[0]
            )
            times["load_state_dict"].append(
                _timed(lambda m=m, sd=sd_pt: m.load_state_dict(sd, strict=True))[0]
            )
            del m, sd_st, sd_pt

    summary = {k: {"median_s": statistics.median(v), "min_s": min(v), "runs_s": v} for k, v in times.items()}
    med = {k: v["median_s"] for k, v in summary.items()}
    report = {
        "benchmark": "weight_loading",
        "quick": args.quick,
        "machine": {
            "cpu": cpu_model(),
            "logical_cores": os.cpu_count(),
            "threads": args.threads,
            "load_average_1_5_15": list(os.getloadavg()),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "setup": {
            "arch": args.arch,
            "parameters": sum(v.numel() for v in reference.values() if v.is_floating_point()),
            "repeats": args.repeats,
            **sizes,
        },
        "times": summary,
        "ratios": {
            "torch_load_over_from_pretrained": med["torch_load"] / med["from_pretrained"],
            "read_torch_load_over_read_safetensors": med["read_torch_load"] / med["read_safetensors"],
            "build_fraction_of_from_pretrained": med["build"] / med["from_pretrained"],
        },
        "from_pretrained_not_slower": med["from_pretrained"] <= med["torch_load"],
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
