"""Loopback: every client binding wired to an honest server binding, in memory.

Charter: for the event stream, the command POSTs and the WebSocket, what one
side writes is exactly what the other reads (the pipes assert it) whatever the
split: whole, byte by byte, seeded random cuts, and cuts hypothesis draws. The
client decodes exactly the events the producer's EventLog holds, in order and
once; the server reads exactly the requests and commands the client built;
replies come back correlated by id, after the events they reflect. No anyio:
bytes move between objects in memory.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from binding_helpers import (
    EVERYTHING,
    HTTP,
    SPLIT_IDS,
    SPLITS,
    THREAD,
    Clock,
    CommandPair,
    HonestServer,
    Splitter,
    StreamPair,
    WSPair,
    at_cuts,
    item_key,
    run,
    whole,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from threadwire.protocol import (
    END_OF_STREAM,
    CommandFailure,
    CommandSuccess,
    Event,
    HTTPStatusError,
    InputRespond,
    Limits,
    RunStart,
    SSEComment,
    StateGet,
    StreamFilter,
    SubscriptionSubscribe,
    SubscriptionUnsubscribe,
)
from threadwire.protocol._http import parse_url, quote_segment
from threadwire.protocol._http_client import ResponseHead
from threadwire.protocol._ws_client import Closed, Opened
from threadwire.protocol.producer import BaseHandler, EventLog, RunProducer

split_param = pytest.mark.parametrize("split", SPLITS, ids=SPLIT_IDS)

TRICKY_IDS = ["../assistants/x", ".", "..", "a b/c?d#e%2F", "é✓\u2028", "x" * 300]


class Handler(BaseHandler):
    """Answers the commands the loopback sends."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def start_run(self, command: RunStart) -> str:
        self.calls.append(command)
        return "run-9"

    def get_state(self, command: StateGet) -> Any:
        self.calls.append(command)
        return {"values": {"x": len(self.calls)}, "namespace": list(command.namespace)}


def filtered(log: EventLog, body: dict[str, Any], since: int | None = None) -> list[Event]:
    events = log.replay(since, StreamFilter(channels=body["channels"]))
    assert isinstance(events, list)
    return events


# -- the event stream -------------------------------------------------------------------


def sse_exchange(split: Splitter) -> StreamPair:
    """Replay, live events one by one, a heartbeat, a second run, the end."""
    log = EventLog(THREAD)
    producer, clock = RunProducer(log), Clock()
    run(producer, clock, "run-1")
    pair = StreamPair(HonestServer(log), split)
    pair.open()
    run(producer, clock, "run-2", after=pair.publish)
    pair.heartbeat()
    pair.end()
    return pair


@split_param
def test_event_stream_gets_exactly_the_log(split: Splitter) -> None:
    pair = sse_exchange(split)
    log = pair.server.log
    # The server read exactly the request the client built.
    (request,) = pair.server.requests
    assert request.method == "POST"
    assert request.path == f"/threads/{THREAD}/stream/events"
    assert orjson.loads(request.body) == EVERYTHING
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["cache-control"] == "no-store"
    assert request.headers["content-length"] == str(len(request.body))
    assert request.headers["host"] == "api.test:8123"
    # The client read exactly what the log holds, then the heartbeat, then the end.
    head, *rest = pair.items
    assert isinstance(head, ResponseHead) and head.status == 200
    assert head.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert head.headers["transfer-encoding"] == "chunked"
    assert head.headers["x-accel-buffering"] == "no"
    assert rest[-1] == SSEComment("heartbeat")
    assert rest[:-1] == filtered(log, EVERYTHING) == pair.events
    assert len(pair.events) == log.high_seq
    assert pair.client.ended and pair.client.head == head
    assert pair.client.next_event() is END_OF_STREAM
    assert pair.server.http.keep_alive  # the stream ended with its last chunk
    # The end of the socket after a clean end adds nothing.
    pair.client_eof()
    assert pair.items[-1] == SSEComment("heartbeat")


