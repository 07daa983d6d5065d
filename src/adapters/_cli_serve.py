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
import gc
import signal
import sys

import anyio

from ._server import serve
from ._server_threads import MAX_RUNNING_RUNS

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
    parser.add_argument(
        "--max-running-runs",
        type=int,
        default=MAX_RUNNING_RUNS,
        metavar="N",
        help=f"runs that execute at once; the others wait for a slot (default {MAX_RUNNING_RUNS}, "
        "as the server's N_JOBS_PER_WORKER)",
    )
    parser.add_argument(
        "--gc-threshold",
        type=int,
        default=GC_THRESHOLD,
        metavar="N",
        help=f"the garbage collector's thresholds become (N, 20, 20) (default {GC_THRESHOLD}; "
        "0 keeps Python's)",
    )


GC_THRESHOLD = 50_000
"""The server's first collector threshold (Python's is 700).

A server with a thousand threads holds a few hundred thousand long-lived
objects, and with Python's thresholds it ran a full collection each time they
grew by a quarter: a quarter of its CPU went to collections that found no
garbage (measured under bench/many_threads.py: 12 full collections, 0.6-0.7 s
of 2.8-3.3 s; with (50000, 20, 20), none and 0.16 s of 2.4-2.8 s). Its own
cycles are few; reference counting frees the rest.
"""


def run(args: argparse.Namespace) -> int:
    if args.buffer_size < 1:
        print("threadwire serve: --buffer-size must be at least 1", file=sys.stderr)
        return 2
    if args.max_running_runs < 1:
        print("threadwire serve: --max-running-runs must be at least 1", file=sys.stderr)
        return 2
    if args.gc_threshold < 0:
        print("threadwire serve: --gc-threshold must be 0 or more", file=sys.stderr)
        return 2
    if args.gc_threshold:
        gc.set_threshold(args.gc_threshold, 20, 20)  # this process is the server's alone

    async def main() -> None:
        async with serve(
            args.host,
            args.port,
            pace=args.pace,
            buffer_size=args.buffer_size,
            max_running_runs=args.max_running_runs,
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
