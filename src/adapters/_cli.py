"""The ``threadwire`` command line: a dispatcher over subcommands.

Each subcommand lives in its own module (``_cli_<name>.py``) exposing
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; this
module only builds the parser from :data:`SUBCOMMANDS` and dispatches. Exit
codes: 0 success, 1 the input or the peer was bad, 2 usage (argparse) or a
file that cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from . import _cli_demo, _cli_replay, _cli_serve, _cli_stream

__all__ = ["main", "build_parser", "SUBCOMMANDS"]

SUBCOMMANDS: tuple[ModuleType, ...] = (_cli_demo, _cli_stream, _cli_serve, _cli_replay)
"""The subcommand modules, in the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="threadwire",
        description="Tools for LangGraph's Agent Streaming Protocol.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        sub = commands.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else 2
    try:
        code: int = args.run(args)
    except BrokenPipeError:  # e.g. piped into ``head``
        sys.stderr.close()
        return 1
    return code
