"""One place where files come from the Hugging Face Hub, with errors that say what was tried and what to do."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["hub_download"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hub_download(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    sha256: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    what: str = "weights",
) -> Path:
    """Download ``filename`` from ``repo_id`` at ``revision`` into the Hugging Face cache and return its path.

    ``HF_ENDPOINT``, ``HF_HOME`` and ``HF_HUB_OFFLINE`` are honoured because the real ``huggingface_hub``
    client does the work.

    Args:
        repo_id: Hub repository, e.g. ``"timm/resnet101.tv_in1k"``.
        filename: File inside it.
        revision: Branch, tag or commit hash (default: the repo's default branch).
        sha256: When given, the downloaded file's SHA-256 must match it.
        cache_dir: Cache folder (default: huggingface_hub's).
        local_files_only: Only look in the cache.
        token: Hub token for private repositories.
        what: The user-facing parameter being resolved, for the error message.

    Returns:
        Path of the file in the cache.

    Raises:
        FileNotFoundError: If the repo, revision or file cannot be found, or nothing is cached while offline.
        ValueError: If the file's SHA-256 does not match ``sha256``.
    """
    try:
        import huggingface_hub
        from huggingface_hub import errors as hf_errors
    except ImportError as exc:  # pragma: no cover - a runtime dependency
        raise ImportError(
            "huggingface_hub is required to download weights: pip install huggingface_hub"
        ) from exc

    from .._version import __version__

    tried = f"{what}: file {filename!r} of Hub repo {repo_id!r} at revision {revision or 'main'!r}"
    try:
        path = huggingface_hub.hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
            library_name="maskrcnn-custom",
            library_version=__version__,
        )
    except hf_errors.RevisionNotFoundError as exc:
        raise FileNotFoundError(
            f"{tried}: the revision does not exist; check the branch, tag or commit hash"
        ) from exc
    except hf_errors.RepositoryNotFoundError as exc:
        raise FileNotFoundError(
            f"{tried}: the repository does not exist or is private; check the repo id, or pass token= for a "
            "private repo"
        ) from exc
    except hf_errors.EntryNotFoundError as exc:
        if isinstance(exc, hf_errors.LocalEntryNotFoundError):
            raise FileNotFoundError(
                f"{tried}: not in the local cache and the Hub could not be reached (offline, HF_HUB_OFFLINE=1 or "
                "local_files_only=True). Connect once to fill the cache, point HF_HOME at a cache that has it, "
                f"pass a local file or folder instead, or {what}=None to skip pretrained weights"
            ) from exc
        raise FileNotFoundError(f"{tried}: the repository has no such file at that revision") from exc
    except (OSError, ValueError, hf_errors.HfHubHTTPError) as exc:
        raise FileNotFoundError(
            f"{tried}: download failed ({type(exc).__name__}: {exc}). Retry, set HF_HUB_OFFLINE=1 to use the "
            f"cache, pass a local file or folder instead, or {what}=None to skip pretrained weights"
        ) from exc
    path = Path(path)
    if sha256 is not None:
        actual = _sha256(path)
        if actual != sha256:
            raise ValueError(
                f"{tried}: SHA-256 {actual} does not match the expected {sha256}; the cached file is corrupt or "
                "the revision changed. Delete it from the cache (huggingface-cli delete-cache) and download again"
            )
    return path
