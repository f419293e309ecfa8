"""Shape measurements of predictions as a table: one row per detection, written as CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._utils.atomic import atomic_write_text
from ..measure import MEASUREMENT_FIELDS
from .results import Prediction

__all__ = ["MEASUREMENT_SUFFIXES", "check_measurements_path", "measurement_rows", "save_measurements"]

#: File types :func:`save_measurements` writes, by suffix.
MEASUREMENT_SUFFIXES = (".csv", ".json")

_ID_COLUMNS = ("image_id", "file_name", "detection", "label", "name", "score")


def measurement_rows(
    predictions: Sequence[Prediction],
    *,
    image_ids: Sequence[int] | None = None,
    file_names: Sequence[str | None] | None = None,
) -> list[dict[str, Any]]:
    """Shape measurements of predictions as rows, one per detection.

    Each row has ``image_id``, ``file_name``, ``detection`` (index in its image), ``label``, ``name``,
    ``score`` and the fields of :class:`~maskrcnn_custom.measure.MaskMeasurement` (``nan`` -> ``None``).

    Args:
        predictions: One prediction per image.
        image_ids: Image id of each prediction (default ``1, 2, ...``).
        file_names: File of each prediction (default: ``Prediction.source``).

    Raises:
        ValueError: If ``image_ids`` or ``file_names`` has the wrong length.

    Examples:
        >>> import torch
        >>> from maskrcnn_custom import Prediction
        >>> from maskrcnn_custom.inference import measurement_rows
        >>> m = torch.zeros(1, 16, 40, dtype=torch.bool); m[0, 6:10, 4:36] = True
        >>> p = Prediction(torch.tensor([[4., 6., 36., 10.]]), torch.tensor([1]), torch.tensor([0.9]), m, (16, 40))
        >>> row = measurement_rows([p])[0]
        >>> row["image_id"], row["length"], row["mean_width"]
        (1, 32.0, 4.0)
    """
    n = len(predictions)
    ids = list(range(1, n + 1)) if image_ids is None else list(image_ids)
    files = [p.source for p in predictions] if file_names is None else list(file_names)
    if len(ids) != n or len(files) != n:
        raise ValueError(
            f"give one image id and file name per prediction: {n} predictions, {len(ids)} image_ids, "
            f"{len(files)} file_names"
        )
    rows: list[dict[str, Any]] = []
    for image_id, file_name, pred in zip(ids, files, predictions, strict=True):
        names = pred.names
        for k, (m, label, score) in enumerate(
            zip(pred.measure(), pred.labels.tolist(), pred.scores.tolist(), strict=True)
        ):
            rows.append(
                {
                    "image_id": int(image_id),
                    "file_name": file_name,
                    "detection": k,
                    "label": int(label),
                    "name": names[k] if names is not None else None,
                    "score": round(float(score), 5),
                    **m.to_dict(),
                }
            )
    return rows


def check_measurements_path(path: str | os.PathLike, *, overwrite: bool = False, name: str = "path") -> Path:
    """Validate a measurements file path before any work: a known suffix, and no existing file unless ``overwrite``.

    Raises:
        ValueError: If the suffix is not ``.csv`` or ``.json``.
        FileExistsError: If the file exists and ``overwrite`` is false.

    Examples:
        >>> from maskrcnn_custom.inference.measurements import check_measurements_path
        >>> check_measurements_path("/nonexistent/shapes.csv").suffix
        '.csv'
    """
    p = Path(path)
    if p.suffix.lower() not in MEASUREMENT_SUFFIXES:
        raise ValueError(
            f"{name} must end in .csv or .json (the format is taken from the suffix), got {str(p)!r}"
        )
    if p.exists() and not overwrite:
        raise FileExistsError(
            f"{name}: {str(p)!r} exists; pass overwrite=True (CLI: --overwrite) to replace it"
        )
    return p


def save_measurements(
    rows: Sequence[dict[str, Any]], path: str | os.PathLike, *, overwrite: bool = False
) -> Path:
    """Write :func:`measurement_rows` as CSV (empty cells for undefined values) or a JSON list, atomically.

    Args:
        rows: The rows.
        path: ``.csv`` or ``.json`` file.
        overwrite: Replace an existing file.

    Raises:
        ValueError: If the suffix is not ``.csv`` or ``.json``.
        FileExistsError: If ``path`` exists and ``overwrite`` is false.

    Examples:
        >>> import os, tempfile
        >>> from maskrcnn_custom.inference import save_measurements
        >>> path = save_measurements([], os.path.join(tempfile.mkdtemp(), "shapes.csv"))
        >>> path.read_text().split(",")[:3]
        ['image_id', 'file_name', 'detection']
    """
    p = check_measurements_path(path, overwrite=overwrite)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() == ".json":
        atomic_write_text(p, json.dumps(list(rows), indent=1) + "\n")
        return p
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*_ID_COLUMNS, *MEASUREMENT_FIELDS], lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in r.items()})
    atomic_write_text(p, buf.getvalue())
    return p
