"""The ``maskrcnn-custom`` command line (also ``python -m maskrcnn_custom``).

Each sub-command lives in its own module of this package, which exposes ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; :data:`COMMANDS` lists them in ``--help`` order.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from .._version import __version__

__all__ = ["COMMANDS", "build_parser", "main"]

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "info",
    "synth",
    "anchors",
    "train",
    "evaluate",
    "convert",
    "predict",
    "export",
    "demo",
)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keep the commands' descriptions as written (examples on their own lines) and show defaults.

    A default is shown only when it says something: not for ``None`` ("not given") and not when the help
    text already states the default in its own words.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is None or "default" in text.lower():
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="maskrcnn-custom",
        description="Mask R-CNN for long, thin and oddly proportioned objects: data, training, weights, inference.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module_name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{module_name}")
        p = sub.add_parser(
            module.NAME,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=_HelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    Errors the library raises for bad input (``ValueError``, ``TypeError``, ``FileNotFoundError``, ...) are
    printed as one line, without a traceback, with exit code 2.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s: %(message)s"
    )
    try:
        return int(args._run(args) or 0)
    except (
        ValueError,
        TypeError,
        FileNotFoundError,
        FileExistsError,
        FloatingPointError,
        ImportError,
    ) as exc:
        if args.verbose:
            raise
        print(f"maskrcnn-custom {args.command}: error: {exc}", file=sys.stderr)
        return 2
