"""Many threads benchmark: 1,000 concurrent thread streams x 200 events in one client process.

Each of ``--streams`` concurrent tasks opens a thread stream on a fresh
thread, starts a demo run of exactly ``--events`` events (``run.start``) and
reads it through an all-channels raw subscription until the run ends,
counting the events; then it keeps its stream open until every task has
finished, so that all streams are open together at the peak. Compared, each
in its own worker process with the client's *default* settings:

* **ours**: ``threadwire.adapters.connect(url)``, ``client.threads.stream``,
  ``thread.run.start``, ``thread.subscribe(ALL_CHANNELS)``, on asyncio and trio;
* **sdk**: ``langgraph_sdk.get_client(url=...)`` (its default httpx pool:
  100 connections, 5 s pool timeout), ``client.threads.stream``,
  ``thread.run.start``, ``thread.subscribe(all channels)`` (asyncio only);
* **sdk_pool**: the same, but its ``httpx.AsyncClient`` built by hand with
  ``get_client``'s settings and a pool with room for every stream (each SDK
  thread stream holds two SSE connections, its lifecycle watcher and its
  shared stream): what the SDK does once the pool is not the limit.

Reported per client: how many streams *completed* (every event, exactly),
ended *short* (the loop ended without error but with fewer events), *failed*
(an exception, counted by stage and type: a pool or queue that runs out
must raise, not hang) and *unfinished* (still running when ``--timeout``
cancelled them: for ours, where a stream takes milliseconds, that would be a
hang; for a client that is merely slow it is the work it could not finish in
time); the time until every stream had
finished; and the resident memory per open stream: RSS growth (from
``/proc/self/statm``) over the worker's RSS before the first stream (after a
warm-up stream and a GC), both at the moment all streams are open and done
(``rss_*_at_barrier``) and the highest sample taken every 5 ms while they ran
(``rss_*_peak``, the figure the target is judged on).

The server is the reference server (``python -m threadwire.adapters serve
--port 0 --pace 0``, asyncio, at most 2,048 connections; for ``sdk_pool``
only, the same ``serve()`` with the cap raised to ``4 x --streams``, since
the SDK holds two event connections per thread stream besides its command
connections and would otherwise meet the server's 503) in **its own
process**, a fresh one for each worker: so the RSS is the client's alone,
the server's work is not charged to the client's clock, and no client
inherits another's threads. On a
two-core machine the server still shares the CPU with the client, so the
time includes waiting for the server's 200,000 events at 1,000 x 200; the
server's CPU time over the same interval is reported beside it.

Targets (ours, each backend): all streams complete, within 3 s, at most
100 KB RSS per open stream. Ours runs ``--repeat`` times per backend (the
SDK ``--sdk-repeat`` times: its figures are counts more than times); time is
the best pass (the most completed, then the fastest), memory and counts are
from that pass, ``*_spread`` is (worst - best) / best over passes. The last
line printed is one JSON object with every figure.

Usage: ``python bench/many_threads.py [--streams N] [--events E] [--repeat R]
[--sdk-repeat R] [--backend asyncio|trio|both] [--no-sdk] [--timeout S] [--small]``
(``--small``: 20 streams of 60 events, one pass: a smoke run, not a measurement).
"""

from __future__ import annotations

import argparse
import collections
import functools
import gc
import importlib.util
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
from _common import (
    ALL_CHANNELS_LIST,
    ASSISTANT,
    cpu_seconds,
    demo_input,
    last_json_line,
    process_cpu_seconds,
    reference_server,
    rss_bytes,
    source_fingerprint,
    spread,
    tokens_for_events,
)

HAVE_SDK = importlib.util.find_spec("langgraph_sdk") is not None
TARGET_SECONDS = 3.0
TARGET_RSS_PER_STREAM = 100 * 1024


# -- the worker (one client, one process) ---------------------------------------------------------


class _GCClock:
    """Time spent in the garbage collector from now until :meth:`stop`."""

    def __init__(self) -> None:
        self.total = 0.0
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._start

    def stop(self) -> float:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)
        return self.total


