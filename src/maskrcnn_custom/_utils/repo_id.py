r"""Hugging Face Hub repository ids and revisions: ``"org/name"``, ``"org/name@revision"``.

Both are untrusted input that ``huggingface_hub`` turns into cache paths (a revision becomes the file name
``refs/<revision>`` of the cache), so they are checked here, before any I/O, with one set of rules:

- a repo id is ``namespace/name`` as the Hub accepts it: letters, digits, ``-``, ``_`` and ``.``, neither
  part starting or ending with ``-`` or ``.``, no ``--`` or ``..`` anywhere, at most 96 characters;
- a revision is a 40-hex commit hash or a git ref name as ``git check-ref-format --allow-onelevel`` accepts
  it: no ``..``, no ``@{``, not ``@``, no leading ``/`` or ``-``, no ``//``, no trailing ``/``, ``.`` or
  ``.lock``, no component starting with ``.``, no control character, space, ``~ ^ : ? * [ \``, at most 255
  characters.
"""

from __future__ import annotations

import re

__all__ = [
    "COMMIT_RE",
    "REPO_ID_MAX_LENGTH",
    "REPO_ID_RE",
    "REPO_ID_WITH_REVISION_RE",
    "REVISION_MAX_LENGTH",
    "check_repo_id",
    "check_revision",
    "is_repo_id",
    "is_revision",
    "looks_like_repo_id",
    "split_repo_id",
]

#: Longest repo id the Hub accepts (``namespace/name``).
REPO_ID_MAX_LENGTH = 96
#: Longest revision accepted (a git ref name; longer ones are no branch anyone types).
REVISION_MAX_LENGTH = 255
#: A full commit hash.
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")

_PART = r"[A-Za-z0-9](?:[\w.\-]*[A-Za-z0-9_])?"
#: ``org/name`` without a revision (the characters only; :func:`is_repo_id` applies every rule).
REPO_ID_RE = re.compile(rf"^{_PART}/{_PART}$")
#: ``org/name`` with an optional ``@revision`` suffix (the characters only; see :func:`is_repo_id`).
REPO_ID_WITH_REVISION_RE = re.compile(rf"^{_PART}/{_PART}(@.+)?$", re.DOTALL)

_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def _repo_id_ok(repo_id: str) -> bool:
    return (
        len(repo_id) <= REPO_ID_MAX_LENGTH
        and REPO_ID_RE.match(repo_id) is not None
        and ".." not in repo_id
        and "--" not in repo_id
    )


def is_revision(revision: object) -> bool:
    """Whether ``revision`` is a 40-hex commit hash or a valid git ref name (see the module docstring).

    Examples:
        >>> from maskrcnn_custom._utils.repo_id import is_revision
        >>> is_revision("main"), is_revision("refs/pr/1"), is_revision("../../etc"), is_revision("v1.lock")
        (True, True, False, False)
    """
    if not isinstance(revision, str) or not revision or len(revision) > REVISION_MAX_LENGTH:
        return False
    if COMMIT_RE.match(revision):
        return True
    if revision == "@" or ".." in revision or "@{" in revision or "//" in revision:
        return False
    if revision.startswith(("/", "-")) or revision.endswith(("/", ".", ".lock")):
        return False
    if _REF_FORBIDDEN.search(revision):
        return False
    return not any(part.startswith(".") or part.endswith(".lock") for part in revision.split("/"))


def check_revision(revision: object, *, what: str = "revision") -> str | None:
    """Return ``revision`` (``None`` stays ``None``) after checking it, or raise naming ``what``.

    Raises:
        TypeError: If ``revision`` is not a string or ``None``.
        ValueError: If it is neither a 40-hex commit hash nor a valid git ref name.

    Examples:
        >>> from maskrcnn_custom._utils.repo_id import check_revision
        >>> check_revision("v1.0"), check_revision(None)
        ('v1.0', None)
    """
    if revision is None:
        return None
    if not isinstance(revision, str):
        raise TypeError(
            f"{what} must be a string (a branch, tag or commit hash) or None, got {type(revision).__name__}"
        )
    if not is_revision(revision):
        raise ValueError(
            f"{what}={revision!r} is not a valid Hub revision: pass a branch or tag name following git's "
            "ref-name rules (no '..', '@{', '//', spaces, control characters or any of ~ ^ : ? * [ \\; not "
            "starting with '/', '-' or '.', not ending with '/', '.' or '.lock') or a 40-character commit hash"
        )
    return revision


def check_repo_id(repo_id: object, *, what: str = "repo_id") -> str:
    """Return ``repo_id`` after checking it is ``"org/name"`` as the Hub accepts it, or raise naming ``what``.

    Raises:
        TypeError: If ``repo_id`` is not a string.
        ValueError: If it breaks the Hub's repo-id rules.

    Examples:
        >>> from maskrcnn_custom._utils.repo_id import check_repo_id
        >>> check_repo_id("timm/resnet18.tv_in1k")
        'timm/resnet18.tv_in1k'
    """
    if not isinstance(repo_id, str):
        raise TypeError(f"{what} must be a string like 'org/name', got {type(repo_id).__name__}")
    if not _repo_id_ok(repo_id):
        raise ValueError(
            f"{what}={repo_id!r} is not a valid Hub repo id: pass 'org/name' (or 'org/name@revision' where a "
            "revision is accepted) with letters, digits, '-', '_' "
            f"and '.', each part starting and ending with a letter or digit, no '--' or '..', at most "
            f"{REPO_ID_MAX_LENGTH} characters"
        )
    return repo_id


def is_repo_id(text: object, *, allow_revision: bool = True) -> bool:
    """Whether ``text`` is a valid Hub repo id (``"org/name"``, optionally ``"org/name@revision"``).

    The repo id and the revision must both pass the rules of :func:`check_repo_id` and
    :func:`check_revision`; ``"org/name@../../x"`` is not a repo id.

    Examples:
        >>> from maskrcnn_custom._utils.repo_id import is_repo_id
        >>> is_repo_id("timm/resnet18.tv_in1k@main"), is_repo_id("timm/x@main", allow_revision=False)
        (True, False)
        >>> is_repo_id("org/name@../../../../victim.txt")
        False
    """
    if not isinstance(text, str):
        return False
    repo_id, at, revision = text.partition("@")
    if not at:
        return _repo_id_ok(repo_id)
    return allow_revision and _repo_id_ok(repo_id) and is_revision(revision)


def looks_like_repo_id(text: object) -> bool:
    """Whether ``text`` is meant as a repo id (``org/name`` then optionally ``@anything``), valid or not."""
    return isinstance(text, str) and re.match(r"^[^/@\s]+/[^/@\s]+(@.*)?$", text, re.DOTALL) is not None


def split_repo_id(text: str, *, what: str = "repo_id") -> tuple[str, str | None]:
    """Split ``"org/name@revision"`` into ``("org/name", "revision")`` (``None`` without a suffix).

    Both parts are checked (:func:`check_repo_id`, :func:`check_revision`) before anything is returned.

    Raises:
        ValueError: If ``text`` is not a valid repo id, or its revision is not valid; the message names
            ``what``.

    Examples:
        >>> from maskrcnn_custom._utils.repo_id import split_repo_id
        >>> split_repo_id("org/name@v1"), split_repo_id("org/name")
        (('org/name', 'v1'), ('org/name', None))
    """
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string like 'org/name@revision', got {type(text).__name__}")
    repo_id, at, revision = text.partition("@")
    check_repo_id(repo_id, what=what)
    if at:
        check_revision(revision, what=f"the revision of {what}={text!r} (after '@')")
        return repo_id, revision
    return repo_id, None
