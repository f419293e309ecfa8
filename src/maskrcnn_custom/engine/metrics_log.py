"""Per-epoch metrics written as CSV and JSON lines (and to TensorBoard when it is installed)."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._utils.atomic import atomic_write_text

__all__ = ["MetricsLog", "flatten_metrics"]

logger = logging.getLogger(__name__)


def flatten_metrics(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts with ``/``: ``{"segm": {"AP": 0.5}}`` -> ``{"segm/AP": 0.5}``.

    Examples:
        >>> from maskrcnn_custom.engine.metrics_log import flatten_metrics
        >>> flatten_metrics({"epoch": 0, "segm": {"AP": 0.5}})
        {'epoch': 0, 'segm/AP': 0.5}
    """
    out: dict[str, Any] = {}
    for k, v in record.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten_metrics(v, prefix=f"{key}/"))
        else:
            out[key] = v
    return out


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class MetricsLog:
    """Writes the training history to ``metrics.csv`` and ``metrics.jsonl`` in ``directory``.

    Both files are rewritten atomically from the whole history at every epoch, so after a crash and a
    resume they hold exactly the epochs of the checkpoint and what followed. TensorBoard scalars are
    written too when ``tensorboard`` is true, or when it is ``None`` and ``tensorboard`` is installed.

    Examples:
        >>> import tempfile
        >>> from maskrcnn_custom.engine.metrics_log import MetricsLog
        >>> log = MetricsLog(tempfile.mkdtemp(), tensorboard=False)
        >>> log.write([{"epoch": 0, "loss": 1.0, "segm": {"AP": 0.1}}])
        >>> log.close()
    """

    def __init__(self, directory: str | os.PathLike[str], *, tensorboard: bool | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.directory / "metrics.csv"
        self.jsonl_path = self.directory / "metrics.jsonl"
        self._tb = None
        self._tb_written = -1
        if tensorboard or tensorboard is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                if tensorboard:
                    raise ImportError(
                        'tensorboard=True needs the tensorboard package: pip install "maskrcnn-custom[tensorboard]"'
                    ) from None
            else:
                self._tb = SummaryWriter(log_dir=str(self.directory / "tensorboard"))

    def write(self, history: Sequence[Mapping[str, Any]]) -> None:
        """Rewrite the CSV and JSON-lines files from ``history`` (one record per epoch)."""
        flat = [flatten_metrics(r) for r in history]
        columns: list[str] = []
        for r in flat:
            columns.extend(k for k in r if k not in columns)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in flat:
            writer.writerow(r)
        atomic_write_text(self.csv_path, buf.getvalue())
        lines = "".join(json.dumps({k: _json_safe(v) for k, v in r.items()}) + "\n" for r in flat)
        atomic_write_text(self.jsonl_path, lines)
        if self._tb is not None:
            for r in flat:
                step = int(r.get("epoch", 0))
                if step <= self._tb_written:
                    continue
                for k, v in r.items():
                    if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool):
                        self._tb.add_scalar(k, v, step)
                self._tb_written = step
            self._tb.flush()

    def close(self) -> None:
        """Close the TensorBoard writer, if any."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None
