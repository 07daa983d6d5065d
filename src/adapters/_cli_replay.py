"""``threadwire replay FILE``: a captured stream, as a transcript or as JSON.

FILE is a raw SSE response body as captured (CRLF or LF, heartbeats included)
or a WebSocket transcript in JSON Lines (``-`` reads standard input). All the
work is done by :func:`threadwire.protocol.projections.replay`; this module
reads the file and prints. Bad input still prints what could be decoded, then
says what was wrong on standard error and exits with 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import BinaryIO, Final

import orjson

from threadwire.protocol.projections import render_transcript, replay

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME: Final = "replay"
HELP: Final = "Replay a captured SSE body or WebSocket transcript and show what it contains."

_CHUNK: Final = 1 << 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        metavar="FILE",
        help="an SSE body as captured, or a WebSocket transcript (JSON Lines); - for stdin",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (the keys are documented in README.md) instead of text",
    )


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def run(args: argparse.Namespace) -> int:
    prog = "threadwire replay"
    try:
        if args.file == "-":
            result = replay(_chunks(sys.stdin.buffer))
        else:
            with open(args.file, "rb") as stream:
                result = replay(_chunks(stream))
    except OSError as exc:
        print(f"{prog}: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    summary = result.to_json()
    source = "standard input" if args.file == "-" else args.file
    if args.json:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render_transcript(summary, source=source))
    sys.stdout.flush()
    for warning in result.warnings:
        print(f"{prog}: warning: {warning}", file=sys.stderr)
    if result.error is not None:
        print(f"{prog}: {source}: {result.error.message}", file=sys.stderr)
        return 1
    return 0
