"""The event log: seq, durable event ids, the bounded replay buffer, gaps and fan-out.

Charter: seq is 1, 2, 3, ... across every run of a thread; an event keeps its
seq and event id on every replay; ``replay(since)`` after any event gives
exactly the rest, filtered as asked, or a Gap naming the oldest seq held,
never a silent partial replay; memory is bounded by the buffer; each event is
encoded once whatever the number of sinks.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from producer_helpers import Clock

from threadwire.protocol import (
    Event,
    LocalProtocolError,
    StreamFilter,
    decode_message,
    run_id_from_event_id,
)
from threadwire.protocol.producer import EventLog, Gap, LogEntry, Part


def fill(log: EventLog, n: int, clock: Clock | None = None, **kw: Any) -> list[Event]:
    clock = clock or Clock()
    return [log.append(Part("values", (), {"i": i}), timestamp=clock(), **kw) for i in range(n)]


def test_seq_and_ids() -> None:
    log = EventLog("thread-1")
    assert (log.high_seq, log.min_available_seq, len(log)) == (0, 1, 0)
    assert log.thread_id == "thread-1"
    a = log.append({"type": "values", "ns": [], "data": {"x": 1}}, timestamp=10)
    b = log.append(Part("updates", ["c:1"], {"n": {}}, node="n"), timestamp=11, run_id="r1")
    assert (a.seq, a.event_id, a.timestamp, a.channel) == (1, "1", 10, "values")
    assert (b.seq, b.event_id, b.namespace, b.node) == (2, "synth:r1:2", ("c:1",), "n")
    assert run_id_from_event_id(b.event_id) == "r1"
    assert (log.high_seq, log.min_available_seq, len(log)) == (2, 1, 2)


def test_seq_is_monotonic_across_runs() -> None:
    log = EventLog()
    clock = Clock()
    first = fill(log, 3, clock, run_id="run-a")
    second = fill(log, 3, clock, run_id="run-b")
    assert [e.seq for e in first + second] == [1, 2, 3, 4, 5, 6]
    ids = [e.event_id for e in first + second]
    assert len(set(ids)) == 6
    assert ids[3] == "synth:run-b:4"


def test_channel_mapping_on_append() -> None:
    log = EventLog()
    named = log.append(Part("custom:progress", (), {"s": 1}), timestamp=1)
    assert (named.method, named.channel, named.data) == (
        "custom",
        "custom:progress",
        {"name": "progress", "payload": {"s": 1}},
    )
    inp = log.append(Part("input", (), {"interrupt_id": "i", "payload": 1}), timestamp=2)
    assert (inp.method, inp.channel) == ("input.requested", "input")


def test_replay_is_exact_and_durable() -> None:
    log = EventLog()
    events = fill(log, 10)
    for since in range(11):
        replayed = log.replay(since)
        assert replayed == events[since:]
    assert log.replay() == events
    assert log.replay(None, StreamFilter(channels=["updates"])) == []


def test_replay_filters() -> None:
    log = EventLog()
    clock = Clock()
    log.append(Part("values", (), 1), timestamp=clock())
    child = log.append(Part("messages", ["child:1"], {"event": "x"}), timestamp=clock())
    root_msg = log.append(Part("messages", (), {"event": "y"}), timestamp=clock())
    named = log.append(Part("custom:a", (), 1), timestamp=clock())
    log.append(Part("custom:b", (), 2), timestamp=clock())
    assert log.replay(0, StreamFilter(channels=["messages"])) == [child, root_msg]
    root_only = StreamFilter(channels=["messages"], namespaces=[[]], depth=0)
    assert log.replay(0, root_only) == [root_msg]
    assert log.replay(2, StreamFilter(channels=["messages"])) == [root_msg]
    assert log.replay(None, StreamFilter(channels=["custom:a"])) == [named]


def test_gap_when_since_is_older_than_the_buffer() -> None:
    log = EventLog(buffer_size=3)
    events = fill(log, 5)
    assert (log.min_available_seq, len(log)) == (3, 3)
    assert log.replay() == events[2:]  # everything held (since=None asks for that)
    for since in (0, 1):
        gap = log.replay(since)
        assert gap == Gap(since=since, min_available_seq=3)
    assert log.replay(2) == events[2:]
    assert log.replay(4, StreamFilter(channels=["values"])) == events[4:]
    entries_gap = log.entries(0)
    assert isinstance(entries_gap, Gap)
    assert "oldest event held is seq 3" in entries_gap.message
    assert "events 1..2" in entries_gap.message


def test_buffer_bounds_memory() -> None:
    log = EventLog(buffer_size=4)
    fill(log, 1000)
    assert len(log) == 4
    assert len(log._ring) == 4
    assert [e.seq for e in log.replay(996)] == [997, 998, 999, 1000]  # type: ignore[union-attr]


@pytest.mark.parametrize("since", [-1, True, 1.5, "3"])
def test_bad_since(since: Any) -> None:
    with pytest.raises(LocalProtocolError, match="since must be"):
        EventLog().replay(since)


def test_since_ahead_of_the_log() -> None:
    log = EventLog()
    fill(log, 2)
    assert log.replay(2) == []
    with pytest.raises(LocalProtocolError, match="ahead of the log"):
        log.replay(3)


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_bad_buffer_size(size: Any) -> None:
    with pytest.raises(LocalProtocolError, match="buffer_size"):
        EventLog(buffer_size=size)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"part": Part("values", (), {}, interrupts=[{"id": "i"}])}, "does not handle interrupts"),
        ({"part": Part("values", (), {"__interrupt__": []})}, "carries __interrupt__"),
        ({"part": Part("updates", (), {"__interrupt__": []})}, "carries __interrupt__"),
        ({"part": Part("lifecycle", (), {"status": "x"})}, "string 'event'"),
        ({"part": Part("lifecycle", (), "running")}, "string 'event'"),
        ({"part": Part("input", (), {"payload": 1})}, "interrupt_id"),
        ({"part": Part("input.requested", (), None)}, "interrupt_id"),
        ({"part": Part("values", (), {1j: 2})}, "not JSON-serializable"),
        ({"part": Part("values", (), object())}, "not JSON-serializable"),
        ({"timestamp": -1}, "timestamp"),
        ({"timestamp": 1.5}, "timestamp"),
        ({"timestamp": True}, "timestamp"),
        ({"run_id": ""}, "run_id"),
        ({"run_id": 5}, "run_id"),
        ({"run_id": "a:b"}, "must not contain ':'"),
        ({"run_id": "a\nb"}, "must not contain"),
    ],
)
def test_append_rejects(kwargs: dict[str, Any], match: str) -> None:
    log = EventLog()
    args: dict[str, Any] = {"part": Part("values", (), {}), "timestamp": 1, **kwargs}
    with pytest.raises(LocalProtocolError, match=match):
        log.append(args.pop("part"), **args)
    assert log.high_seq == 0  # a refused part consumes no seq
    assert len(log) == 0


def test_emit_takes_wire_shape_as_is() -> None:
    log = EventLog()
    event = log.emit("custom", (), {"name": "n", "payload": 1}, timestamp=5, node="x")
    assert (event.method, event.channel, event.node) == ("custom", "custom:n", "x")


def test_entry_encodings() -> None:
    log = EventLog()
    event = log.append(Part("values", ["a:1"], {"text": "é\u2028x"}, node="n"), timestamp=7)
    entry = log.entries()[0]  # type: ignore[index]
    assert isinstance(entry, LogEntry)
    assert entry.event == event
    assert entry.seq == 1
    assert entry.key == ("values", ("a:1",))
    assert decode_message(entry.json) == event
    assert orjson.loads(entry.json) == {
        "type": "event",
        "event_id": "1",
        "seq": 1,
        "method": "values",
        "params": {"namespace": ["a:1"], "timestamp": 7, "data": {"text": "é\u2028x"}, "node": "n"},
    }
    expected = b"event: values\r\ndata: " + entry.json + b"\r\nid: 1\r\n\r\n"
    assert entry.sse == expected
    assert entry.sse is entry.sse  # framed once


def test_entries_hold_no_collected_containers() -> None:
    """What the ring keeps is nothing a full garbage collection has to walk."""
    log = EventLog()
    fill(log, 3)
    # A tuple is untracked by the collection that finds its items untracked; the
    # (channel, namespace) key goes first, its entry by the next collection.
    gc.collect()
    gc.collect()
    assert not any(gc.is_tracked(stored) for stored in log._ring)


def test_kept_json_has_an_allocation_of_its_own_size() -> None:
    log = EventLog()
    log.append(Part("values", [], {"x": 1}), timestamp=1)
    entry = log.entries()[0]  # type: ignore[index]
    # orjson's own result would report its ~4 KB allocation through the buffer protocol
    # only indirectly; the copy is an ordinary bytes object of exactly its length.
    assert sys.getsizeof(entry.json) == sys.getsizeof(b"") + len(entry.json)


def test_sse_framing_refuses_a_method_with_a_line_break() -> None:
    log = EventLog()
    log.emit("bad\r\nmethod", (), {}, timestamp=1)
    entry = log.entries()[0]  # type: ignore[index]
    with pytest.raises(LocalProtocolError, match="must not contain CR or LF"):
        _ = entry.sse


class Recorder:
    def __init__(self, log: EventLog | None = None, detach_self: bool = False) -> None:
        self.entries: list[LogEntry] = []
        self.log = log
        self.detach_self = detach_self

    def deliver(self, entry: LogEntry) -> None:
        self.entries.append(entry)
        if self.detach_self and self.log is not None:
            self.log.detach(self)


def test_fan_out_shares_one_entry() -> None:
    log = EventLog()
    a, b = Recorder(), Recorder()
    log.attach(a)
    log.attach(b)
    log.attach(a)  # attaching twice is one attachment
    assert log.sinks == 2
    fill(log, 2)
    assert [e.seq for e in a.entries] == [1, 2]
    assert all(x is y for x, y in zip(a.entries, b.entries, strict=True))
    log.detach(a)
    log.detach(a)  # not attached any more: no error
    fill(log, 1)
    assert len(a.entries) == 2
    assert len(b.entries) == 3


def test_sink_detaching_during_fan_out() -> None:
    log = EventLog()
    quitter = Recorder(log, detach_self=True)
    stayer = Recorder()
    log.attach(quitter)
    log.attach(stayer)
    fill(log, 2)
    assert len(quitter.entries) == 1
    assert len(stayer.entries) == 2
    assert log.sinks == 1


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=0, max_value=40),
    st.sampled_from(["values", "updates", "custom:x", "messages"]),
)
def test_replay_property(buffer_size: int, n: int, since_raw: int, channel: str) -> None:
    """Any since gives exactly the matching rest with the same seq and ids, or a Gap."""
    log = EventLog(buffer_size=buffer_size)
    clock = Clock()
    methods = ["values", "updates", "custom:x", "messages"]
    produced = [
        log.append(Part(methods[i % 4], (), {"i": i}), timestamp=clock(), run_id=f"r{i // 5}")
        for i in range(n)
    ]
    since = min(since_raw, n)
    stream_filter = StreamFilter(channels=[channel])
    result = log.replay(since, stream_filter)
    oldest = max(1, n - buffer_size + 1)
    if since + 1 < oldest:
        assert result == Gap(since=since, min_available_seq=oldest)
    else:
        expected = [e for e in produced[since:] if e.channel == channel]
        assert result == expected
        assert isinstance(result, list)
        assert [e.event_id for e in result] == [e.event_id for e in expected]
