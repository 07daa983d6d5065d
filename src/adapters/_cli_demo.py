"""``threadwire demo``: the reference server and the client together, rendered live."""

from __future__ import annotations

import argparse
import json

import anyio

from ._cli_stream import _parse, add_common, stream_run
from ._server import serve

NAME = "demo"
HELP = "start the reference server on a free loopback port and render a demo run live"

DEMO_INPUT = {"delay": 0.04}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        default=json.dumps(DEMO_INPUT),
        help="the demo agent's input as JSON (see README: tools, subagents, custom, "
        "interrupt, batch_interrupt, tokens, fail, delay)",
    )
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    payload = _parse(args.input, "--input")

    async def main() -> int:
        async with serve("127.0.0.1", 0) as server:
            print(
                f"reference server on {server.url}, transport {args.transport}, "
                f"backend {args.backend}",
                flush=True,
            )
            return await stream_run(server.url, args, assistant="demo", input=payload)

    return anyio.run(main, backend=args.backend)
