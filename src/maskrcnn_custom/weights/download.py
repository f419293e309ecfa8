"""One place where files come from the Hugging Face Hub, with errors that say what was tried and what to do."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from .._utils.hashing import sha256_file

__all__ = ["hub_download", "silent_tqdm_class"]


def silent_tqdm_class() -> type[Any]:
    """Return a huggingface_hub progress-bar class that never displays anything (for ``progress=False``)."""
    from huggingface_hub.utils import tqdm as hf_tqdm

    class _SilentTqdm(hf_tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return _SilentTqdm


def hub_download(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    sha256: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    progress: bool = True,
    what: str = "weights",
    skip_hint: str | None = None,
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
        progress: Show huggingface_hub's download progress bar (it still honours
            ``HF_HUB_DISABLE_PROGRESS_BARS``); ``False`` silences it for this download.
        what: The user-facing parameter being resolved, for the error message.
        skip_hint: The last piece of advice in error messages (default: ``"or {what}=None to skip
            pretrained weights"``).

    Returns:
        Path of the file in the cache.

    Raises:
        FileNotFoundError: If the repo, revision or file cannot be found, or nothing is cached while offline.
        ValueError: If the file's SHA-256 does not match ``sha256``.

    Examples:
        >>> from maskrcnn_custom.weights.download import hub_download  # doctest: +SKIP
        >>> path = hub_download("timm/resnet18.tv_in1k", "model.safetensors", progress=False)  # doctest: +SKIP
    """
    try:
        import huggingface_hub
        from huggingface_hub import utils as hf_utils
    except ImportError as exc:  # pragma: no cover - a runtime dependency
        raise ImportError(
            "huggingface_hub is required to download weights: pip install huggingface_hub"
        ) from exc

    from .._version import __version__

    skip = f"or {what}=None to skip pretrained weights" if skip_hint is None else skip_hint
    tried = f"{what}: file {filename!r} of Hub repo {repo_id!r} at revision {revision or 'main'!r}"
    extra: dict[str, Any] = {}
    if not progress and "tqdm_class" in inspect.signature(huggingface_hub.hf_hub_download).parameters:
        extra["tqdm_class"] = silent_tqdm_class()
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
            **extra,
        )
    except hf_utils.RevisionNotFoundError as exc:
        raise FileNotFoundError(
            f"{tried}: the revision does not exist on the Hub. Check the branch, tag or commit hash, or pass "
            "revision=None for the default branch"
        ) from exc
    except hf_utils.GatedRepoError as exc:
        raise FileNotFoundError(
            f"{tried}: the repository is gated. Accept its conditions on the Hub and pass token= (or log in with "
            "`hf auth login`)"
        ) from exc
    except hf_utils.RepositoryNotFoundError as exc:
        raise FileNotFoundError(
            f"{tried}: the repository does not exist or is private. Check the repo id, pass token= for a "
            f"private repo, pass a local file or folder instead, {skip}"
        ) from exc
    except hf_utils.LocalEntryNotFoundError as exc:
        raise FileNotFoundError(
            f"{tried}: not in the local cache and the Hub could not be reached (offline, HF_HUB_OFFLINE=1 or "
            "local_files_only=True). Connect once to fill the cache, point HF_HOME (or cache_dir=) at a cache that "
            f"has it, pass a local file or folder instead, {skip}"
        ) from exc
    except hf_utils.EntryNotFoundError as exc:
        raise FileNotFoundError(
            f"{tried}: the repository has no such file at that revision. Check the revision, or that the repo "
            "was written by this library's save_pretrained / push_to_hub"
        ) from exc
    except (OSError, ValueError, hf_utils.HfHubHTTPError) as exc:
        raise FileNotFoundError(
            f"{tried}: download failed ({type(exc).__name__}: {exc}). Retry, set HF_HUB_OFFLINE=1 to use the "
            f"cache, pass a local file or folder instead, {skip}"
        ) from exc
    path = Path(path)
    if sha256 is not None:
        actual = sha256_file(path)
        if actual != sha256:
            raise ValueError(
                f"{tried}: SHA-256 {actual} does not match the expected {sha256}; the cached file is corrupt or "
                "the revision changed. Delete it from the cache (`hf cache delete`, or remove the repo's folder "
                "under HF_HOME/hub) and download again"
            )
    return path
