"""One place where files come from the Hugging Face Hub, with errors that say what was tried and what to do."""

from __future__ import annotations

import inspect
import os
import socket
import threading
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .._utils.hashing import sha256_file
from .._utils.repo_id import check_repo_id, check_revision

__all__ = [
    "HUB_PROBE_TIMEOUT",
    "hub_download",
    "hub_is_offline",
    "hub_unreachable_reason",
    "silent_tqdm_class",
]

#: Seconds to wait for a TCP connection to the Hub (or the proxy in front of it) before calling it offline.
HUB_PROBE_TIMEOUT = 1.0


def silent_tqdm_class() -> type[Any]:
    """Return a huggingface_hub progress-bar class that never displays anything (for ``progress=False``)."""
    from huggingface_hub.utils import tqdm as hf_tqdm

    class _SilentTqdm(hf_tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return _SilentTqdm


def hub_is_offline() -> bool:
    """Whether offline mode is on (``HF_HUB_OFFLINE=1``, as read by ``huggingface_hub``)."""
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - a runtime dependency
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def hub_unreachable_reason(endpoint: str | None = None, *, timeout: float = HUB_PROBE_TIMEOUT) -> str | None:
    """Return why the Hub cannot be reached (``None`` when a TCP connection opens within ``timeout`` seconds).

    The probe connects to the host of ``endpoint`` (default: ``HF_ENDPOINT``), or to the proxy that
    ``HTTPS_PROXY`` / ``HTTP_PROXY`` route it through, in a background thread, so that neither a dead
    network nor a hanging name lookup costs more than ``timeout``. Without it ``huggingface_hub`` retries for
    tens of seconds before giving up.

    Examples:
        >>> from maskrcnn_custom.weights.download import hub_unreachable_reason
        >>> hub_unreachable_reason("http://127.0.0.1:9", timeout=0.5) is not None  # nothing listens on port 9
        True
    """
    url = endpoint if endpoint is not None else _endpoint()
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return f"HF_ENDPOINT={url!r} has no host name"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme or "https")
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if proxy_parts.hostname:
            host, port = proxy_parts.hostname, proxy_parts.port or 80
    result: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(None)
        except OSError as exc:
            result.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=probe, name="maskrcnn-custom-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.1)
    if not result:
        return f"no answer from {host}:{port} within {timeout:g} s"
    reason = result[0]
    return None if reason is None else f"cannot connect to {host}:{port} ({reason})"


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
    missing_ok: bool = False,
) -> Path | None:
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
        missing_ok: Return ``None`` when the repository has no such file at that revision (or, offline, the
            cache has none) instead of raising.

    Returns:
        Path of the file in the cache.

    Raises:
        FileNotFoundError: If the repo, revision or file cannot be found, or nothing is cached while offline.
        ValueError: If the file's SHA-256 does not match ``sha256``, or ``repo_id`` / ``revision`` /
            ``filename`` is not valid (checked before any I/O).

    Examples:
        >>> from maskrcnn_custom.weights.download import hub_download  # doctest: +SKIP
        >>> path = hub_download("timm/resnet18.tv_in1k", "model.safetensors", progress=False)  # doctest: +SKIP
    """
    check_repo_id(repo_id, what=f"{what} repo id")
    check_revision(revision, what=f"{what} revision")
    if (
        not isinstance(filename, str)
        or not filename
        or filename.startswith("/")
        or "\\" in filename
        or any(part in ("", ".", "..") for part in filename.split("/"))
    ):
        raise ValueError(f"{what}: filename={filename!r} must be a relative path inside the repository")
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
    unreachable = None if local_files_only or hub_is_offline() else hub_unreachable_reason()
    if unreachable is not None:
        # Offline without HF_HUB_OFFLINE: take the file from the cache, or fail now instead of after retries.
        local_files_only = True
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
        if missing_ok:
            return None
        if unreachable is not None:
            raise FileNotFoundError(
                f"{tried}: the Hub at {_endpoint()} cannot be reached ({unreachable}) and the file is not in the "
                "local cache. Connect to the network (or fix HF_ENDPOINT / the proxy), set HF_HUB_OFFLINE=1 and "
                f"point HF_HOME (or cache_dir=) at a cache that has it, pass a local file or folder instead, {skip}"
            ) from exc
        raise FileNotFoundError(
            f"{tried}: not in the local cache and the Hub could not be reached (offline, HF_HUB_OFFLINE=1 or "
            "local_files_only=True). Connect once to fill the cache, point HF_HOME (or cache_dir=) at a cache that "
            f"has it, pass a local file or folder instead, {skip}"
        ) from exc
    except hf_utils.EntryNotFoundError as exc:
        if missing_ok:
            return None
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