class _Tally:
    def __init__(self, streams: int) -> None:
        self.streams = streams
        self.finished = 0
        self.completed = 0
        self.short: list[int] = []
        self.errors: collections.Counter[str] = collections.Counter()
        self.examples: dict[str, str] = {}
        self.all_finished = anyio.Event()
        self.release = anyio.Event()

    def finish(self) -> None:
        self.finished += 1
        if self.finished == self.streams:
            self.all_finished.set()

    def failed(self, stage: str, exc: BaseException) -> None:
        key = f"{stage}: {type(exc).__module__}.{type(exc).__qualname__}"
        self.errors[key] += 1
        self.examples.setdefault(key, str(exc)[:300])
        self.finish()


async def _stream(client: Any, tokens: int, events: int, tally: _Tally, *, channels: Any) -> None:
    """One thread stream: start a run, count its events, wait at the barrier.

    The same code drives both clients: they share the ``threads.stream`` /
    ``run.start`` / ``subscribe`` surface.
    """
    stage = "open"
    try:
        async with client.threads.stream(assistant_id=ASSISTANT) as thread:
            stage = "run.start"
            await thread.run.start(input=demo_input(tokens))
            stage = "subscribe"
            count = 0
            async for _ in thread.subscribe(channels):
                count += 1
            if count == events:
                tally.completed += 1
            else:
                tally.short.append(count)
            tally.finish()
            stage = "open at the barrier"
            await tally.release.wait()
            stage = "close"
    except Exception as exc:
        tally.failed(stage, exc)


async def _worker(
    side: str, url: str, streams: int, tokens: int, events: int, time_limit: float
) -> dict[str, Any]:
    if side == "ours":
        from threadwire.adapters import connect
        from threadwire.protocol import ALL_CHANNELS

        client_cm: Any = connect(url)
        one = functools.partial(_stream, channels=ALL_CHANNELS)
    else:
        import httpx
        from langgraph_sdk import get_client
        from langgraph_sdk.client import LangGraphClient

        one = functools.partial(_stream, channels=ALL_CHANNELS_LIST)

        class _SDK:
            async def __aenter__(self) -> Any:
                if side == "sdk":
                    self.client = get_client(url=url, api_key=None)
                else:  # get_client's settings, but a pool with room for every stream
                    limits = httpx.Limits(
                        max_connections=3 * streams + 100, max_keepalive_connections=100
                    )
                    self.client = LangGraphClient(
                        httpx.AsyncClient(
                            base_url=url,
                            transport=httpx.AsyncHTTPTransport(retries=5, limits=limits),
                            timeout=httpx.Timeout(connect=5, read=300, write=300, pool=5),
                        )
                    )
                return self.client

            async def __aexit__(self, *exc: Any) -> None:
                await self.client.http.client.aclose()

        client_cm = _SDK()
    async with client_cm as client:
        warm = _Tally(1)
        warm.release.set()
        with anyio.fail_after(time_limit):
            await one(client, tokens, events, warm)  # imports, caches, first connections
        if warm.completed != 1:
            raise SystemExit(f"the warm-up stream failed: {dict(warm.errors)} {warm.examples}")
        gc.collect()
        rss0 = rss_bytes()
        tally = _Tally(streams)
        peak = rss0
        samples = 0

        async def sampler() -> None:
            nonlocal peak, samples
            last_report = time.perf_counter()
            while not tally.release.is_set():
                rss = rss_bytes()
                samples += 1
                peak = max(peak, rss)
                if time.perf_counter() - last_report >= 1.0:  # for a worker that gets killed
                    last_report = time.perf_counter()
                    print(
                        f"progress {tally.finished} {tally.completed} {len(tally.short)}"
                        f" {sum(tally.errors.values())} {json.dumps(dict(tally.errors))}",
                        file=sys.stderr,
                        flush=True,
                    )
                await anyio.sleep(0.005)

        elapsed = None
        rss_barrier = None
        gc_clock = _GCClock()
        cpu0 = cpu_seconds()
        start = time.perf_counter()
        with anyio.move_on_after(time_limit) as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(sampler)
                for _ in range(streams):
                    tg.start_soon(one, client, tokens, events, tally)
                await tally.all_finished.wait()
                elapsed = time.perf_counter() - start
                cpu = cpu_seconds() - cpu0
                gc_seconds = gc_clock.stop()
                rss_barrier = rss_bytes()
                peak = max(peak, rss_barrier)
                tally.release.set()
        unfinished = streams - tally.finished
        tally.release.set()
        if elapsed is None:
            cpu, gc_seconds = cpu_seconds() - cpu0, gc_clock.stop()
    open_at_barrier = tally.completed + len(tally.short)
    return {
        "side": side,
        "streams": streams,
        "completed": tally.completed,
        "short": len(tally.short),
        "short_counts": sorted(collections.Counter(tally.short).items())[:10],
        "failed": sum(tally.errors.values()),
        "unfinished": unfinished,
        "timed_out": scope.cancelled_caught,
        "errors": dict(tally.errors),
        "error_examples": tally.examples,
        "seconds": elapsed if elapsed is not None else time_limit,
        "cpu_seconds": cpu,
        "gc_seconds": gc_seconds,
        "open_at_barrier": open_at_barrier,
        "rss_before": rss0,
        "rss_growth_at_barrier": None if rss_barrier is None else rss_barrier - rss0,
        "rss_growth_peak": peak - rss0,
        "rss_samples": samples,
    }


