"""End-to-end benchmark: raw events over loopback, threadwire's client vs the official SDK.

One demo run (``--tokens`` text deltas: about as many events, CRLF SSE as
the reference server frames it) is read over a real loopback socket, through
an all-channels raw subscription that ends with the run, by:

* **ours**: threadwire's client, on asyncio and on trio:
  ``client.threads.stream(thread_id=...)`` and ``thread.subscribe(ALL_CHANNELS)``,
  counting the typed events (HTTP, SSE, codec, session dedup and routing, the
  pump, the feed, the async iteration);
* **sdk**: the official ``langgraph_sdk`` (asyncio only):
  ``get_client(url=...).threads.stream(thread_id=..., assistant_id=...)`` and
  ``thread.subscribe(all channels)``, counting the event dicts (httpx, its SSE
  decoder, its transport queue, dedup, fan-out queue; it also keeps its
  lifecycle watcher stream open, as it always does);
* **lean**: an anyio socket, the request written by hand, the body split on
  blank lines and each ``data:`` line ``orjson``-decoded, nothing else (on
  both backends): the least any client must do. It reads as much at a time
  as ours reads during a backlog (``READ_SIZE``).

The clock runs from opening the thread stream (the socket for lean) to the
run's last event; client objects are made before it. Every side must count
exactly the run's events. Sides alternate pass by pass; each figure is the
best of ``--repeat`` passes, ``*_spread`` is (worst - best) / best.

The server, and why: everything runs on a two-core machine, so the server is
kept out of the measured process. The **replay** section (the one the targets
are judged on) uses ``bench/_common.py replay-server``, a separate process
that produced the demo run once into a reference ``EventLog`` at start-up
and answers each ``POST .../stream/events`` with the reference server's own
bytes for that filter and ``since`` (the same SSE blocks, the same chunked
head), prepared once and written with one ``sendall``. It is what the
reference server does for a subscriber that joins after the run (a replay
from its buffer), minus all of the server's per-request work, so the
figures measure the clients and the lean baseline is the true ceiling. The
**live** section (context, not the targets) uses the reference server
itself, in a separate process (``serve(pace=0)``, asyncio), starting a new
run per pass: the server produces while the client reads, so it shows what a
client gets from a live run, which the server's push rate may bound (see
``bench/server_push.py``).

Targets: ours at least 2.5x the SDK's rate and within 1.3x of lean
(``ours_time / lean_time`` <= 1.3), on each backend. The last line printed
is one JSON object with every figure.

Usage: ``python bench/end_to_end.py [--tokens N] [--repeat R] [--live-repeat R]
[--backend asyncio|trio|both] [--no-live] [--profile] [--small]``
(``--small``: 500 tokens, 2 and 1 passes: a smoke run, not a measurement;
``--profile``: also a cProfile of one replay pass of ours per backend).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
import orjson
from _common import (
    ALL_CHANNELS_LIST,
    ASSISTANT,
    demo_input,
    median,
    open_sse,
    post_command,
    reference_server,
    replay_server,
    run_events,
    source_fingerprint,
    spread,
)

from threadwire.adapters import connect
from threadwire.adapters._net import READ_SIZE
from threadwire.protocol import ALL_CHANNELS

HAVE_SDK = importlib.util.find_spec("langgraph_sdk") is not None
TARGET_SPEEDUP_VS_SDK = 2.5
TARGET_RATIO_VS_LEAN = 1.3

Pass = Callable[[str, "str | None", int, "int | None"], Awaitable[tuple[int, float]]]


# -- the three clients ---------------------------------------------------------------------------


async def ours(
    url: str, thread_id: str | None, events: int, tokens: int | None
) -> tuple[int, float]:
    async with connect(url) as client:
        start = time.perf_counter()
        async with client.threads.stream(thread_id=thread_id, assistant_id=ASSISTANT) as thread:
            if tokens is not None:
                await thread.run.start(input=demo_input(tokens))
            count = 0
            async for _ in thread.subscribe(ALL_CHANNELS):
                count += 1
            elapsed = time.perf_counter() - start
    return count, elapsed


async def sdk(
    url: str, thread_id: str | None, events: int, tokens: int | None
) -> tuple[int, float]:
    from langgraph_sdk import get_client

    client = get_client(url=url, api_key=None)
    try:
        start = time.perf_counter()
        async with client.threads.stream(thread_id=thread_id, assistant_id=ASSISTANT) as thread:
            if tokens is not None:
                await thread.run.start(input=demo_input(tokens))
            count = 0
            async for _ in thread.subscribe(ALL_CHANNELS_LIST):
                count += 1
            elapsed = time.perf_counter() - start
    finally:
        await client.http.client.aclose()
    return count, elapsed


async def lean(
    url: str, thread_id: str | None, events: int, tokens: int | None
) -> tuple[int, float]:
    start = time.perf_counter()
    if thread_id is None:  # live: open the stream, then start the run
        thread_id = str(uuid.uuid4())
        stream, buffer = await open_sse(url, thread_id)
        reply = await post_command(
            url,
            thread_id,
            "run.start",
            {"assistant_id": ASSISTANT, "input": demo_input(tokens or 0)},
        )
        if reply.get("type") != "success":
            raise SystemExit(f"run.start failed: {reply}")
    else:
        stream, buffer = await open_sse(url, thread_id)
    loads = orjson.loads
    count = 0
    try:
        while True:
            blocks = buffer.split(b"\r\n\r\n")
            buffer = blocks.pop()
            for block in blocks:
                begin = block.find(b"data: ")
                if begin < 0:
                    continue  # a heartbeat
                end = block.find(b"\r\n", begin)
                loads(block[begin + 6 : end] if end >= 0 else block[begin + 6 :])
                count += 1
            if count >= events:
                break
            buffer += await stream.receive(READ_SIZE)  # as large as ours may be
        elapsed = time.perf_counter() - start
    finally:
        await stream.aclose()
    return count, elapsed


SIDES: dict[str, Pass] = {"ours": ours, "sdk": sdk, "lean": lean}


# -- measuring -------------------------------------------------------------------------------------


def measure(
    url: str,
    thread_id: str | None,
    events: int,
    tokens: int | None,
    repeat: int,
    plan: list[tuple[str, str]],
) -> dict[tuple[str, str], list[float]]:
    """Run every (side, backend) of ``plan`` once per round, ``repeat`` rounds; the times."""
    times: dict[tuple[str, str], list[float]] = {key: [] for key in plan}
    for _ in range(repeat):
        for side, backend in plan:
            gc.collect()
            count, elapsed = anyio.run(SIDES[side], url, thread_id, events, tokens, backend=backend)
            if count != events:
                raise SystemExit(f"{side} on {backend} counted {count} events, not {events}")
            times[(side, backend)].append(elapsed)
    return times


def report(
    section: str,
    events: int,
    times: dict[tuple[str, str], list[float]],
    backends: list[str],
    figures: dict[str, Any],
) -> None:
    def best(side: str, backend: str) -> float:
        return min(times[(side, backend)])

    for (side, backend), t in times.items():
        name = f"{section}_{side}" if side == "sdk" else f"{section}_{backend}_{side}"
        figures[f"{name}_events_per_s"] = round(events / min(t))
        figures[f"{name}_median_events_per_s"] = round(events / median(t))
        figures[f"{name}_spread"] = spread(t)
    t_sdk = best("sdk", "asyncio") if ("sdk", "asyncio") in times else float("nan")
    if HAVE_SDK:
        print(
            f"{section}: sdk {events / t_sdk:,.0f} ev/s"
            f" (spread {spread(times[('sdk', 'asyncio')]):.0%})"
        )
    else:
        print(f"{section}: langgraph_sdk is not installed: no SDK figures")
    for backend in backends:
        t_ours, t_lean = best("ours", backend), best("lean", backend)
        speedup = t_sdk / t_ours
        ratio = t_ours / t_lean
        figures[f"{section}_{backend}_speedup_vs_sdk"] = round(speedup, 3) if HAVE_SDK else None
        figures[f"{section}_{backend}_ratio_vs_lean"] = round(ratio, 3)
        figures[f"{section}_{backend}_meets_sdk_target"] = (
            speedup >= TARGET_SPEEDUP_VS_SDK if HAVE_SDK else None
        )
        figures[f"{section}_{backend}_meets_lean_target"] = ratio <= TARGET_RATIO_VS_LEAN
        print(
            f"{section} {backend}: ours {events / t_ours:,.0f} ev/s"
            f" (spread {spread(times[('ours', backend)]):.0%}), lean {events / t_lean:,.0f} ev/s"
            f" (spread {spread(times[('lean', backend)]):.0%}); ours is {speedup:.2f}x the SDK"
            f" (target {TARGET_SPEEDUP_VS_SDK}x:"
            f" {'met' if speedup >= TARGET_SPEEDUP_VS_SDK else 'MISSED'}),"
            f" {ratio:.2f}x lean's time (target <= {TARGET_RATIO_VS_LEAN}:"
            f" {'met' if ratio <= TARGET_RATIO_VS_LEAN else 'MISSED'})"
        )


def profile_ours(url: str, thread_id: str, events: int, backend: str) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    anyio.run(ours, url, thread_id, events, None, backend=backend)
    profiler.disable()
    print(f"-- cProfile of one replay pass of ours on {backend} (top 25 by own time)")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20_000, help="text deltas of the run")
    parser.add_argument("--repeat", type=int, default=7, help="passes per side (replay)")
    parser.add_argument("--live-repeat", type=int, default=3, help="passes per side (live)")
    parser.add_argument("--backend", choices=("asyncio", "trio", "both"), default="both")
    parser.add_argument("--no-live", action="store_true", help="skip the live section")
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of one replay pass of ours"
    )
    parser.add_argument("--small", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args(argv)
    if args.small:
        args.tokens, args.repeat, args.live_repeat = 500, 2, 1
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    plan = [("lean", b) for b in backends] + [("ours", b) for b in backends]
    if HAVE_SDK:
        plan.append(("sdk", "asyncio"))
    events = run_events(args.tokens)
    figures: dict[str, Any] = {
        "tokens": args.tokens,
        "events": events,
        "repeat": args.repeat,
        "live_repeat": 0 if args.no_live else args.live_repeat,
        "backends": backends,
        "target_speedup_vs_sdk": TARGET_SPEEDUP_VS_SDK,
        "target_ratio_vs_lean": TARGET_RATIO_VS_LEAN,
    }

    with replay_server(args.tokens) as server:
        url = server.url
        thread_id, served = server.extra[0], int(server.extra[1])
        if served != events:
            raise SystemExit(f"the replay server holds {served} events, not {events}")
        times = measure(url, thread_id, events, None, args.repeat, plan)
        report("replay", events, times, backends, figures)
        if args.profile:
            for backend in backends:
                profile_ours(url, thread_id, events, backend)

    if not args.no_live:
        # A replay buffer that holds the whole run: a subscription that opens late
        # must not meet a resume gap.
        with reference_server("asyncio", buffer_size=events + 1000) as server:
            times = measure(server.url, None, events, args.tokens, args.live_repeat, plan)
            report("live", events, times, backends, figures)

    replay_ok = [figures[f"replay_{b}_meets_{t}_target"] for b in backends for t in ("sdk", "lean")]
    figures["all_targets_met"] = all(ok is not False for ok in replay_ok)
    figures["source"] = source_fingerprint()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
