"""The ``maskrcnn-custom`` command line (also ``python -m maskrcnn_custom``).

Each sub-command lives in its own module of this package, which exposes ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; :data:`COMMANDS` lists them in ``--help`` order.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from collections.abc import Sequence

from .._version import __version__

__all__ = ["COMMANDS", "build_parser", "cli_message", "main"]

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


#: Python argument spellings in library messages and the command-line flags that set them.
_FLAG_SPELLINGS: tuple[tuple[str, str], ...] = (
    (r"\bweights_backbone=None\b", "--weights-backbone none"),
    (r"\bweights_backbone=", "--weights-backbone "),
    (r"\bweights_backbone: ", "--weights-backbone: "),
    (r"\brepo_id_or_path=", "--weights "),
    (r"\bfrom_pretrained: ", "--weights: "),
    (r"\bweights=", "--weights "),
    (r"pass revision=None for the default branch", "drop the '@revision' suffix for the default branch"),
    (r"\bcache_dir=", "HF_HOME="),
    (r"\btoken=", "HF_TOKEN="),
    (r" ?\(offline, HF_HUB_OFFLINE=1 or local_files_only=True\)", " (offline or HF_HUB_OFFLINE=1)"),
)


def cli_message(message: str) -> str:
    """Rewrite a library error message for the command line: Python arguments become the CLI flags.

    Examples:
        >>> from maskrcnn_custom.cli import cli_message
        >>> cli_message("pass a local file, or weights_backbone=None to skip pretrained weights")
        'pass a local file, or --weights-backbone none to skip pretrained weights'
    """
    for pattern, flag in _FLAG_SPELLINGS:
        message = re.sub(pattern, flag, message)
    return message


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

    Errors the library raises for bad input or a failing system (``ValueError``, ``TypeError``, any
    ``OSError`` such as ``FileNotFoundError``, ``FileExistsError``, ``ConnectionError`` or a full disk, ...) are printed as one line, without a traceback, with exit code 2, naming the
    command-line flags (``--weights-backbone none``) rather than the Python arguments behind them.
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
        OSError,
        FloatingPointError,
        ImportError,
    ) as exc:  # OSError: files, disk, network
        if args.verbose:
            raise
        print(f"maskrcnn-custom {args.command}: error: {cli_message(str(exc))}", file=sys.stderr)
        return 2
