"""Atomic file writes: write to a temporary file in the same folder, then ``os.replace`` it into place."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_text"]


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp)`` on a temporary path next to ``path``, then move it onto ``path`` in one step.

    A reader never sees a half-written file, and a failure leaves the previous file (if any) untouched and
    no temporary file behind.

    Args:
        path: Destination file; its folder must exist.
        writer: Writes the complete file at the path it is given.

    Returns:
        ``path`` as a ``Path``.

    Examples:
        >>> import tempfile, pathlib
        >>> from maskrcnn_custom.hub.atomic import atomic_write
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
        >>> _ = atomic_write(out, lambda p: p.write_text("hi"))
        >>> out.read_text()
        'hi'
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write`.

    Examples:
        >>> import tempfile, pathlib
        >>> from maskrcnn_custom.hub.atomic import atomic_write_text
        >>> atomic_write_text(pathlib.Path(tempfile.mkdtemp()) / "a.txt", "x").read_text()
        'x'
    """
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
