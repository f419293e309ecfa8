"""Hugging Face Hub repository ids: ``"org/name"`` and ``"org/name@revision"``."""

from __future__ import annotations

import re

__all__ = ["REPO_ID_RE", "REPO_ID_WITH_REVISION_RE", "is_repo_id", "split_repo_id"]

#: ``org/name`` without a revision.
REPO_ID_RE = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
#: ``org/name`` with an optional ``@revision`` suffix (a branch, tag or commit hash).
REPO_ID_WITH_REVISION_RE = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+(@[\w.\-/]+)?$")


def is_repo_id(text: object, *, allow_revision: bool = True) -> bool:
    """Whether ``text`` looks like a Hub repo id (``"org/name"``, optionally ``"org/name@revision"``).

    Examples:
        >>> from maskrcnn_custom._utils.repo_id import is_repo_id
        >>> is_repo_id("timm/resnet18.tv_in1k@main"), is_repo_id("timm/x@main", allow_revision=False)
        (True, False)
    """
    pattern = REPO_ID_WITH_REVISION_RE if allow_revision else REPO_ID_RE
    return isinstance(text, str) and pattern.match(text) is not None


def split_repo_id(text: str) -> tuple[str, str | None]:
    """Split ``"org/name@revision"`` into ``("org/name", "revision")`` (``None`` without a suffix).

    Raises:
        ValueError: If ``text`` is not a repo id.

    Examples:
        >>> from maskrcnn_custom._utils.repo_id import split_repo_id
        >>> split_repo_id("org/name@v1"), split_repo_id("org/name")
        (('org/name', 'v1'), ('org/name', None))
    """
    if not is_repo_id(text):
        raise ValueError(f"{text!r} is not a Hub repo id; pass 'org/name' or 'org/name@revision'")
    repo_id, _, revision = text.partition("@")
    return repo_id, revision or None
