"""Builders for projection tests: events, message event sequences, fixtures.

* :func:`ev` builds one :class:`Event` as the codec would (channel derived
  from method and data).
* ``start``/``block``/``text``/... build ``messages`` event data.
* :func:`sse_body` serializes events as the server frames them (CRLF, one data
  line, ``id:`` = seq), so reducer-level cases can also run through replay.
* :data:`DATA` is ``tests/data/replay``; :func:`read` and :func:`summary_of`
  load a fixture and replay it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from threadwire.protocol import Event, channel_of, encode_event, serialize_message
from threadwire.protocol.projections import ReplayResult, replay

DATA = Path(__file__).resolve().parent.parent.parent / "data" / "replay"
SHARED = DATA / "shared"
CAPTURES = DATA / "captures"


def ev(
    method: str,
    data: Any,
    ns: Sequence[str] = (),
    *,
    seq: int | None = None,
    event_id: str | None = None,
    node: str | None = None,
) -> Event:
    return Event(method, channel_of(method, data), tuple(ns), data, seq, event_id, None, node, None)


def msg(data: dict[str, Any], ns: Sequence[str] = (), **kw: Any) -> Event:
    return ev("messages", data, ns, **kw)


def start(message_id: str | None = "m1", role: str = "ai", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"event": "message-start", "role": role}
    if message_id is not None:
        data["id"] = message_id
    data.update(extra)
    return data


def block(index: int, content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"event": "content-block-start", "index": index, "content": content, **extra}


def delta(index: int, value: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"event": "content-block-delta", "index": index, "delta": value, **extra}


def text(index: int, value: str, **extra: Any) -> dict[str, Any]:
    return delta(index, {"type": "text-delta", "text": value}, **extra)


def reasoning(index: int, value: str, **extra: Any) -> dict[str, Any]:
    return delta(index, {"type": "reasoning-delta", "reasoning": value}, **extra)


def args(index: int, value: str, **extra: Any) -> dict[str, Any]:
    return delta(index, {"type": "tool-call-delta", "args": value}, **extra)


def finish_block(index: int, content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"event": "content-block-finish", "index": index, "content": content, **extra}


def finish(**extra: Any) -> dict[str, Any]:
    return {"event": "message-finish", **extra}


def lifecycle(
    status: str, ns: Sequence[str] = (), *, run: str = "r1", seq: int | None = None, **extra: Any
) -> Event:
    key = "\x00".join(ns)
    return ev(
        "lifecycle",
        {"event": status, **extra},
        ns,
        seq=seq,
        event_id=f"synth:{run}:lc|{key}|{status}",
    )


def numbered(events: Iterable[Event], first: int = 1) -> list[Event]:
    """The events with seq and event ids assigned in order (ids kept when set)."""
    out = []
    for n, event in enumerate(events, first):
        out.append(event._replace(seq=n, event_id=event.event_id or f"1795-{n}"))
    return out


def sse_body(events: Iterable[Event], *, heartbeat_every: int = 0) -> bytes:
    parts = []
    for n, event in enumerate(events, 1):
        parts.append(
            serialize_message(encode_event(event).decode(), event=event.method, id=event.seq)
        )
        if heartbeat_every and n % heartbeat_every == 0:
            parts.append(b": heartbeat\r\n\r\n")
    return b"".join(parts)


def read(path: str) -> bytes:
    return (DATA / path).read_bytes()


def run_replay(path: str) -> ReplayResult:
    return replay([read(path)])


def summary_of(path: str) -> dict[str, Any]:
    result = run_replay(path)
    assert result.error is None, result.error
    return result.to_json()
