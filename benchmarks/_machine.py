"""What machine a benchmark ran on (shared by the benchmark scripts, which run with this folder on sys.path)."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or ``platform.processor()`` elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_averages() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (how busy the machine was), or None where the OS has none."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def check_out_free(out: Path | None, overwrite: bool) -> None:
    """Refuse an existing ``--out`` file unless ``--overwrite`` was given, before any work.

    Raises:
        FileExistsError: If ``out`` exists and ``overwrite`` is false.
    """
    if out is not None and out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")


def write_report(report: dict, out: Path | None) -> None:
    """Print ``report`` as indented JSON and, with ``out``, write it there too (its folder created)."""
    text = json.dumps(report, indent=2)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def peak_matmul_flops(n: int = 2048, repeats: int = 5) -> float:
    """The machine's float32 matmul FLOP/s: the best of ``repeats`` timed ``n x n`` ``torch.mm`` calls."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def model_flops(fn: Callable[[], object]) -> float:
    """FLOPs of calling ``fn`` (forward and, if ``fn`` calls it, backward), counted by ``FlopCounterMode``."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())
