"""File hashing."""

from __future__ import annotations

import hashlib
import os

__all__ = ["sha256_file"]


def sha256_file(path: str | os.PathLike) -> str:
    """Return the SHA-256 hex digest of a file, read in 1 MiB chunks.

    Args:
        path: The file.

    Returns:
        The 64-character lowercase hex digest.

    Examples:
        >>> import tempfile, pathlib
        >>> from maskrcnn_custom._utils.hashing import sha256_file
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
        >>> _ = p.write_bytes(b"abc")
        >>> sha256_file(p)[:16]
        'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
