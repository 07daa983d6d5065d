"""What the harnesses share: split points taken from the input, and SSE outcomes.

Nothing here imports atheris, so ``tests/protocol/test_fuzz_mirror.py`` can run
the same ``check`` functions under hypothesis.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

from threadwire.protocol import (
    LimitExceeded,
    Limits,
    RemoteProtocolError,
    SSEComment,
    SSEMessage,
    SSEParser,
)

BYTEWISE_MAX = 512
"""Inputs up to this size are also fed one byte at a time."""


def split_points(data: bytes) -> list[int]:
    """Cut points derived from the input itself: the same input, the same cuts.

    Seeding a PRNG with the bytes (rather than spending leading bytes on the
    cuts) keeps every corpus file a plain event stream.
    """
    if len(data) < 2:
        return []
    rng = random.Random(data)
    return sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 24))))


def chunks(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in pairwise(bounds) if b > a]


def feedings(data: bytes) -> list[list[bytes]]:
    """The ways each input is fed: whole, split at derived points, byte by byte."""
    ways = [chunks(data, []), chunks(data, split_points(data))]
    if len(data) <= BYTEWISE_MAX:
        ways.append(chunks(data, range(1, len(data))))
    return ways


def error_key(exc: RemoteProtocolError) -> tuple[Any, ...]:
    """What an error means. A limit error's byte count depends on the split."""
    if isinstance(exc, LimitExceeded):
        return ("LimitExceeded", exc.limit, exc.value)
    return (type(exc).__name__, exc.message, exc.partial)


def parse_sse(
    pieces: Sequence[bytes],
    limits: Limits,
    on_item: Callable[[SSEMessage | SSEComment], Any] | None = None,
) -> tuple[list[Any], tuple[Any, ...] | None, str, int | None]:
    """Feed ``pieces`` (empty ones skipped) then EOF; return items, error, final state.

    ``on_item`` maps each item to what is recorded (default: the item itself).
    Only :class:`RemoteProtocolError` is caught: anything else is a finding.
    """
    parser = SSEParser(limits=limits)
    record = on_item or (lambda item: (type(item).__name__, *item))
    out: list[Any] = []
    error = None
    try:
        for piece in [*(piece for piece in pieces if piece), b""]:
            parser.receive_data(piece)
            while items := parser.events():
                for item in items:
                    assert type(item) in (SSEMessage, SSEComment), item
                    out.append(record(item))
    except RemoteProtocolError as exc:
        error = error_key(exc)
    return out, error, parser.last_event_id, parser.reconnection_time


def run_atheris(check: Callable[[bytes], None]) -> None:
    """Run ``check`` under atheris with the command line's libFuzzer flags."""
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()
