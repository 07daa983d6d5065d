"""``threadwire serve``: the reference server with the demo agent.

Once listening, it prints exactly one line to standard output (flushed at once)::

    threadwire reference server on http://HOST:PORT (assistant 'demo')

where ``http://HOST:PORT`` is the address actually bound (with ``--port 0``, the
free port the system picked; an IPv6 host in brackets). Scripts and tests read
the URL from that line; its form is stable. Nothing else goes to standard
output. SIGINT (Ctrl-C) or SIGTERM stops it: connections and runs are cancelled,
``stopped`` goes to standard error and the exit status is 0.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys

import anyio

from ._server import serve

NAME = "serve"
HELP = "run the reference Agent Server with the scripted demo agent"

READY_LINE = "threadwire reference server on {url} (assistant 'demo')"
"""The line printed once the server listens (see the module docstring)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: loopback)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=2024,
        help="port (0: any free port; the URL line printed at start says which)",
    )
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument(
        "--pace",
        type=float,
        default=1.0,
        help="multiplies the demo agent's pauses (0: as fast as possible)",
    )
    parser.add_argument(
        "--buffer-size",
        type=int,
        default=10_000,
        metavar="N",
        help="events each thread keeps for replay (default 10000, as the server); "
        "a since older than that is answered with resume_gap",
    )


def run(args: argparse.Namespace) -> int:
    if args.buffer_size < 1:
        print("threadwire serve: --buffer-size must be at least 1", file=sys.stderr)
        return 2

    async def main() -> None:
        async with serve(
            args.host, args.port, pace=args.pace, buffer_size=args.buffer_size
        ) as server:
            # Handlers before the line: a signal sent once it is read stops us cleanly
            # (also when the parent left SIGINT ignored, as shells do for ``&`` jobs).
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                print(READY_LINE.format(url=server.url), flush=True)
                async for _ in signals:
                    break

    with contextlib.suppress(KeyboardInterrupt):  # a signal before the handlers are in
        anyio.run(main, backend=args.backend)
    print("stopped", file=sys.stderr)
    return 0