@split_param
def test_event_stream_resumes_after_since_and_filters(split: Splitter) -> None:
    log = EventLog(THREAD)
    producer, clock = RunProducer(log), Clock()
    run(producer, clock, "run-1")
    body = {"channels": ["lifecycle", "custom"], "since": 4}
    pair = StreamPair(HonestServer(log), split, body=body)
    pair.open()
    run(producer, clock, "run-2", after=pair.publish)
    assert pair.events == filtered(log, body, since=4)
    assert {event.method for event in pair.events} == {"lifecycle", "custom"}
    assert min(event.seq or 0 for event in pair.events) > 4
    assert not pair.client.ended


@split_param
def test_event_stream_rejections_carry_the_server_detail(split: Splitter) -> None:
    log = EventLog(THREAD, buffer_size=3)
    producer, clock = RunProducer(log), Clock()
    run(producer, clock)
    server = HonestServer(log)
    bad = StreamPair(server, split, body={"channels": ["debug"]})
    with pytest.raises(HTTPStatusError) as info:
        bad.open()
    assert info.value.status == 400 and not info.value.retryable
    assert info.value.detail is not None
    assert info.value.detail.startswith("channels contains unsupported entries: debug")
    # Same connection (keep-alive): a resume from a seq the buffer no longer holds.
    gone = StreamPair(server, split, body={"channels": ["values"], "since": 1})
    with pytest.raises(HTTPStatusError) as info:
        gone.open()
    assert info.value.status == 410
    assert orjson.loads(info.value.body)["error"] == "resume_gap"
    assert orjson.loads(info.value.body)["min_available_seq"] == log.min_available_seq
    assert len(server.requests) == 2


# -- commands -----------------------------------------------------------------------------


@split_param
def test_commands_reuse_one_keep_alive_connection(split: Splitter) -> None:
    handler = Handler()
    pair = CommandPair(HonestServer(EventLog(THREAD), handler), split, api_key="k-1")
    assert pair.client.idle and not pair.client.closed
    first = pair.command(1, StateGet(namespace=("a",)))
    assert first == CommandSuccess(
        id=1,
        result={"values": {"x": 1}, "namespace": ["a"]},
        applied_through_seq=0,
        meta={"applied_through_seq": 0},
    )
    assert pair.client.idle
    second = pair.command(2, RunStart(assistant_id="agent", input={"q": 1}))
    assert isinstance(second, CommandSuccess) and second.result == {"run_id": "run-9"}
    third = pair.command(3, InputRespond(interrupt_id="int-1", response="yes"))
    assert isinstance(third, CommandFailure)
    assert (third.id, third.code) == (3, "not_supported")
    assert pair.client.idle and not pair.client.closed
    # Three requests on one server connection, each as the client built it.
    assert [r.path for r in pair.server.requests] == [f"/threads/{THREAD}/commands"] * 3
    assert all(r.headers["x-api-key"] == "k-1" for r in pair.server.requests)
    assert all(r.headers["accept"] == "application/json" for r in pair.server.requests)
    assert [c.method for c in handler.calls] == ["state.get", "run.start"]
    assert pair.server.http.keep_alive


@split_param
def test_malformed_commands_are_answered_with_our_id(split: Splitter) -> None:
    pair = CommandPair(HonestServer(EventLog(THREAD)), split)
    # Not JSON: the server answers 400 and an envelope with a null id.
    reply = pair.send_raw(THREAD, 5, b"{not json")
    assert isinstance(reply, CommandFailure)
    assert (reply.id, reply.code) == (5, "invalid_argument")
    assert reply.message == "Protocol commands must be valid JSON."
    assert pair.server.replies[-1].http_status == 400
    # A string id is echoed by the server: the reply still answers our request.
    reply = pair.send_raw(THREAD, 6, b'{"id": "6", "method": "state.get"}')
    assert isinstance(reply, CommandFailure) and reply.id == 6
    # Subscriptions live on sockets: over HTTP they fail with 200 and an envelope.
    reply = pair.command(7, SubscriptionSubscribe(channels=["values"]))
    assert isinstance(reply, CommandFailure)
    assert (reply.id, reply.code) == (7, "not_supported")
    reply = pair.command(8, StateGet())
    assert isinstance(reply, CommandFailure) and reply.code == "not_supported"
    assert pair.client.idle and len(pair.server.requests) == 4


