"""Where saved weights come from: a local ``save_pretrained`` folder, a Hub repo, or an official enum entry.

Everything here answers "what was tried and what to do" when it fails: the folder, or the repo, revision
and file, and the way out (a local path, ``HF_HUB_OFFLINE``, upgrading the library, saving again).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import torch

from .._utils.hashing import sha256_file
from .._utils.repo_id import check_revision, looks_like_repo_id, split_repo_id
from .._version import __version__
from ..models.config import MaskRCNNConfig
from ..models.validation import validate_config
from .download import hub_download
from .model import MaskRCNNWeights

__all__ = [
    "CARD_NAME",
    "CHECKSUMS_FORMAT_VERSION",
    "CHECKSUMS_NAME",
    "CONFIG_NAME",
    "FORMAT_VERSION",
    "LIBRARY_NAME",
    "MAX_CONFIG_BYTES",
    "WEIGHTS_NAME",
    "PretrainedLike",
    "WeightsSource",
    "build_checksums",
    "locate",
    "parse_checksums",
    "parse_config",
    "read_weights",
    "verify_checksum",
]

#: Files of a ``save_pretrained`` folder.
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
#: The checksum manifest of a ``save_pretrained`` folder: the SHA-256 of each of the other files.
CHECKSUMS_NAME = "checksums.json"
#: Layout version of ``checksums.json``.
CHECKSUMS_FORMAT_VERSION = 1
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
#: ``library_name`` written into ``config.json`` (and the model card).
LIBRARY_NAME = "maskrcnn-custom"
#: Layout version of ``config.json``; a higher one was written by a newer library.
FORMAT_VERSION = 1
#: Largest ``config.json`` read (bytes); a saved config is a few kilobytes, even with 10 000 class names.
MAX_CONFIG_BYTES = 4 * 1024 * 1024

#: What ``from_pretrained`` and ``weights=`` accept.
PretrainedLike = Union[MaskRCNNWeights, str, os.PathLike]


@dataclass(frozen=True)
class WeightsSource:
    """A located set of saved weights, not yet downloaded.

    Attributes:
        origin: Human-readable description for messages, e.g. ``"Hub repo 'org/name' at revision 'main'"``.
        folder: Local folder, for a local source.
        repo_id: Hub repository, for a Hub source.
        revision: Hub revision (``None``: the default branch).
        sha256: Expected SHA-256 of the weights file, when pinned by an enum entry.
    """

    origin: str
    folder: Path | None = None
    repo_id: str | None = None
    revision: str | None = None
    sha256: str | None = None

    def file(
        self,
        name: str,
        *,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        progress: bool = True,
        missing_ok: bool = False,
    ) -> Path | None:
        """Return the local path of ``name``, downloading it from the Hub (or taking it from the cache).

        With ``missing_ok=True`` a file the folder or repo does not have gives ``None`` instead of an error.

        Raises:
            FileNotFoundError: If the file is missing from the folder, the repo, the revision or the cache.
        """
        if self.folder is not None:
            path = self.folder / name
            if missing_ok and not path.exists():
                return None
            if not path.is_file():
                raise FileNotFoundError(
                    f"{self.origin} has no {name}; a save_pretrained folder holds {CONFIG_NAME}, {WEIGHTS_NAME} "
                    f"and {CARD_NAME}. Pass the folder save_pretrained wrote, or convert an old .pth checkpoint "
                    "with convert_checkpoint / `maskrcnn-custom convert`"
                )
            return path
        return hub_download(
            str(self.repo_id),
            name,
            revision=self.revision,
            sha256=self.sha256 if name == WEIGHTS_NAME else None,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
            progress=progress,
            what="from_pretrained",
            skip_hint="or a local save_pretrained folder",
            missing_ok=missing_ok,
        )

    def read_checksums(self, **kwargs: Any) -> dict[str, str] | None:
        """The ``checksums.json`` manifest (``None`` for a folder saved without one).

        ``kwargs`` are those of :meth:`file`.
        """
        path = self.file(CHECKSUMS_NAME, missing_ok=True, **kwargs)
        return None if path is None else parse_checksums(path, self.origin)

    def read_config(self, checksums: Mapping[str, str] | None, **kwargs: Any) -> MaskRCNNConfig:
        """``config.json``, verified against ``checksums`` and validated (see :func:`parse_config`)."""
        path = Path(str(self.file(CONFIG_NAME, **kwargs)))
        verify_checksum(path, CONFIG_NAME, checksums, self.origin)
        config = parse_config(path, self.origin)
        if checksums is None:
            warnings.warn(
                f"{self.origin} has no {CHECKSUMS_NAME} (saved by an older maskrcnn-custom), so its files cannot "
                "be checked for corruption or tampering; save the model again with save_pretrained to add one",
                UserWarning,
                stacklevel=4,
            )
        return config

    def read_state_dict(self, checksums: Mapping[str, str] | None, **kwargs: Any) -> dict[str, torch.Tensor]:
        """``model.safetensors``, verified against ``checksums`` and read (see :func:`read_weights`)."""
        path = Path(str(self.file(WEIGHTS_NAME, **kwargs)))
        verify_checksum(path, WEIGHTS_NAME, checksums, self.origin)
        return read_weights(path, self.origin)


def locate(source: Any, *, revision: str | None = None, what: str = "repo_id_or_path") -> WeightsSource:
    """Decide what ``source`` is: an enum entry (or its name), a local folder, or a Hub repo id.

    Args:
        source: ``MaskRCNNWeights`` member or name, a folder path, ``"org/name"`` or ``"org/name@revision"``.
        revision: Hub revision; must agree with an ``@revision`` suffix when both are given.
        what: Parameter name for messages.

    Returns:
        The located source (nothing is downloaded yet).

    Raises:
        TypeError: If ``source`` has an unsupported type.
        ValueError: For an unpublished enum entry, a revision given twice differently, or a revision for a
            local folder.
        FileNotFoundError: If ``source`` is neither an existing folder nor a Hub repo id.
    """
    revision = check_revision(revision, what="revision")
    if isinstance(source, str) and source.split(".")[-1] in MaskRCNNWeights.__members__:
        if "/" not in source and not Path(source).exists():
            source = MaskRCNNWeights.from_name(source)
    if isinstance(source, MaskRCNNWeights):
        w = source.check_published()
        rev = revision or w.revision
        return WeightsSource(
            origin=f"{type(source).__name__}.{source.name} (Hub repo {w.repo_id!r} at revision {rev!r})",
            repo_id=w.repo_id,
            revision=rev,
            sha256=w.sha256 if rev == w.revision else None,
        )
    if isinstance(source, os.PathLike) or (isinstance(source, str) and Path(source).expanduser().is_dir()):
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{what}={str(source)!r}: no such folder. Pass a folder written by save_pretrained, or a Hub repo "
                "id like 'org/name' as a string"
            )
        if revision is not None:
            raise ValueError(
                f"revision={revision!r} only applies to Hub repos, but {what} is the local folder {str(folder)!r}; "
                "drop revision="
            )
        return WeightsSource(origin=f"folder {str(folder)!r}", folder=folder)
    if isinstance(source, str):
        if looks_like_repo_id(source):
            repo_id, suffix = split_repo_id(source, what=what)
            if suffix and revision is not None and suffix != revision:
                raise ValueError(
                    f"{what}={source!r} names revision {suffix!r} but revision={revision!r} was also given; "
                    "give the revision once"
                )
            rev = suffix or revision
            return WeightsSource(
                origin=f"Hub repo {repo_id!r} at revision {rev or 'main'!r}", repo_id=repo_id, revision=rev
            )
        raise FileNotFoundError(
            f"{what}={source!r} is neither an existing folder nor a Hub repo id like 'org/name' or "
            f"'org/name@revision', nor a member of MaskRCNNWeights ({list(MaskRCNNWeights.__members__)}). "
            "Check the path (it must be a folder written by save_pretrained) or the repo id"
        )
    raise TypeError(
        f"{what} must be a MaskRCNNWeights member, a folder path or a Hub repo id string, got {type(source).__name__}"
    )


def _major(version: Any) -> int | None:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return None


def parse_config(path: Path, origin: str) -> MaskRCNNConfig:
    """Read and check a ``config.json`` written by ``save_pretrained``.

    Args:
        path: The file.
        origin: Where it came from, for messages.

    Returns:
        The validated config.

    Raises:
        ValueError: If the file is not JSON, was not written by this library, was written by a newer major
            version or layout (or has keys this version does not know), or describes an invalid model.
    """
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ValueError(
            f"{CONFIG_NAME} of {origin} ({str(path)!r}) has {size:,} bytes, more than the {MAX_CONFIG_BYTES:,} a "
            "saved config can need; it was not written by save_pretrained. Save the model again"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(
            f"{CONFIG_NAME} of {origin} ({str(path)!r}) is not valid JSON ({exc}); the file is corrupt. Download "
            "it again (delete it from the Hugging Face cache first) or save the model again"
        ) from exc
    if not isinstance(data, dict):
        raise ValueError(f"{CONFIG_NAME} of {origin} must hold a JSON object, got {type(data).__name__}")
    library = data.pop("library_name", None)
    if library != LIBRARY_NAME:
        raise ValueError(
            f"{CONFIG_NAME} of {origin} was not written by {LIBRARY_NAME} (library_name={library!r}); "
            "from_pretrained loads folders written by save_pretrained / push_to_hub. For ImageNet backbone "
            "weights (e.g. timm/resnet101.tv_in1k) use weights_backbone= instead"
        )
    version = data.pop("library_version", None)
    layout = data.pop("format_version", FORMAT_VERSION)
    upgrade = "Upgrade the library: pip install -U maskrcnn-custom"
    ours = _major(__version__)
    theirs = _major(version)
    if theirs is not None and ours is not None and theirs > ours:
        raise ValueError(
            f"{CONFIG_NAME} of {origin} was written by {LIBRARY_NAME} {version}, a newer major version than the "
            f"installed {__version__}. {upgrade}"
        )
    if not isinstance(layout, int) or isinstance(layout, bool) or layout > FORMAT_VERSION:
        raise ValueError(
            f"{CONFIG_NAME} of {origin} has format_version={layout!r} but this {LIBRARY_NAME} {__version__} "
            f"reads format_version <= {FORMAT_VERSION}. {upgrade}"
        )
    try:
        config = MaskRCNNConfig.from_dict(data)
        validate_config(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{CONFIG_NAME} of {origin} (written by {LIBRARY_NAME} {version}) cannot be used by {LIBRARY_NAME} "
            f"{__version__}: {exc}"
        ) from exc
    return config


def build_checksums(folder: Path, names: Iterable[str]) -> dict[str, Any]:
    """The content of ``checksums.json`` for the files ``names`` of ``folder`` (SHA-256 of each)."""
    return {
        "format_version": CHECKSUMS_FORMAT_VERSION,
        "algorithm": "sha256",
        "files": {name: sha256_file(folder / name) for name in sorted(names)},
    }


def parse_checksums(path: Path, origin: str) -> dict[str, str]:
    """Read a ``checksums.json``: the SHA-256 of each file of a saved model, by file name.

    Raises:
        ValueError: If the manifest is malformed or was written by a newer library.
    """
    bad = f"{CHECKSUMS_NAME} of {origin} ({str(path)!r}) is malformed"
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"{bad}: {path.stat().st_size:,} bytes. Save the model again")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{bad} ({exc}). Download it again or save the model again") from exc
    if not isinstance(data, Mapping):
        raise ValueError(f"{bad}: it must hold a JSON object. Save the model again")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > CHECKSUMS_FORMAT_VERSION:
        raise ValueError(
            f"{CHECKSUMS_NAME} of {origin} has format_version={version!r}; this {LIBRARY_NAME} {__version__} "
            f"reads format_version <= {CHECKSUMS_FORMAT_VERSION}. Upgrade the library: pip install -U maskrcnn-custom"
        )
    files = data.get("files")
    if (
        data.get("algorithm") != "sha256"
        or not isinstance(files, Mapping)
        or not all(
            isinstance(k, str) and isinstance(v, str) and _SHA256_RE.match(v) for k, v in files.items()
        )
    ):
        raise ValueError(f"{bad}: it must map file names to SHA-256 hex digests. Save the model again")
    return dict(files)


def verify_checksum(path: Path, name: str, checksums: Mapping[str, str] | None, origin: str) -> None:
    """Check ``path`` (the file ``name`` of a saved model) against its manifest entry before it is read.

    Raises:
        ValueError: If the manifest lists no hash for ``name``, or the hashes differ (both are named).
    """
    if checksums is None:
        return
    expected = checksums.get(name)
    if expected is None:
        raise ValueError(
            f"integrity check failed: {CHECKSUMS_NAME} of {origin} lists no SHA-256 for {name}; the folder was "
            "edited after saving. Save the model again with save_pretrained"
        )
    actual = sha256_file(path)
    if actual != expected:
        raise ValueError(
            f"integrity check failed: {name} of {origin} ({str(path)!r}) has SHA-256 {actual} but "
            f"{CHECKSUMS_NAME} records {expected}; the file is corrupt or was changed after saving. For a Hub "
            "download, delete it from the cache (`hf cache delete`) and download again; for a local folder, "
            "save the model again"
        )


def read_weights(path: Path, origin: str) -> dict[str, torch.Tensor]:
    """Read ``model.safetensors`` onto the CPU (safetensors never runs code from the file).

    Raises:
        ValueError: If the file is corrupt or truncated.
        FloatingPointError: If it holds NaN or infinite values.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise ValueError(
            f"{WEIGHTS_NAME} of {origin} ({str(path)!r}) cannot be read ({type(exc).__name__}: {exc}); the file "
            "is corrupt or truncated. For a Hub download, delete it from the cache (`hf cache delete`, or the "
            "repo's folder under HF_HOME/hub) and download again; for a local folder, save the model again"
        ) from exc
    # A NaN or inf anywhere makes the sum non-finite, so one cheap reduction per tensor finds every bad tensor;
    # only a sum that overflows on finite values needs the element-wise check.
    bad = sorted(
        k
        for k, v in state.items()
        if v.is_floating_point() and not bool(torch.isfinite(v.sum())) and not bool(torch.isfinite(v).all())
    )
    if bad:
        raise FloatingPointError(
            f"{WEIGHTS_NAME} of {origin} holds NaN or infinite values in {bad[:10]}"
            f"{' ...' if len(bad) > 10 else ''} ({len(bad)} tensors); these weights are unusable "
            "(training diverged before they were saved). Use an earlier checkpoint"
        )
    return state
