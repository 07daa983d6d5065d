"""Shared helpers of the network benchmarks (server_push, end_to_end, many_threads).

* the demo agent's input for a run of a given size, and a dry run that counts
  the events such a run produces (``RunProducer`` over an ``EventLog``, as the
  reference server does) and hands back its parts;
* server processes on loopback: the reference server (``python -m
  threadwire.adapters serve --port 0 --pace 0``, whose first line names the
  port it bound) and the *replay server* of this module (``python
  bench/_common.py replay-server``): it runs the demo run once into an event log
  at start-up, then answers every ``POST /threads/{id}/stream/events`` with the
  reference server's own bytes for that filter (the same ``LogEntry.sse``
  blocks, the same chunked head), built once per request body and written
  with one ``sendall``: a server that costs nothing per request, so a client
  benchmark measures the client;
* raw loopback HTTP for the lean readers (open an SSE response, POST a command);
* timing, noise and memory helpers (best-of-N, spread, RSS from /proc).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import orjson
from anyio.abc import ByteStream

from threadwire.adapters._demo_script import PushPart, demo_steps
from threadwire.protocol import ALL_CHANNELS
from threadwire.protocol.producer import EventLog, Part, RunProducer

HOST = "127.0.0.1"
ALL_CHANNELS_LIST: list[str] = sorted(ALL_CHANNELS)
ASSISTANT = "demo"
BENCH_THREAD = "bench-thread"
BENCH_RUN = "bench-run"


# -- the corpus: one demo run ------------------------------------------------------------


def demo_input(tokens: int) -> dict[str, Any]:
    """A demo run that is one long message of ``tokens`` text deltas (and little else)."""
    return {
        "tokens": tokens,
        "tools": False,
        "subagents": False,
        "custom": False,
        "interrupt": False,
    }


def demo_parts(tokens: int) -> list[Part]:
    """The parts the demo agent pushes for :func:`demo_input` (``tokens``)."""
    steps = demo_steps(demo_input(tokens), interrupt_id="bench-interrupt")
    return [step.part for step in steps if isinstance(step, PushPart)]


def produce(
    tokens: int,
    *,
    thread_id: str = BENCH_THREAD,
    run_id: str = BENCH_RUN,
    buffer_size: int | None = None,
) -> EventLog:
    """The event log of one demo run, produced as the reference server does."""
    parts = demo_parts(tokens)
    log = EventLog(thread_id, buffer_size=buffer_size or len(parts) + 16)
    producer = RunProducer(log)
    now = int(time.time() * 1000)
    producer.start_run(run_id, "demo", timestamp=now)
    for part in parts:
        producer.push(part, timestamp=now)
    producer.finish("completed", timestamp=now)
    return log


def run_events(tokens: int) -> int:
    """How many events the server emits for one run of :func:`demo_input` (``tokens``)."""
    return produce(tokens).high_seq


def tokens_for_events(events: int) -> int:
    """The ``tokens`` input whose run has exactly ``events`` events (ValueError if none)."""
    base = run_events(1) - 1  # each token adds one event
    tokens = events - base
    if tokens < 1 or run_events(tokens) != events:
        raise ValueError(f"no demo run has exactly {events} events (the smallest has {base + 1})")
    return tokens


# -- server processes -------------------------------------------------------------------


class Server(NamedTuple):
    url: str
    extra: list[str]
    """The words after the URL on the line that named it."""
    pid: int


@contextlib.contextmanager
def server_process(argv: Sequence[str], *, startup_timeout: float = 30.0) -> Iterator[Server]:
    """Start ``argv``; wait for a line with ``http://127.0.0.1:PORT``; stop it at the end.

    The process is ended by its own pid (SIGTERM, then SIGKILL after 5 s).
    """
    proc = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + startup_timeout
        assert proc.stdout is not None
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            if match:
                yield Server(match.group(1), line[match.end() :].split(), proc.pid)
                return
        err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
        raise RuntimeError(f"server did not start: {' '.join(argv)}: {line!r} {err}")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def reference_server(
    backend: str = "asyncio", buffer_size: int | None = None, max_connections: int | None = None
) -> contextlib.AbstractContextManager[Server]:
    """The reference server with the demo agent, in its own process, pace 0.

    ``python -m threadwire.adapters serve --port 0 --pace 0`` when the defaults
    (a replay buffer of 10,000 events, 2,048 connections) will do; else this
    module's ``reference-server``: the same ``serve()`` with ``buffer_size`` and
    ``max_connections`` (the command has no options for them).
    """
    if buffer_size is None and max_connections is None:
        return server_process(
            [
                sys.executable,
                "-m",
                "threadwire.adapters",
                "serve",
                "--port",
                "0",
                "--pace",
                "0",
                "--backend",
                backend,
            ]
        )
    return server_process(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "reference-server",
            "--backend",
            backend,
            "--buffer-size",
            str(buffer_size or 10_000),
            "--max-connections",
            str(max_connections or 2048),
        ]
    )


def _reference_server_main(backend: str, buffer_size: int, max_connections: int) -> None:
    from threadwire.adapters._server import serve

    async def main() -> None:
        async with serve(
            HOST, 0, pace=0, buffer_size=buffer_size, max_connections=max_connections
        ) as server:
            print(f"reference server on {server.url}", flush=True)
            await anyio.sleep_forever()

    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(main, backend=backend)


def replay_server(tokens: int) -> contextlib.AbstractContextManager[Server]:
    """This module's replay server (see the module docstring); extra words: thread, events."""
    return server_process(
        [sys.executable, str(Path(__file__).resolve()), "replay-server", "--tokens", str(tokens)]
    )


