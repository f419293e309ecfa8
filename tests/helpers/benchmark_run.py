"""Run a script of ``benchmarks/`` in a subprocess against this checkout's ``src`` and parse its JSON report."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(script: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run ``benchmarks/<script>`` with ``args``; fail with its stderr on error; return its printed JSON."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def tiny_library_run(script: str, *args: str) -> dict[str, Any]:
    """A ``--tiny`` library-only run of a ``time_to_accuracy`` wrapper with ``args``, one evaluation point.

    Returns the report's ``runs["library"]``, checked to have trained without diverging.
    """
    report = run_benchmark(
        script, *args, "--tiny", "--threads", "1", "--no-baseline", "--eval-points", "1", timeout=300
    )
    run = report["runs"]["library"]
    assert run["diverged"] is None and run["points"][0]["mean_loss_since_last_point"] > 0
    return run


def load_benchmark_module(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` as a module (with ``benchmarks/`` on the path while it loads)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