@split_param
def test_an_oversized_command_is_refused_with_413(split: Splitter) -> None:
    server = HonestServer(EventLog(THREAD), Handler(), limits=Limits(max_body_size=64))
    pair = CommandPair(server, split)
    body = b'{"id":1,"method":"state.get","params":{"pad":"' + b"p" * 100 + b'"}}'
    with pytest.raises(HTTPStatusError) as info:
        pair.send_raw(THREAD, 1, body)
    assert info.value.status == 413 and not info.value.retryable
    assert info.value.detail == f"request body of {len(body)} bytes exceeds max_body_size=64"
    assert [error.hint for error in server.errors][:1] == ["413"]
    assert pair.client.closed and not server.http.keep_alive
    assert server.requests == []


@pytest.mark.parametrize("thread_id", TRICKY_IDS)
def test_a_thread_id_stays_in_its_segment(thread_id: str) -> None:
    server = HonestServer(EventLog(THREAD), Handler())
    pair = CommandPair(server)
    assert isinstance(pair.command(1, StateGet(), thread_id=thread_id), CommandSuccess)
    stream = StreamPair(server, thread_id=thread_id)
    stream.open()
    socket = WSPair(HonestServer(EventLog(THREAD)), thread_id=thread_id)
    socket.connect()
    assert socket.items == [Opened()]
    assert server.thread_ids == [thread_id, thread_id]
    assert socket.server.thread_ids == [thread_id]
    for request in [*server.requests, *socket.server.requests]:
        assert request.path.split("/")[2] == quote_segment(thread_id)
        assert ".." not in request.path.split("/") and "." not in request.path.split("/")


def test_an_endpoint_prefix_is_kept() -> None:
    endpoint = parse_url("http://api.test/base/v1/")
    server = HonestServer(EventLog(THREAD), Handler(), prefix="/base/v1")
    pair = CommandPair(server, endpoint=endpoint)
    assert isinstance(pair.command(1, StateGet()), CommandSuccess)
    assert server.requests[0].path == f"/base/v1/threads/{THREAD}/commands"
    assert server.requests[0].headers["host"] == "api.test"
    # Without the prefix the honest server answers 404 (not a protocol reply).
    plain = CommandPair(server)
    with pytest.raises(HTTPStatusError) as info:
        plain.command(2, StateGet())
    assert info.value.status == 404 and info.value.detail is not None


# -- WebSocket ----------------------------------------------------------------------------


def ws_exchange(split: Splitter) -> WSPair:
    """Subscribe (replay), live events, commands between them, a ping, the server's close."""
    log = EventLog(THREAD)
    producer, clock = RunProducer(log), Clock()
    run(producer, clock, "run-1")
    pair = WSPair(HonestServer(log, Handler()), split, headers={"Authorization": "Bearer t"})
    pair.replayed = log.high_seq  # type: ignore[attr-defined]
    pair.connect()
    pair.send(1, SubscriptionSubscribe(channels=EVERYTHING["channels"]))
    pair.send(2, StateGet())
    run(producer, clock, "run-2", after=pair.publish)
    pair.client_sends(pair.client.ping(b"are you there"))
    pair.send(3, SubscriptionUnsubscribe(subscription_id="sub-1"))
    producer.start_run("run-3", "agent", timestamp=clock())  # nobody is subscribed now
    pair.publish()
    pair.client_sends(pair.client.send_text(b"not json"))
    pair.server_close(1011, "thread stream ended")
    return pair