def _replay_server_main(tokens: int) -> None:
    import asyncio

    from threadwire.protocol._http_server import ServerConnection, split_path
    from threadwire.protocol._sse import NEED_DATA
    from threadwire.protocol.producer import Gap, StreamRequestError, parse_stream_request

    log = produce(tokens)
    cache: dict[bytes, bytes] = {}

    def response(http: ServerConnection, body: bytes) -> bytes:
        cached = cache.get(body)
        if cached is not None:
            return cached
        try:
            request = parse_stream_request(body)
            entries = log.entries(request.since, request.filter)
        except StreamRequestError as exc:
            return http.respond(exc.status, exc.body)
        assert not isinstance(entries, Gap)
        data = http.start_stream() + http.stream_data(b"".join(e.sse for e in entries))
        cache[body] = data
        return data

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        http = ServerConnection()
        try:
            while True:
                request = http.next_request()
                if request is NEED_DATA:
                    data = await reader.read(65536)
                    http.receive_data(data)
                    if not data:
                        return
                    continue
                if request is None:
                    return
                parts = split_path(request.path)  # type: ignore[union-attr]
                if (
                    len(parts) == 4
                    and parts[0] == "threads"
                    and parts[2:] == ["stream", "events"]
                    and request.method == "POST"
                ):  # type: ignore[union-attr]
                    writer.write(response(http, request.body))  # type: ignore[union-attr]
                    await writer.drain()
                    while await reader.read(65536):  # the stream stays open, as on the server
                        pass
                    return
                writer.write(http.respond_json(404, {"detail": "replay server: streams only"}))
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, HOST, 0, backlog=4096)
        port = server.sockets[0].getsockname()[1]
        print(f"replay server on http://{HOST}:{port} {BENCH_THREAD} {log.high_seq}", flush=True)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


# -- raw loopback HTTP ----------------------------------------------------------------------


def host_port(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("http://").partition(":")
    return host, int(port.split("/")[0])


def _post(host: str, path: str, body: bytes, accept: str = "application/json") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"accept: {accept}\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _read_head(stream: ByteStream) -> tuple[bytes, bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = await stream.receive(65536)
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    if status != b"200":
        raise RuntimeError(f"HTTP {status.decode()}: {head.decode(errors='replace')}")
    return head, rest


async def open_sse(
    url: str, thread_id: str, stream_filter: dict[str, Any] | None = None
) -> tuple[ByteStream, bytes]:
    """Open ``POST /threads/{id}/stream/events``; the socket and the body bytes read so far.

    The response is chunked; the lean readers never strip the chunk headers (the
    server writes whole SSE blocks per chunk, so a chunk header can only sit
    between blocks, where data-line parsing skips it).
    """
    host, port = host_port(url)
    stream = await anyio.connect_tcp(host, port)
    body = orjson.dumps(stream_filter or {"channels": ALL_CHANNELS_LIST})
    await stream.send(_post(host, f"/threads/{thread_id}/stream/events", body, "text/event-stream"))
    _, rest = await _read_head(stream)
    return stream, rest


async def post_command(
    url: str, thread_id: str, method: str, params: dict[str, Any], command_id: int = 1
) -> Any:
    """POST one command on a fresh connection; the reply envelope."""
    host, port = host_port(url)
    async with await anyio.connect_tcp(host, port) as stream:
        body = orjson.dumps({"id": command_id, "method": method, "params": params})
        await stream.send(_post(host, f"/threads/{thread_id}/commands", body))
        head, rest = await _read_head(stream)
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(rest) < length:
            rest += await stream.receive(65536)
        return orjson.loads(rest[:length])


# -- timing, noise, memory ----------------------------------------------------------------


def spread(times: Sequence[float]) -> float:
    """How noisy repeated timings were: (worst - best) / best."""
    best = min(times)
    return round((max(times) - best) / best, 3) if best > 0 else 0.0


def median(times: Sequence[float]) -> float:
    return statistics.median(times)


def rss_bytes() -> int:
    """Resident set size of this process now (``/proc/self/statm``; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the peak, not the current figure
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def monotonic() -> float:
    """CLOCK_MONOTONIC: one clock for every process of the machine (Linux)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def source_fingerprint() -> dict[str, str]:
    """Which code was measured: the HEAD commit and a digest of the working tree's src/."""
    import hashlib

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha1()
    for path in sorted((root / "src").rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = ""
    return {"head": head or "unknown", "src_sha1": digest.hexdigest()[:12]}


def last_json_line(output: str) -> dict[str, Any]:
    line = output.strip().splitlines()[-1]
    result: dict[str, Any] = orjson.loads(line)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="benchmark helper processes")
    sub = parser.add_subparsers(dest="command", required=True)
    replay = sub.add_parser("replay-server", help="serve one prerecorded demo run, fast")
    replay.add_argument("--tokens", type=int, default=20_000)
    ref = sub.add_parser("reference-server", help="the reference server, pace 0, any buffer")
    ref.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    ref.add_argument("--buffer-size", type=int, default=10_000)
    ref.add_argument("--max-connections", type=int, default=2048)
    args = parser.parse_args(argv)
    if args.command == "replay-server":
        _replay_server_main(args.tokens)
    else:
        _reference_server_main(args.backend, args.buffer_size, args.max_connections)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
