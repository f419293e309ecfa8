"""Griffe extension for the API docs: render the project's ``Example:`` docstring sections as examples.

Google style knows ``Examples:`` as a section of doctest code; ``Example:`` (the project's spelling) would be an
admonition of plain Markdown, where ``>>> x["AP"]`` is read as a link reference. This renames the section
before the docstring is parsed.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

__all__ = ["ExampleSections"]

_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", flags=re.M)


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` docstring sections to ``Examples:``."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Fix the docstring of every loaded object."""
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
