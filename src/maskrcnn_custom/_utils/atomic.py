"""Atomic file writes: write to a temporary file in the same folder, then ``os.replace`` it into place.

The one implementation the library uses for every file it writes (weights, configs, model cards,
checkpoints, metrics logs, COCO exports, predictions, ONNX graphs).

The process umask is never changed here (changing it is process-wide and races with other threads): on
Linux it is read from ``/proc/self/status``; elsewhere the value read once when this module is imported is
used.

Temporary files are named ``.<target name>.<8 random characters>.maskrcnn.tmp`` (:data:`TEMP_SUFFIX`) in the
target's folder, so a process killed mid-write (``SIGKILL``, power loss) leaves a file that
:func:`remove_stale_temporaries` recognises and removes, and nothing else. A write that fails because the
disk is full (``ENOSPC``) or a quota is exceeded raises an ``OSError`` naming the path and saying that the
previous file is intact; the temporary file is removed.

:func:`check_overwrite` is the one rule for outputs: a call that would replace existing user files refuses
with a ``FileExistsError`` naming the path and the switch that allows it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

__all__ = [
    "TEMP_SUFFIX",
    "atomic_path",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_overwrite",
    "is_temporary",
    "remove_stale_temporaries",
    "write_failed_error",
]

#: Suffix of every temporary file the library writes (``.<name>.<random>.maskrcnn.tmp``).
TEMP_SUFFIX = ".maskrcnn.tmp"

_TEMP_RE = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + r"$")
# Releases before the suffix existed named them ``.<name>.<random>.tmp``; recognised only for known targets.
_LEGACY_TEMP_RE = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp$")
_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)


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
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX)
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise write_failed_error(target, exc) from exc
        raise
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in _DISK_FULL:
            raise write_failed_error(target, exc) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_failed_error(path: str | os.PathLike, cause: BaseException) -> OSError:
    """The ``OSError`` of a write of ``path`` that failed (a full disk): it names the path and what is intact.

    Examples:
        >>> import errno
        >>> from maskrcnn_custom._utils.atomic import write_failed_error
        >>> err = write_failed_error("/nonexistent/ckpt.pt", OSError(errno.ENOSPC, "No space left on device"))
        >>> err.errno == errno.ENOSPC, "nothing was written" in str(err)
        (True, True)
    """
    target = Path(path)
    code = getattr(cause, "errno", None) or errno.ENOSPC
    reason = getattr(cause, "strerror", None) or str(cause) or os.strerror(code)
    kept = (
        f"the previous {target.name} is intact"
        if target.exists()
        else f"nothing was written at {str(target)!r}"
    )
    return OSError(
        code,
        f"could not write {str(target)!r}: {reason}; {kept} and no temporary file was left behind. "
        "Free space on that disk (or choose another folder) and run again",
    )


def is_temporary(path: str | os.PathLike, *, legacy_targets: Iterable[str] = ()) -> bool:
    """Whether ``path`` is a temporary file of :func:`atomic_path` (its name, not its content, decides).

    Args:
        path: A file path.
        legacy_targets: File names whose temporaries of earlier releases (``.<name>.<random>.tmp``, without
            :data:`TEMP_SUFFIX`) count too.

    Examples:
        >>> from maskrcnn_custom._utils.atomic import is_temporary
        >>> is_temporary(".checkpoint_last.pt.k2j4_9az.maskrcnn.tmp"), is_temporary("notes.tmp")
        (True, False)
        >>> is_temporary(".metrics.csv.abcd1234.tmp", legacy_targets=["metrics.csv"])
        True
    """
    name = Path(path).name
    if _TEMP_RE.match(name):
        return True
    legacy = _LEGACY_TEMP_RE.match(name)
    return bool(legacy) and legacy.group("target") in set(legacy_targets)  # type: ignore[union-attr]


def remove_stale_temporaries(
    directory: str | os.PathLike, *, legacy_targets: Iterable[str] = ()
) -> list[Path]:
    """Remove the temporary files a killed write left in ``directory`` (not in its sub-folders).

    Only files whose names match the library's own pattern (:func:`is_temporary`) are removed; call it when
    no other process is writing into ``directory`` (e.g. at the start of a training run).

    Args:
        directory: The folder; a missing one is fine.
        legacy_targets: See :func:`is_temporary`.

    Returns:
        The removed paths, sorted.

    Examples:
        >>> import tempfile, pathlib
        >>> from maskrcnn_custom._utils.atomic import remove_stale_temporaries
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / ".ckpt.pt.abcd1234.maskrcnn.tmp").write_bytes(b"half"); _ = (d / "keep.txt").write_text("")
        >>> [p.name for p in remove_stale_temporaries(d)], [p.name for p in d.iterdir()]
        (['.ckpt.pt.abcd1234.maskrcnn.tmp'], ['keep.txt'])
    """
    folder = Path(directory)
    if not folder.is_dir():
        return []
    targets = tuple(legacy_targets)
    removed = []
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and not entry.is_symlink() and is_temporary(entry, legacy_targets=targets):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def check_overwrite(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    overwrite: bool,
    switch: str = "overwrite=True (CLI: --overwrite)",
    what: str = "",
) -> None:
    """Refuse to replace existing files: raise ``FileExistsError`` naming the first one and the switch.

    Call it before any work, with every path the call would write.

    Args:
        paths: One path or several.
        overwrite: The caller's switch; ``True`` allows replacing (nothing is checked).
        switch: How to allow it, for the message.
        what: The argument the paths come from (e.g. ``"--out"``), for the message.

    Raises:
        FileExistsError: If a path exists and ``overwrite`` is false.

    Examples:
        >>> import tempfile, pathlib
        >>> from maskrcnn_custom._utils.atomic import check_overwrite
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "model.onnx"; _ = f.write_bytes(b"")
        >>> check_overwrite(f, overwrite=True)  # fine: nothing raised
        >>> check_overwrite(f, overwrite=False)
        Traceback (most recent call last):
        ...
        FileExistsError: ... exists; pass overwrite=True (CLI: --overwrite) to replace it
    """
    if overwrite:
        return
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    for item in items:
        if os.path.lexists(item):
            raise FileExistsError(
                f"{what + ': ' if what else ''}{str(item)!r} exists; pass {switch} to replace it"
            )


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
