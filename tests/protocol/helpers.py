"""Shared builders and drivers for the core's byte-level and codec tests.

* :func:`parse` feeds an SSE body to :class:`SSEParser` in given chunks (h11's
  convention: ``b""`` ends the input) and collects every item and the final
  outcome; :func:`chunkings` names the ways each table case is fed (whole,
  byte by byte, seeded random splits).
* :func:`signature` turns a parse result into plain tuples, so two results
  compare strictly (NamedTuples of different classes would compare equal as
  tuples) and errors compare by what they mean, not by identity.
* :func:`envelope` and :func:`event_bytes` build valid wire envelopes, like
  h2's ``FrameFactory``; tests override one field at a time.
* :data:`FIXTURES` is the copy of the real server captures under
  ``tests/data/fixtures``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson

from threadwire.protocol import (
    DEFAULT_LIMITS,
    END_OF_STREAM,
    NEED_DATA,
    DataRun,
    LimitExceeded,
    Limits,
    RemoteProtocolError,
    SSEComment,
    SSEMessage,
    SSEParser,
    to_message,
)

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"

Item = SSEMessage | SSEComment


# -- feeding an SSE parser ---------------------------------------------------------


def chunk(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at the given offsets (empty pieces dropped: ``b""`` means EOF)."""
    bounds = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in pairwise(bounds) if b > a]


def random_cuts(data: bytes, seed: int, *, max_pieces: int = 8) -> list[int]:
    rng = random.Random(seed)
    if len(data) < 2:
        return []
    return rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, max_pieces)))


def whole(data: bytes) -> list[bytes]:
    return chunk(data, [])


def bytewise(data: bytes) -> list[bytes]:
    return chunk(data, range(1, len(data)))


def _random_split(seed: int) -> Callable[[bytes], list[bytes]]:
    def split(data: bytes) -> list[bytes]:
        return chunk(data, random_cuts(data, seed))

    split.__name__ = f"random{seed}"
    return split


CHUNKINGS: tuple[Callable[[bytes], list[bytes]], ...] = (
    whole,
    bytewise,
    *(_random_split(seed) for seed in range(5)),
)
"""The ways every table case is fed to the parser."""


class Parsed:
    """Everything one run of the parser produced."""

    def __init__(self, items: list[Item], error: RemoteProtocolError | None, parser: SSEParser):
        self.items = items
        self.error = error
        self.parser = parser

    @property
    def messages(self) -> list[SSEMessage]:
        return [item for item in self.items if isinstance(item, SSEMessage)]


def parse(
    chunks: Sequence[bytes], *, limits: Limits = DEFAULT_LIMITS, via: str = "next_event"
) -> Parsed:
    """Feed ``chunks`` then EOF, draining items after each call.

    ``via`` picks how items are taken: ``next_event`` (one at a time until a
    sentinel), ``events`` or ``raw_events`` (decoded here with ``to_message``),
    or ``data_only``: ``raw_events`` of a parser made with ``data_only=True``,
    each message reduced to its data (see :func:`data_only_signature`).
    """
    parser = SSEParser(limits=limits, data_only=via == "data_only")
    items: list[Item] = []

    def drain(at_eof: bool) -> None:
        if via == "next_event":
            while True:
                item = parser.next_event()
                if item is NEED_DATA:
                    assert not at_eof, "NEED_DATA after the end of input"
                    return
                if item is END_OF_STREAM:
                    assert at_eof, "END_OF_STREAM before the end of input"
                    return
                items.append(item)  # type: ignore[arg-type]
        elif via == "events":
            items.extend(parser.events())
        elif via == "data_only":
            for item in parser.raw_events():
                if isinstance(item, DataRun):
                    items.extend(SSEMessage(data.decode("utf-8", "replace")) for data in item)
                elif isinstance(item, SSEComment):
                    items.append(item)
                else:
                    items.append(SSEMessage(to_message(item).data))
        else:
            items.extend(
                item if isinstance(item, SSEComment) else to_message(item)
                for item in parser.raw_events()
            )

    try:
        for piece in chunks:
            parser.receive_data(piece)
            drain(False)
        parser.receive_data(b"")
        drain(True)
        if via == "data_only":
            assert parser.raw_events() == []  # raises a pending error
        elif via != "next_event":
            assert parser.next_event() is END_OF_STREAM
    except RemoteProtocolError as exc:
        return Parsed(items, exc, parser)
    return Parsed(items, None, parser)


def data_only_signature(full: tuple[Any, ...]) -> tuple[Any, ...]:
    """A :func:`signature` reduced to what a ``data_only`` parse keeps of messages."""
    items, *rest = full
    return (
        [
            (kind, data, "message", "") if kind == "SSEMessage" else (kind, data, *more)
            for kind, data, *more in items
        ],
        *rest,
    )


def error_key(exc: RemoteProtocolError | None) -> tuple[Any, ...] | None:
    """What an error means, independent of where the input was split.

    A limit error says "N bytes (or more)": N depends on how much of the line
    had arrived, so only the limit's name is compared.
    """
    if exc is None:
        return None
    if isinstance(exc, LimitExceeded):
        return ("LimitExceeded", exc.limit, exc.value)
    return (type(exc).__name__, exc.message, exc.partial)


def item_key(item: Item) -> tuple[Any, ...]:
    return (type(item).__name__, *item)


def signature(result: Parsed) -> tuple[Any, ...]:
    """A plain, strictly comparable summary of a parse: items, error, final state."""
    return (
        [item_key(item) for item in result.items],
        error_key(result.error),
        result.parser.last_event_id,
        result.parser.reconnection_time,
    )


# -- envelopes ---------------------------------------------------------------------


_EMPTY: Any = object()


def envelope(
    method: str = "values",
    data: Any = _EMPTY,
    *,
    seq: int | None = 1,
    event_id: str | None = "1795236822726-0",
    namespace: Sequence[str] = (),
    timestamp: int | float | None = 1795236822725,
    node: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """A valid event envelope in the server's field order; ``params`` adds params keys."""
    obj: dict[str, Any] = {"type": "event"}
    if event_id is not None:
        obj["event_id"] = event_id
    if seq is not None:
        obj["seq"] = seq
    obj["method"] = method
    body: dict[str, Any] = {"namespace": list(namespace)}
    if timestamp is not None:
        body["timestamp"] = timestamp
    body["data"] = {} if data is _EMPTY else data
    if node is not None:
        body["node"] = node
    body.update(params)
    obj["params"] = body
    return obj


def event_bytes(method: str = "values", data: Any = _EMPTY, **kwargs: Any) -> bytes:
    return orjson.dumps(envelope(method, data, **kwargs))


# -- fixtures ----------------------------------------------------------------------


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def load_meta(scenario: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((FIXTURES / scenario / "meta.json").read_text())
    return meta
