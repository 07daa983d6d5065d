"""Properties of the replay pipeline and the reducers, with hypothesis.

Charter: for every capture, any chunking of its bytes gives the same summary
(and the same error, for bad input); events delivered again (right away, or
later, as a reconnect replays them) change nothing; and arbitrary sequences of
message, tool and lifecycle events never break a reducer: the only exception
is RemoteProtocolError, and after ``close`` nothing is left open.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projection_helpers import DATA, ev, lifecycle, msg, read, sse_body

from threadwire.protocol import Event, RemoteProtocolError
from threadwire.protocol.projections import Projector, TranscriptReader, replay

CAPTURES = sorted(
    str(p.relative_to(DATA))
    for p in DATA.rglob("*")
    if p.suffix in (".raw", ".jsonl") and p.name != "commands.jsonl" and p.stat().st_size
)


def outcome(chunks: list[bytes]) -> tuple[dict[str, Any], str | None]:
    result = replay(chunks)
    return result.to_json(), result.error.message if result.error else None


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in pairwise(edges)]


@pytest.mark.parametrize("path", CAPTURES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=0, max_value=40_000), max_size=40))
def test_any_chunking_gives_the_same_summary(path: str, cuts: list[int]) -> None:
    data = read(path)
    assert outcome(split(data, cuts)) == outcome([data])


@pytest.mark.parametrize("path", CAPTURES)
def test_byte_by_byte(path: str) -> None:
    data = read(path)
    if len(data) > 20_000:
        data = data[:20_000]  # the same prefix both ways: byte by byte is slow on big files
    assert outcome([data[i : i + 1] for i in range(len(data))]) == outcome([data])


def events_of(path: str) -> list[Event]:
    reader = TranscriptReader()
    items = reader.feed(read(path)) + reader.feed(b"")
    assert reader.error is None
    return [item for item in items if type(item) is Event]


SSE_CAPTURES = [p for p in CAPTURES if p.endswith(".raw") and "errors/" not in p]


@pytest.mark.parametrize("path", SSE_CAPTURES)
def test_each_event_twice_changes_nothing(path: str) -> None:
    events = events_of(path)
    doubled = [e for event in events for e in (event, event)]
    assert outcome([sse_body(doubled)]) == outcome([read(path)])


@pytest.mark.parametrize("path", SSE_CAPTURES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_events_delivered_again_later_change_nothing(path: str, data: st.DataObject) -> None:
    events = events_of(path)
    stream: list[Event] = []
    for i, event in enumerate(events):
        stream.append(event)
        if data.draw(st.booleans(), label=f"repeat after {i}"):
            start = data.draw(st.integers(min_value=0, max_value=i), label="from")
            stream.extend(events[start : i + 1])  # a replay of a stretch already seen
    assert outcome([sse_body(stream)]) == outcome([read(path)])


# -- arbitrary event sequences --------------------------------------------------------------

NAMESPACES = st.sampled_from([(), ("child:1",), ("child:1", "grand:2")])
IDS = st.sampled_from(["a", "b", None])
INDEXES = st.integers(min_value=0, max_value=2)

MESSAGE_DATA = st.one_of(
    st.builds(
        lambda i, r: {"event": "message-start", "id": i, "role": r},
        IDS,
        st.sampled_from(["ai", "tool"]),
    ),
    st.builds(
        lambda i, t: {
            "event": "content-block-delta",
            "index": i,
            "delta": {"type": "text-delta", "text": t},
        },
        INDEXES,
        st.text(max_size=3),
    ),
    st.builds(
        lambda i, t: {
            "event": "content-block-delta",
            "index": i,
            "delta": {"type": "tool-call-delta", "args": t},
        },
        INDEXES,
        st.sampled_from(['{"a":', " 1}", "{}", "]"]),
    ),
    st.builds(
        lambda i, c: {"event": "content-block-start", "index": i, "content": c},
        INDEXES,
        st.sampled_from(
            [{"type": "text", "text": ""}, {"type": "tool_call_chunk", "id": "c1", "name": "t"}]
        ),
    ),
    st.builds(
        lambda i, c: {"event": "content-block-finish", "index": i, "content": c},
        INDEXES,
        st.sampled_from(
            [
                {"type": "text", "text": "final"},
                {"type": "tool_call", "id": "c1", "name": "t", "args": {}},
            ]
        ),
    ),
    st.builds(lambda i: {"event": "message-finish", **({"id": i} if i else {})}, IDS),
    st.builds(lambda i: {"event": "error", "message": "bad", **({"id": i} if i else {})}, IDS),
)

EVENTS = st.one_of(
    st.builds(lambda d, ns: msg(d, ns), MESSAGE_DATA, NAMESPACES),
    st.builds(
        lambda kind, ns: ev(
            "tools",
            {
                "event": kind,
                "tool_call_id": "c1",
                "tool_name": "t",
                "delta": "x",
                "output": 1,
                "message": "m",
            },
            ns,
        ),
        st.sampled_from(["tool-started", "tool-output-delta", "tool-finished", "tool-error"]),
        NAMESPACES,
    ),
    st.builds(
        lambda s: lifecycle(s), st.sampled_from(["running", "completed", "failed", "interrupted"])
    ),
    st.builds(
        lambda s, ns: ev("lifecycle", {"event": s}, ns),
        st.sampled_from(["started", "completed", "interrupted"]),
        NAMESPACES,
    ),
    st.builds(lambda ns: ev("values", {"v": 1}, ns), NAMESPACES),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENTS, max_size=40))
def test_arbitrary_sequences_settle(events: list[Event]) -> None:
    projector = Projector(history=True)
    try:
        for event in events:
            projector.apply(event)
    except RemoteProtocolError:
        pass  # e.g. a root ``running`` twice after a terminal of another run is refused
    projector.close()
    for message in projector.messages.messages:
        assert message.done
        assert not (message.status == "finished" and message.closed)
        for block in message.blocks.values():
            assert block.finished
    assert projector.messages.open_messages == []
    assert projector.tool_calls.running == []
    assert all(call.done for call in projector.tool_calls.calls)
