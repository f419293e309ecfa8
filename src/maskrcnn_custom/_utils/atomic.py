"""Atomic file writes: write to a temporary file in the same folder, then ``os.replace`` it into place.

The one implementation the library uses for every file it writes (weights, configs, model cards,
checkpoints, metrics logs, COCO exports, predictions, ONNX graphs).

The process umask is never changed here (changing it is process-wide and races with other threads): on
Linux it is read from ``/proc/self/status``; elsewhere the value read once when this module is imported is
used.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write", "atomic_write_bytes", "atomic_write_text"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed.

    The destination's folder is created if missing. A reader never sees a half-written file, and a failure
    leaves the previous file (if any) untouched and no temporary file behind. The file gets the permissions a
    plain ``open(path, "w")`` would give it (``0o666`` minus the umask), not the owner-only ``0o600`` of
    ``tempfile.mkstemp``.

    Examples:
        >>> import tempfile, pathlib
        >>> from maskrcnn_custom._utils.atomic import atomic_path
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "sub" / "x.txt"
        >>> with atomic_path(out) as tmp:
        ...     _ = tmp.write_text("hi")
        >>> out.read_text()
        'hi'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_umask_at_import() -> int:
    mask = os.umask(0)  # the only portable way to read it; done once, while the package is imported
    os.umask(mask)
    return mask


_IMPORT_UMASK = _read_umask_at_import()
_STATUS = Path("/proc/self/status")


def _current_umask() -> int:
    """The process umask, read without changing it (Linux), else the one read at import."""
    try:
        for line in _STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _IMPORT_UMASK


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp)`` on a temporary path next to ``path``, then move it onto ``path`` in one step.

    Args:
        path: Destination file; its folder is created if missing.
        writer: Writes the complete file at the path it is given.

    Returns:
        ``path`` as a ``Path``.

    Examples:
        >>> import tempfile, pathlib
        >>> from maskrcnn_custom._utils.atomic import atomic_write
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
        >>> _ = atomic_write(out, lambda p: p.write_text("hi"))
        >>> out.read_text()
        'hi'
    """
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write`.

    Examples:
        >>> import tempfile, pathlib
        >>> from maskrcnn_custom._utils.atomic import atomic_write_text
        >>> atomic_write_text(pathlib.Path(tempfile.mkdtemp()) / "a.txt", "x").read_text()
        'x'
    """
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; see :func:`atomic_write`.

    Examples:
        >>> import tempfile, pathlib
        >>> from maskrcnn_custom._utils.atomic import atomic_write_bytes
        >>> atomic_write_bytes(pathlib.Path(tempfile.mkdtemp()) / "a.bin", b"x").read_bytes()
        b'x'
    """
    return atomic_write(path, lambda p: p.write_bytes(data))
