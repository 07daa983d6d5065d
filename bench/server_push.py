"""Server push benchmark: events/s the reference server pushes to 1 and to 100 SSE subscribers.

What is compared, in the same run:

* **push**: the reference server (``threadwire.adapters._server.serve``, pace
  0) runs in this process, on asyncio and on trio (``--backend``). For each
  pass a fresh thread gets ``K`` subscribers (``POST .../stream/events`` with
  every channel), then one demo run (``--tokens`` text deltas, about as many
  events) is started on it, exactly as ``run.start`` does (through the
  server's command handler, in process). The clock starts just before the
  run starts and stops when the *last* subscriber has received the run's
  *last* event; the figure is the run's events divided by that time
  (``deliveries_per_s`` multiplies by ``K``). So it counts everything the server does
  for an event: the demo run's producer, the event log (numbering, JSON
  encoding once, SSE framing once), the fan-out to ``K`` sessions, their
  outboxes, HTTP chunking and socket writes on the event loop.
* **append**: ``EventLog.append`` of the same parts into a fresh log, no
  subscribers, no event loop: the in-memory ceiling. ``push / append`` is
  the fraction of it the server achieves. ``producer`` (``RunProducer.push``,
  what the server's run calls, also no I/O) is reported beside it.

The subscribers are lean raw readers in **one separate process** (so their
work is not charged to the server, and the server has a core to itself on a
two-core machine): anyio TCP sockets that read 64 KB at a time and count
``\\r\\nid: `` (exactly one per SSE event block: JSON data holds no raw newline;
heartbeat comments have no id) until they have seen every event, carrying the
last bytes of a read over to the next so that a split marker still counts.
Readers and server share ``CLOCK_MONOTONIC``. The readers' CPU time is
reported (``reader_cpu_share``): near 1.0 would mean the readers, not the
server, were the limit.

Each figure is the best of ``--repeat`` passes; ``*_spread`` is
(worst - best) / best over the passes, how noisy the machine was. The last
line printed is one JSON object with every figure.

Usage: ``python bench/server_push.py [--tokens N] [--subscribers 1,100]
[--backend asyncio|trio|both] [--repeat R] [--small]`` (``--small``: 300
tokens, 1 and 10 subscribers, 2 passes: a smoke run, not a measurement).
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
from _common import (
    BENCH_RUN,
    cpu_seconds,
    demo_input,
    demo_parts,
    median,
    monotonic,
    open_sse,
    run_events,
    source_fingerprint,
    spread,
)

from threadwire.protocol import RunStart
from threadwire.protocol.producer import EventLog, RunProducer

MARK = b"\r\nid: "


# -- the subscribers (a separate process) ------------------------------------------------------


async def _reader(
    url: str, thread_id: str, subscribers: int, events: int, time_limit: float
) -> int:
    streams = []
    leftovers = []

    async def open_one() -> None:
        stream, rest = await open_sse(url, thread_id)
        streams.append(stream)
        leftovers.append(rest)

    async with anyio.create_task_group() as tg:
        for _ in range(subscribers):
            tg.start_soon(open_one)
    print("ready", flush=True)
    cpu0 = cpu_seconds()
    counts = [0] * subscribers

    async def count(i: int) -> None:
        stream, data = streams[i], leftovers[i]
        tail = b""
        n = 0
        while True:
            buffer = tail + data
            n += buffer.count(MARK)
            if n >= events:
                break
            tail = buffer[-(len(MARK) - 1) :]
            counts[i] = n
            data = await stream.receive(65536)
        counts[i] = n

    with anyio.move_on_after(time_limit) as scope:
        async with anyio.create_task_group() as tg:
            for i in range(subscribers):
                tg.start_soon(count, i)
    end = monotonic()
    if scope.cancelled_caught:
        print(f"timeout {min(counts)} {max(counts)}", flush=True)
        return 1
    print(f"done {end!r} {cpu_seconds() - cpu0!r}", flush=True)
    for stream in streams:
        await stream.aclose()
    return 0


# -- the server side (this process) ------------------------------------------------------------


async def _readline(stream: Any) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = await stream.receive(1)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


async def _push_passes(
    tokens: int, events: int, subscribers: int, repeat: int, time_limit: float
) -> list[dict[str, float]]:
    from threadwire.adapters._server import serve
    from threadwire.adapters._server_threads import ThreadHandler

    results = []
    async with serve(pace=0, buffer_size=events + 16) as server:
        for i in range(repeat):
            thread_id = f"push-{subscribers}-{i}"
            gc.collect()
            argv = [
                sys.executable,
                __file__,
                "--reader",
                server.url,
                thread_id,
                str(subscribers),
                str(events),
                str(time_limit),
            ]
            async with await anyio.open_process(argv, stderr=subprocess.STDOUT) as proc:
                assert proc.stdout is not None
                line = await _readline(proc.stdout)
                if line != "ready":
                    raise SystemExit(f"reader failed to open {subscribers} streams: {line}")
                record = server.registry.get_or_create(thread_id)
                handler = ThreadHandler(server.registry, record)
                if record.log.sinks != subscribers:
                    raise SystemExit(f"{record.log.sinks} sinks attached, not {subscribers}")
                command = RunStart(assistant_id="demo", input=demo_input(tokens))
                cpu0 = cpu_seconds()
                start = monotonic()
                handler.start_run(command)
                line = await _readline(proc.stdout)
                server_cpu = cpu_seconds() - cpu0
                await proc.wait()
            if not line.startswith("done"):
                raise SystemExit(f"{subscribers} subscribers: {line}")
            _, end, reader_cpu = line.split()
            await record.idle.wait()
            if record.log.high_seq != events:
                raise SystemExit(f"the run emitted {record.log.high_seq} events, not {events}")
            elapsed = float(end) - start
            results.append(
                {"seconds": elapsed, "server_cpu": server_cpu, "reader_cpu": float(reader_cpu)}
            )
            del server.registry.threads[thread_id]
    return results


# -- the in-memory ceiling ------------------------------------------------------------------------


def _append_once(parts: list[Any]) -> float:
    log = EventLog("append", buffer_size=len(parts) + 16)
    append = log.append
    now = int(time.time() * 1000)
    start = time.perf_counter()
    for part in parts:
        append(part, timestamp=now, run_id=BENCH_RUN)
    return time.perf_counter() - start


def _produce_once(parts: list[Any]) -> float:
    log = EventLog("produce", buffer_size=len(parts) + 16)
    producer = RunProducer(log)
    push = producer.push
    now = int(time.time() * 1000)
    start = time.perf_counter()
    producer.start_run(BENCH_RUN, "demo", timestamp=now)
    for part in parts:
        push(part, timestamp=now)
    producer.finish("completed", timestamp=now)
    return time.perf_counter() - start


def _best(fn: Any, parts: list[Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        gc.collect()
        times.append(fn(parts))
    return times


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--reader"]:
        url, thread_id, subscribers, events, timeout = argv[1:6]
        return anyio.run(_reader, url, thread_id, int(subscribers), int(events), float(timeout))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20_000, help="text deltas of the run")
    parser.add_argument("--subscribers", default="1,100", help="comma-separated counts")
    parser.add_argument("--backend", choices=("asyncio", "trio", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120.0, help="per pass, seconds")
    parser.add_argument("--small", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args(argv)
    if args.small:
        args.tokens, args.repeat = 300, 2
        args.subscribers = ",".join(s if s != "100" else "10" for s in args.subscribers.split(","))
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    counts = [int(s) for s in args.subscribers.split(",")]

    parts = demo_parts(args.tokens)
    events = run_events(args.tokens)
    figures: dict[str, Any] = {
        "tokens": args.tokens,
        "events": events,
        "parts": len(parts),
        "repeat": args.repeat,
        "subscribers": counts,
        "backends": backends,
    }
    t_append = _best(_append_once, parts, max(args.repeat, 5))
    t_produce = _best(_produce_once, parts, max(args.repeat, 5))
    append_rate = len(parts) / min(t_append)
    figures["append_events_per_s"] = round(append_rate)
    figures["append_spread"] = spread(t_append)
    figures["producer_events_per_s"] = round(events / min(t_produce))
    figures["producer_spread"] = spread(t_produce)
    print(
        f"EventLog.append: {append_rate:,.0f} ev/s (spread {spread(t_append):.0%}); "
        f"RunProducer.push: {events / min(t_produce):,.0f} ev/s"
    )
    for backend in backends:
        for k in counts:
            runs = anyio.run(
                _push_passes, args.tokens, events, k, args.repeat, args.timeout, backend=backend
            )
            times = [r["seconds"] for r in runs]
            best = min(range(len(runs)), key=lambda j: times[j])
            rate = events / times[best]
            key = f"{backend}_{k}"
            figures[f"{key}_events_per_s"] = round(rate)
            figures[f"{key}_deliveries_per_s"] = round(rate * k)
            figures[f"{key}_vs_append"] = round(rate / append_rate, 3)
            figures[f"{key}_median_events_per_s"] = round(events / median(times))
            figures[f"{key}_spread"] = spread(times)
            figures[f"{key}_server_cpu_share"] = round(runs[best]["server_cpu"] / times[best], 3)
            figures[f"{key}_reader_cpu_share"] = round(runs[best]["reader_cpu"] / times[best], 3)
            print(
                f"{backend}, {k:>3} subscriber(s): {rate:,.0f} ev/s"
                f" ({rate * k:,.0f} deliveries/s),"
                f" {rate / append_rate:.1%} of EventLog.append; spread {spread(times):.0%};"
                f" server CPU {runs[best]['server_cpu'] / times[best]:.0%},"
                f" readers CPU {runs[best]['reader_cpu'] / times[best]:.0%} of the wall time"
            )
    figures["source"] = source_fingerprint()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