@split_param
def test_websocket_session_end_to_end(split: Splitter) -> None:
    pair = ws_exchange(split)
    log = pair.server.log
    (request,) = pair.server.requests
    assert request.upgrade == "websocket" and request.method == "GET"
    assert request.headers["authorization"] == "Bearer t"
    assert pair.items[0] == Opened()
    replies = pair.replies
    assert [reply.id for reply in replies] == [1, 2, 3, None]
    first = replies[0]
    assert isinstance(first, CommandSuccess)
    replayed = pair.replayed  # type: ignore[attr-defined]
    assert first.result == {"subscription_id": "sub-1", "replayed_events": replayed}
    # The subscribe reply follows the replay it caused; events of run-3 never came.
    assert pair.items.index(first) == 1 + replayed
    assert first.applied_through_seq == replayed
    assert pair.events == filtered(log, EVERYTHING)[: log.high_seq - 1]
    last = replies[-1]
    assert (
        isinstance(last, CommandFailure) and last.message == "Protocol commands must be valid JSON."
    )
    # What the server read is what the client sent, in order.
    assert [orjson.loads(text)["id"] for text in pair.server.texts[:3]] == [1, 2, 3]
    assert pair.server.texts[-1] == "not json"
    assert len(pair.server.texts) == 4
    closed = pair.items[-1]
    assert closed == Closed(code=1011, reason="thread stream ended")
    assert closed.retryable and pair.client.closed == closed
    assert pair.server.ws is not None and pair.server.ws.closed == 1011


@split_param
def test_websocket_client_closes_first(split: Splitter) -> None:
    pair = WSPair(HonestServer(EventLog(THREAD)), split)
    pair.connect()
    pair.client_close(1000, "bye")
    assert pair.server.ws is not None and pair.server.ws.closed == 1000
    assert pair.items == [Opened(), Closed(code=1000, reason="bye")]
    assert not pair.items[-1].retryable
    assert pair.client.close() == b""  # closing is over


# -- any split gives the same exchange ----------------------------------------------------


def _keys(items: list[Any]) -> list[Any]:
    return [item_key(item) for item in items]


REFERENCE: dict[str, list[Any]] = {}


def reference(name: str) -> list[Any]:
    if name not in REFERENCE:
        pair = sse_exchange(whole) if name == "sse" else ws_exchange(whole)
        REFERENCE[name] = _keys(pair.items)
    return REFERENCE[name]


cuts = st.lists(st.integers(0, 1 << 16), max_size=24)


@settings(max_examples=40, deadline=None)
@given(cuts)
def test_any_split_of_the_event_stream_exchange(points: list[int]) -> None:
    assert _keys(sse_exchange(at_cuts(points)).items) == reference("sse")


@settings(max_examples=40, deadline=None)
@given(cuts)
def test_any_split_of_the_websocket_exchange(points: list[int]) -> None:
    assert _keys(ws_exchange(at_cuts(points)).items) == reference("ws")


@settings(max_examples=30, deadline=None)
@given(cuts, st.lists(st.integers(1, 9), min_size=1, max_size=6))
def test_any_split_of_keep_alive_commands(points: list[int], ids: list[int]) -> None:
    pair = CommandPair(HonestServer(EventLog(THREAD), Handler()), at_cuts(points))
    for command_id in ids:
        reply = pair.command(command_id, StateGet())
        assert isinstance(reply, CommandSuccess) and reply.id == command_id
    assert [r["values"]["x"] for r in (reply.result for reply in pair.replies)] == list(
        range(1, len(ids) + 1)
    )
    assert pair.up.delivered == pair.up.sent and pair.down.delivered == pair.down.sent


def test_the_http_host_header_is_the_endpoint_authority() -> None:
    pair = CommandPair(HonestServer(EventLog(THREAD), Handler()))
    pair.command(1, StateGet())
    assert pair.server.requests[0].headers["host"] == HTTP.authority
