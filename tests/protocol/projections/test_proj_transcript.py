"""Reading captures: SSE bodies and WebSocket JSON Lines, good and bad.

Charter: the format is recognised from the first byte that is not white
space (after a BOM), in any chunking; SSE bodies with CRLF or LF and
heartbeats; transcripts of frames or ``dir`` records, with connection starts;
and every kind of bad input (not an event stream, not JSON, not a protocol
message, a truncated last event or line, an error frame, over-long input)
stops with a clear message after handing out what was decoded. Also the
replay summary's handling of connections and errors that arise while
projecting.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from projection_helpers import ev, finish, lifecycle, msg, numbered, sse_body, start, text

from threadwire.protocol import (
    CommandFailure,
    CommandSuccess,
    Event,
    LimitExceeded,
    Limits,
    UnknownMessage,
    encode_event,
)
from threadwire.protocol.projections import (
    ReplaySummary,
    StreamStart,
    TranscriptReader,
    replay,
)

RUN = [
    lifecycle("running"),
    ev("values", {"a": 1}),
    lifecycle("completed"),
]


def read_all(*chunks: bytes, limits: Limits | None = None) -> tuple[TranscriptReader, list[Any]]:
    reader = TranscriptReader(limits=limits) if limits else TranscriptReader()
    items: list[Any] = []
    for chunk in (*chunks, b""):
        items.extend(reader.feed(chunk))
    return reader, items


def frame(event: Event) -> str:
    return encode_event(event).decode()


def test_sse_with_lf_bom_and_heartbeats() -> None:
    body = sse_body(numbered(RUN), heartbeat_every=1).replace(b"\r\n", b"\n")
    reader, items = read_all(b"\xef\xbb", b"\xbf" + body[:7], body[7:])
    assert reader.format == "sse" and reader.error is None
    assert [type(i) for i in items] == [Event, Event, Event]
    assert reader.comments == 3
    assert reader.feed(b"more") == []  # after the end, input is ignored


def test_leading_white_space_is_waited_out() -> None:
    body = sse_body(numbered(RUN))
    reader, items = read_all(b"\r\n", b"  ", b"\n" + body)
    assert reader.format == "sse" and len(items) == 3
    reader, items = read_all(b" \n\t")
    assert reader.format is None and items == [] and reader.error is None
    reader, items = read_all(b"\xef\xbb")  # a lone partial BOM
    assert reader.format == "sse" and reader.error is not None
    with_bom = TranscriptReader()
    assert with_bom.feed(b"\xef\xbb\xbf") == []
    assert with_bom.format is None


def test_white_space_has_a_limit() -> None:
    reader, _ = read_all(b" " * 20, limits=Limits(max_line_length=10))
    assert isinstance(reader.error, LimitExceeded)


def test_not_an_event_stream() -> None:
    reader, items = read_all(b"hello world\nthis is text\n")
    assert items == []
    assert reader.error is not None
    assert "neither an SSE event stream" in reader.error.message


def test_sse_data_that_is_not_an_envelope() -> None:
    good = sse_body(numbered(RUN[:1]))
    reader, items = read_all(good + b"event: values\r\ndata: {oops\r\nid: 2\r\n\r\n" + good)
    assert len(items) == 1
    assert reader.error is not None
    assert reader.error.message.startswith("SSE event #2 (id: 2): message is not valid JSON")
    reader, _ = read_all(b'data: {"type": "event"}\n\n')
    assert reader.error is not None
    assert reader.error.message == "SSE event #1: event has no 'method' field"


def test_a_server_error_frame() -> None:
    reader, items = read_all(
        sse_body(numbered(RUN[:2])) + b'event: error\r\ndata: {"error": "boom"}\r\n\r\n'
    )
    assert len(items) == 2
    assert reader.error is not None
    assert "the server sent an error frame" in reader.error.message
    assert '{"error": "boom"}' in reader.error.message


def test_a_truncated_sse_body() -> None:
    body = sse_body(numbered(RUN))
    reader, items = read_all(body[:-10])
    assert len(items) == 2
    assert reader.error is not None
    assert reader.error.message.startswith("the input is truncated: event stream ended")
    assert reader.error.partial


def test_an_over_long_sse_line() -> None:
    reader, items = read_all(b"data: " + b"x" * 100, limits=Limits(max_line_length=50))
    assert isinstance(reader.error, LimitExceeded) and items == []


# -- JSON Lines -------------------------------------------------------------------------------


def test_frames_one_per_line_in_any_chunking() -> None:
    lines = [frame(e) for e in numbered(RUN)]
    lines.insert(1, json.dumps({"type": "success", "id": 1, "result": {}}))
    lines.insert(
        2, json.dumps(json.dumps({"type": "error", "id": None, "error": "x", "message": "m"}))
    )
    lines.insert(3, json.dumps({"type": "future", "x": 1}))
    data = ("\r\n".join(lines) + "\n\n").encode()
    for size in (1, 7, len(data)):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        reader, items = read_all(*chunks)
        assert reader.format == "jsonl" and reader.error is None
        assert [type(i) for i in items] == [
            Event,
            CommandSuccess,
            CommandFailure,
            UnknownMessage,
            Event,
            Event,
        ]


def test_records_with_connections() -> None:
    records = [
        {"dir": "open", "conn": "ws1", "url": "ws://h/threads/A/stream/events"},
        {"dir": "send", "conn": "ws1", "text": "{}"},
        {"dir": "recv", "conn": "ws1", "text": frame(numbered(RUN)[0])},
        {"dir": "recv", "conn": "ws2", "text": frame(numbered(RUN)[0])},
        {"dir": "close", "conn": "ws2"},
        {"dir": "open", "url": 5},
        {"dir": "recv", "text": frame(numbered(RUN)[1])},
    ]
    data = "\n".join(json.dumps(r) for r in records).encode()  # no final line end
    reader, items = read_all(data)
    assert reader.error is None
    assert items[0] == StreamStart("ws://h/threads/A/stream/events", "ws1")
    assert type(items[1]) is Event
    assert items[2] == StreamStart(None, "ws2")
    assert items[4] == StreamStart(None, None)
    assert len(items) == 6


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"detail": "Invalid JSON body"}', "neither a protocol message (no 'type')"),
        (b"[1, 2]", "expected a protocol message or a transcript record object"),
        (b'{"dir": "recv"}', "a 'recv' record needs the frame's 'text' as a string"),
        (b'{"dir": "recv", "text": "{bad"}', "message is not valid JSON"),
        (b'{"type": "event", "method": "values"}', "values event has no 'params' field"),
        (b'"not a frame"', "message is not valid JSON"),
    ],
)
def test_bad_lines(line: bytes, message: str) -> None:
    good = frame(numbered(RUN)[0]).encode()
    reader, items = read_all(good + b"\n" + line + b"\n" + good + b"\n")
    assert len(items) == 1
    assert reader.error is not None
    assert reader.error.message.startswith("line 2: ")
    assert message in reader.error.message
    assert "truncated" not in reader.error.message


def test_a_truncated_last_line() -> None:
    good = frame(numbered(RUN)[0]).encode()
    reader, items = read_all(good + b"\n" + good[:-5])
    assert len(items) == 1
    assert reader.error is not None
    assert reader.error.message.startswith("line 2: message is not valid JSON")
    assert reader.error.message.endswith(
        "(the last line has no line end: the input may be truncated)"
    )


def test_an_over_long_line() -> None:
    reader, items = read_all(b'{"type": "' + b"x" * 100, limits=Limits(max_line_length=50))
    assert isinstance(reader.error, LimitExceeded) and items == []


# -- the summary over connections and failures --------------------------------------------


def test_connections_of_the_same_and_of_other_threads() -> None:
    summary = ReplaySummary()
    first = numbered(RUN)
    summary.stream("A")  # the first stream only names the session
    assert [summary.feed(e) for e in first] == [True, True, True]
    summary.stream(None)  # another connection to the same thread replays it
    assert [summary.feed(e) for e in first] == [False, False, False]
    summary.stream("B")  # another thread: its own dedup, seq starting again
    other = [e._replace(event_id=f"B-{e.seq}") for e in first]
    assert [summary.feed(e) for e in other] == [True, True, True]
    summary.stream("A")  # back to A
    assert summary.feed(first[-1]) is False
    assert summary.events == 6 and summary.duplicates == 4
    # Items other than events and stream starts are not events.
    assert summary.apply(CommandSuccess(id=1, result={})) is False


def test_unknown_methods_are_counted() -> None:
    summary = ReplaySummary()
    assert summary.feed(ev("future", {"x": 1}, seq=1, event_id="e1")) is True
    assert summary.feed(ev("future", {"x": 1}, seq=1, event_id="e1")) is False
    assert summary.to_json()["channels"] == {"future": 1}


def test_a_projection_error_stops_the_replay_with_the_seq() -> None:
    events = numbered(
        [
            lifecycle("running"),
            msg(start()),
            msg({"event": "message-finish", "usage": 5}),
            msg(text(0, "x")),
        ]
    )
    result = replay([sse_body(events)])
    assert result.error is not None
    assert result.error.message == "event seq 3: params.data.usage must be an object, got int"
    assert result.to_json()["events"] == 3
    # The open message was closed when the input stopped.
    assert result.summary.projector.messages.messages[0].closed == (
        "the input ended before the message finished"
    )


def test_a_stream_that_does_not_line_up_is_an_error() -> None:
    events = numbered(RUN)
    clash = events[0]._replace(event_id="something-else")
    result = replay([sse_body([*events, clash])])
    assert result.error is not None
    assert result.error.message.startswith("event seq 1: replayed stream does not line up")


def test_replay_of_a_transcript_with_problems_has_warnings() -> None:
    events = numbered(
        [msg(start("a")), msg(start("b")), msg(text(0, "?")), msg(finish()), msg(finish())]
    )
    result = replay([sse_body(events)])
    assert result.error is None and len(result.warnings) == 1


def test_a_connection_start_after_events_is_a_reconnect() -> None:
    summary = ReplaySummary()
    summary.stream(None)  # the first connection, unnamed
    events = numbered(RUN)
    summary.feed(events[0])
    summary.stream("A")  # named only now: a new session, since events were read before
    assert summary.feed(events[0]) is True
    summary.stream(None)
    assert summary.feed(events[0]) is False


def test_a_long_line_in_many_pieces() -> None:
    line = frame(numbered(RUN)[1]).encode()
    pieces = [line[i : i + 3] for i in range(0, len(line), 3)]
    reader, items = read_all(*pieces, b"\n", line)
    assert reader.error is None and len(items) == 2
    reader, items = read_all(*pieces, limits=Limits(max_line_length=len(line) - 1))
    assert isinstance(reader.error, LimitExceeded) and items == []
    reader, items = read_all(line + b"\n", limits=Limits(max_line_length=len(line) - 1))
    assert isinstance(reader.error, LimitExceeded) and items == []
