"""Decode benchmark: SSE bytes -> typed events through SSE + codec + session.

Decodes the generated corpus (bench/corpus.py) fed in chunks (64 KB by
default), in LF and in the server's CRLF framing, and compares, in the same
run and on the same bytes:

* ours: ``EventStreamDecoder`` (SSE parser + codec) and ``ClientSession``
  (dedup, cursor, runs, routing to one all-channels subscription);
* baseline (a): split the buffer on the blank line and ``orjson.loads`` each
  data line: the least any decoder must do;
* baseline (b): the official SDK's decoder (``langgraph_sdk.sse``), when
  installed: its line decoder, its SSE decoder (which also JSON-decodes).

Targets: ours at most 1.3x (a) on LF and 1.45x (a) on CRLF; at least 1.5x
faster than (b). Each figure is the best of ``--repeat`` runs. The last line
printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import chunks, sse_body

from threadwire.protocol import ALL_CHANNELS, ClientSession, StreamFilter
from threadwire.protocol._stream_decoder import EventStreamDecoder


def ours(pieces: list[bytes]) -> int:
    decoder = EventStreamDecoder()
    session = ClientSession()
    session.subscribe(StreamFilter(channels=ALL_CHANNELS))
    session.stream_opened(session.stream_request())
    receive = session.receive_events
    delivered = 0
    for piece in pieces:
        for targets in receive(decoder.feed(piece)):
            if targets:
                delivered += 1
    decoder.feed(b"")
    return delivered


def baseline_split(newline: bytes) -> Callable[[list[bytes]], int]:
    separator = newline + newline
    data_prefix = b"data: "

    def run(pieces: list[bytes]) -> int:
        loads = orjson.loads
        buffer = b""
        count = 0
        for piece in pieces:
            buffer += piece
            blocks = buffer.split(separator)
            buffer = blocks.pop()
            for block in blocks:
                start = block.find(data_prefix)
                if start < 0:
                    continue  # a comment block
                end = block.find(newline, start)
                loads(block[start + 6 : end] if end >= 0 else block[start + 6 :])
                count += 1
        return count

    return run


def sdk_decoder() -> Callable[[list[bytes]], int] | None:
    try:
        from langgraph_sdk.sse import BytesLineDecoder, SSEDecoder
    except ImportError:
        return None

    def run(pieces: list[bytes]) -> int:
        lines = BytesLineDecoder()
        decoder = SSEDecoder()
        count = 0
        for piece in pieces:
            for line in lines.decode(piece):
                part = decoder.decode(line)
                if part is not None and part.data is not None:
                    count += 1
        return count

    return run


def best_of(
    fn: Callable[[list[bytes]], int], pieces: list[bytes], repeat: int
) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        count = fn(pieces)
        best = min(best, time.perf_counter() - start)
    return best, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=64 * 1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    figures: dict[str, float | int | None] = {"events": args.events, "chunk": args.chunk}
    sdk = sdk_decoder()
    for label, newline in (("lf", b"\n"), ("crlf", b"\r\n")):
        body = sse_body(args.events, newline=newline)
        pieces = chunks(body, args.chunk)
        t_ours, n_ours = best_of(ours, pieces, args.repeat)
        t_base, n_base = best_of(baseline_split(newline), pieces, args.repeat)
        if n_ours != n_base:
            raise SystemExit(f"{label}: ours decoded {n_ours} events, the baseline {n_base}")
        figures[f"{label}_bytes"] = len(body)
        figures[f"{label}_ours_events_per_s"] = round(n_ours / t_ours)
        figures[f"{label}_split_events_per_s"] = round(n_base / t_base)
        figures[f"{label}_ratio_vs_split"] = round(t_ours / t_base, 3)
        print(
            f"{label}: ours {n_ours / t_ours:,.0f} ev/s, split+orjson {n_base / t_base:,.0f} ev/s,"
            f" ratio {t_ours / t_base:.3f}"
        )
        if sdk is not None:
            t_sdk, n_sdk = best_of(sdk, pieces, args.repeat)
            figures[f"{label}_sdk_events_per_s"] = round(n_sdk / t_sdk)
            figures[f"{label}_sdk_over_ours"] = round(t_sdk / t_ours, 3)
            print(
                f"{label}: langgraph_sdk.sse {n_sdk / t_sdk:,.0f} ev/s, ours is "
                f"{t_sdk / t_ours:.2f}x faster"
            )
        del body, pieces
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
