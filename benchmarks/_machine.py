"""What machine a benchmark ran on (shared by the benchmark scripts, which run with this folder on sys.path)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


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
