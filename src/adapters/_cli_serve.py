"""``threadwire serve``: the reference server with the demo agent."""

from __future__ import annotations

import argparse
import sys

import anyio

from ._server import serve

NAME = "serve"
HELP = "run the reference Agent Server with the scripted demo agent"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    parser.add_argument("--port", type=int, default=2024, help="port (0: any free port)")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument(
        "--pace", type=float, default=1.0,
        help="multiplies the demo agent's pauses (0: as fast as possible)",
    )


def run(args: argparse.Namespace) -> int:
    async def main() -> None:
        async with serve(args.host, args.port, pace=args.pace) as server:
            print(f"threadwire reference server on {server.url} (assistant 'demo')", flush=True)
            await anyio.sleep_forever()

    try:
        anyio.run(main, backend=args.backend)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0