# -- the orchestration ----------------------------------------------------------------------------


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_worker(
    side: str, backend: str, streams: int, tokens: int, events: int, timeout: float
) -> dict[str, Any]:
    cap = max(2048, 4 * streams) if side == "sdk-pool" else None
    with reference_server("asyncio", max_connections=cap) as server:
        cpu0 = process_cpu_seconds(server.pid)
        argv = [
            sys.executable,
            __file__,
            "--worker",
            side,
            "--backend",
            backend,
            "--url",
            server.url,
            "--streams",
            str(streams),
            "--tokens",
            str(tokens),
            "--events",
            str(events),
            "--timeout",
            str(timeout),
        ]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 60)
        except subprocess.TimeoutExpired as exc:
            # The worker did not end within its own limit plus a minute (it could not
            # even be cancelled): report what its last progress line said.
            stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
            progress = [ln.split(" ", 5) for ln in stderr.splitlines() if ln.startswith("progress")]
            finished, completed, short, failed, errors = (
                (
                    int(progress[-1][1]),
                    int(progress[-1][2]),
                    int(progress[-1][3]),
                    int(progress[-1][4]),
                    json.loads(progress[-1][5]),
                )
                if progress
                else (0, 0, 0, 0, {})
            )
            errors["worker killed: it did not end within --timeout + 60 s"] = 1
            return {
                "side": side,
                "streams": streams,
                "completed": completed,
                "short": short,
                "failed": failed,
                "unfinished": streams - finished,
                "timed_out": True,
                "killed": True,
                "errors": errors,
                "seconds": timeout,
                "rss_growth_peak": None,
                "rss_growth_at_barrier": None,
            }
        server_cpu = process_cpu_seconds(server.pid) - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"{side} worker on {backend} failed:\n{proc.stdout}\n{proc.stderr}")
    result = last_json_line(proc.stdout)
    result["server_cpu_seconds"] = round(server_cpu, 3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200, help="events per run (exactly)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sdk-repeat", type=int, default=1)
    parser.add_argument("--backend", choices=("asyncio", "trio", "both"), default="both")
    parser.add_argument("--no-sdk", action="store_true", help="skip the official SDK")
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds before a worker cancels what is still running",
    )
    parser.add_argument("--small", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--worker", choices=("ours", "sdk", "sdk-pool"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _raise_fd_limit()
    if args.worker:
        result = anyio.run(
            _worker,
            args.worker,
            args.url,
            args.streams,
            args.tokens,
            args.events,
            args.timeout,
            backend=args.backend,
        )
        print(json.dumps(result))
        return 0
    if args.small:
        args.streams, args.events, args.repeat, args.timeout = 20, 60, 1, 20.0
    tokens = tokens_for_events(args.events)
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    plan = [("ours", b) for b in backends]
    if not args.no_sdk and HAVE_SDK:
        plan += [("sdk", "asyncio"), ("sdk-pool", "asyncio")]
    figures: dict[str, Any] = {
        "streams": args.streams,
        "events": args.events,
        "repeat": args.repeat,
        "timeout": args.timeout,
        "target_seconds": TARGET_SECONDS,
        "target_rss_per_stream": TARGET_RSS_PER_STREAM,
    }
    passes: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in plan}
    for i in range(max(args.repeat, args.sdk_repeat)):
        for side, backend in plan:
            if i < (args.repeat if side == "ours" else args.sdk_repeat):
                passes[(side, backend)].append(
                    run_worker(side, backend, args.streams, tokens, args.events, args.timeout)
                )
    all_met = True
    for (side, backend), results in passes.items():
        name = f"{backend}_ours" if side == "ours" else side.replace("-", "_")
        times = [r["seconds"] for r in results]
        best = min(results, key=lambda r: (-r["completed"], r["seconds"]))
        peak = best["rss_growth_peak"]
        barrier = best["rss_growth_at_barrier"]
        if barrier is not None:  # the streams open when everyone had finished
            opened = max(best.get("open_at_barrier") or 0, 1)
        else:  # cut off by the time limit: those still running were open too
            opened = max(best["completed"] + best["short"] + best["unfinished"], 1)
        per_stream = None if peak is None else peak / opened
        figures[f"{name}_completed"] = best["completed"]
        figures[f"{name}_short"] = best["short"]
        figures[f"{name}_failed"] = best["failed"]
        figures[f"{name}_unfinished"] = best["unfinished"]
        figures[f"{name}_errors"] = best["errors"]
        figures[f"{name}_seconds"] = round(best["seconds"], 3)
        figures[f"{name}_median_seconds"] = round(sorted(times)[len(times) // 2], 3)
        figures[f"{name}_spread"] = spread(times)
        figures[f"{name}_events_per_s"] = (
            round(best["completed"] * args.events / best["seconds"]) if best["seconds"] else 0
        )
        figures[f"{name}_server_cpu_seconds"] = best.get("server_cpu_seconds")
        figures[f"{name}_rss_per_stream_peak"] = None if per_stream is None else round(per_stream)
        figures[f"{name}_rss_per_stream_at_barrier"] = (
            None if barrier is None else round(barrier / opened)
        )
        figures[f"{name}_open_at_barrier"] = best.get("open_at_barrier")
        figures[f"{name}_rss_growth_peak_mb"] = None if peak is None else round(peak / 2**20, 1)
        figures[f"{name}_client_cpu_seconds"] = round(best.get("cpu_seconds", float("nan")), 3)
        figures[f"{name}_client_gc_seconds"] = round(best.get("gc_seconds", float("nan")), 3)
        figures[f"{name}_completed_all_passes"] = [r["completed"] for r in results]
        line = (
            f"{side} on {backend}: {best['completed']}/{args.streams} completed,"
            f" {best['short']} short, {best['failed']} failed, {best['unfinished']} unfinished"
            f" in {best['seconds']:.2f} s (spread {spread(times):.0%}; client CPU"
            f" {best.get('cpu_seconds', 0):.2f} s, of which GC"
            f" {best.get('gc_seconds', 0):.2f} s,"
            f" server CPU {best.get('server_cpu_seconds')} s);"
            f" RSS per open stream ({opened} open): peak {(per_stream or 0) / 1024:.1f} KB,"
            f" at the barrier {(barrier or 0) / opened / 1024:.1f} KB"
        )
        print(line)
        for error, n in best["errors"].items():
            print(f"    {n} x {error}: {best.get('error_examples', {}).get(error, '')}")
        if side == "ours":
            met = {
                "complete": best["completed"] == args.streams,
                "seconds": best["completed"] == args.streams and best["seconds"] <= TARGET_SECONDS,
                "memory": per_stream is not None and per_stream <= TARGET_RSS_PER_STREAM,
            }
            for target, ok in met.items():
                figures[f"{name}_meets_{target}_target"] = ok
                all_met = all_met and ok
            print(
                f"    targets: all complete {'met' if met['complete'] else 'MISSED'},"
                f" <= {TARGET_SECONDS} s {'met' if met['seconds'] else 'MISSED'},"
                f" <= 100 KB/stream {'met' if met['memory'] else 'MISSED'}"
            )
    figures["all_targets_met"] = all_met
    figures["source"] = source_fingerprint()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
