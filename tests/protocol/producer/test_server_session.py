"""The server session: every command, every error code, ordering and overflow.

Charter: every command is answered exactly once, with the right code; no input
breaks the session; a reply follows every event it reflects and its
``applied_through_seq`` is the highest seq written to that connection before
it; an event is written once per socket however many subscriptions match; a
slow subscriber is cut off with a reason and can resume, and nobody else
notices.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from producer_helpers import Clock, RecordingHandler, sse_events, sse_items, ws_messages

from threadwire.protocol import (
    AgentGetTree,
    CommandFailure,
    CommandSuccess,
    Event,
    InputInject,
    InputRespond,
    InputRespondBatch,
    Limits,
    LocalProtocolError,
    RunStart,
    SSEComment,
    StateFork,
    StateGet,
    StateListCheckpoints,
    StreamFilter,
    StreamRequest,
)
from threadwire.protocol.producer import (
    HEARTBEAT,
    WS_CLOSE_FELL_BEHIND,
    CommandRejected,
    EventLog,
    Part,
    ServerSession,
    StreamRequestError,
    Transport,
)


def cmd(command_id: Any, method: str, params: Any = None) -> bytes:
    obj: dict[str, Any] = {"id": command_id, "method": method}
    if params is not None:
        obj["params"] = params
    return orjson.dumps(obj)


def fill(log: EventLog, n: int, method: str = "values", ns: tuple[str, ...] = ()) -> list[Event]:
    clock = Clock(log.high_seq * 10)
    return [log.append(Part(method, ns, {"i": i}), timestamp=clock()) for i in range(n)]


def out(session: ServerSession) -> list[Any]:
    return ws_messages(session.data_to_send())


def only_reply(session: ServerSession) -> Any:
    [reply] = out(session)
    return reply


# -- commands dispatched to the handler ------------------------------------------


def test_run_start() -> None:
    handler = RecordingHandler()
    session = ServerSession(EventLog(), handler)
    reply = session.receive_command(cmd(7, "run.start", {"assistant_id": "agent", "input": {}}))
    assert reply.ok and reply.id == 7 and reply.method == "run.start" and reply.http_status == 200
    assert reply.result == {"run_id": "run-1"}
    assert handler.calls == [("start_run", RunStart(assistant_id="agent", input={}))]
    assert orjson.loads(reply.data) == {
        "type": "success",
        "id": 7,
        "result": {"run_id": "run-1"},
        "meta": {"applied_through_seq": 0},
    }
    assert only_reply(session) == CommandSuccess(
        id=7, result={"run_id": "run-1"}, applied_through_seq=0, meta={"applied_through_seq": 0}
    )


@pytest.mark.parametrize(
    ("method", "params", "call", "result"),
    [
        (
            "input.respond",
            {"interrupt_id": "i", "namespace": ["a"], "response": 1},
            ("respond", InputRespond(interrupt_id="i", namespace=("a",), response=1)),
            {},
        ),
        (
            "input.respond",
            {"responses": [{"interrupt_id": "i", "response": 1}]},
            (
                "respond",
                InputRespondBatch.from_params(
                    {"responses": [{"interrupt_id": "i", "response": 1}]}
                ),
            ),
            {},
        ),
        (
            "agent.getTree",
            {},
            ("get_tree", AgentGetTree()),
            {"tree": {"namespace": [], "status": "running"}},
        ),
        ("state.get", {"namespace": []}, ("get_state", StateGet()), {"values": {"x": 1}}),
        (
            "state.listCheckpoints",
            None,
            ("list_checkpoints", StateListCheckpoints()),
            {"checkpoints": []},
        ),
        (
            "state.fork",
            {"checkpoint_id": "c"},
            ("fork", StateFork(checkpoint_id="c")),
            {"run_id": "run-fork"},
        ),
        (
            "input.inject",
            {"message": {"role": "user", "content": "hi"}},
            ("inject", InputInject(message={"role": "user", "content": "hi"})),
            {},
        ),
    ],
)
def test_handler_commands(method: str, params: Any, call: Any, result: Any) -> None:
    handler = RecordingHandler()
    session = ServerSession(EventLog(), handler)
    reply = session.receive_command(cmd(1, method, params))
    assert reply.ok, reply
    assert handler.calls == [call]
    assert only_reply(session).result == result


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("run.start", {"assistant_id": "a"}),
        ("input.respond", {"interrupt_id": "i", "response": 1}),
        ("agent.getTree", {}),
        ("state.get", {}),
        ("state.listCheckpoints", {}),
        ("state.fork", {"checkpoint_id": "c"}),
        ("input.inject", {"message": {"content": "x"}}),
    ],
)
def test_base_handler_supports_nothing(method: str, params: Any) -> None:
    session = ServerSession(EventLog())
    reply = session.receive_command(cmd(3, method, params))
    assert (reply.ok, reply.code, reply.message) == (
        False,
        "not_supported",
        f"{method} is not supported by this server",
    )
    assert only_reply(session) == CommandFailure(
        id=3,
        code="not_supported",
        message=f"{method} is not supported by this server",
        applied_through_seq=0,
    )


# -- errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status", "wire"),
    [
        (b"not json", 400, {"id": None, "message": "Protocol commands must be valid JSON."}),
        ("{bad", 400, {"id": None, "message": "Protocol commands must be valid JSON."}),
        (
            b"[1, 2]",
            400,
            {
                "id": None,
                "message": "Protocol commands must include an integer id and string method.",
            },
        ),
        (
            b'{"method": "run.start"}',
            400,
            {
                "id": None,
                "message": "Protocol commands must include an integer id and string method.",
            },
        ),
        (
            b'{"id": "x", "method": "run.start"}',
            400,
            {
                "id": "x",
                "message": "Protocol commands must include an integer id and string method.",
            },
        ),
        (
            b'{"id": 1.5, "method": "run.start"}',
            400,
            {
                "id": 1.5,
                "message": "Protocol commands must include an integer id and string method.",
            },
        ),
        (
            b'{"id": true, "method": "run.start"}',
            400,
            {
                "id": True,
                "message": "Protocol commands must include an integer id and string method.",
            },
        ),
        (
            b'{"id": 4, "method": 5}',
            400,
            {"id": 4, "message": "Protocol commands must include an integer id and string method."},
        ),
        (
            b'{"id": 4, "method": "run.start", "params": []}',
            200,
            {"id": 4, "message": "run.start: params must be an object."},
        ),
        (
            b'{"id": 5, "method": "run.start", "params": {"assistant_id": ""}}',
            200,
            {"id": 5, "message": "run.start requires an assistant_id."},
        ),
        (
            b'{"id": 6, "method": "input.respond", "params": {"response": "a"}}',
            200,
            {"id": 6, "message": "input.respond requires an interrupt_id."},
        ),
    ],
)
def test_malformed_commands(data: bytes | str, status: int, wire: dict[str, Any]) -> None:
    handler = RecordingHandler()
    session = ServerSession(EventLog(), handler)
    reply = session.receive_command(data)
    assert (reply.ok, reply.code, reply.http_status, reply.id) == (
        False,
        "invalid_argument",
        status,
        wire["id"],
    )
    assert orjson.loads(reply.data) == {
        "type": "error",
        "error": "invalid_argument",
        "meta": {"applied_through_seq": 0},
        **wire,
    }
    assert session.data_to_send() == [reply.data]
    assert handler.calls == []
    # The session is not broken: the next command works.
    assert session.receive_command(cmd(9, "run.start", {"assistant_id": "a"})).ok


def test_unknown_command() -> None:
    session = ServerSession(EventLog())
    reply = session.receive_command(cmd(2, "nope.method", {}))
    assert (reply.code, reply.message, reply.method) == (
        "unknown_command",
        "Unknown protocol command: nope.method",
        "nope.method",
    )


def test_oversized_command() -> None:
    session = ServerSession(EventLog(), limits=Limits(max_line_length=50))
    reply = session.receive_command(cmd(1, "run.start", {"assistant_id": "a" * 60}))
    assert (reply.id, reply.code, reply.http_status) == (None, "invalid_argument", 413)
    assert "exceeds the limit of 50 bytes" in (reply.message or "")


def test_handler_rejections_and_bugs() -> None:
    handler = RecordingHandler()
    session = ServerSession(EventLog(), handler)
    handler.raises["start_run"] = CommandRejected("unknown_error", "422: Invalid thread ID")
    reply = session.receive_command(cmd(1, "run.start", {"assistant_id": "a"}))
    assert (reply.code, reply.message, reply.exception) == (
        "unknown_error",
        "422: Invalid thread ID",
        None,
    )
    handler.raises["respond"] = CommandRejected("no_such_interrupt", "gone", extra={"hint": 1})
    reply = session.receive_command(cmd(2, "input.respond", {"interrupt_id": "i", "response": 1}))
    assert orjson.loads(reply.data)["hint"] == 1
    bug = ValueError("oops")
    handler.raises["get_tree"] = bug
    reply = session.receive_command(cmd(3, "agent.getTree"))
    assert (reply.code, reply.message, reply.exception) == (
        "unknown_error",
        "ValueError: oops",
        bug,
    )
    handler.results["get_state"] = {"not": object()}
    reply = session.receive_command(cmd(4, "state.get"))
    assert reply.code == "unknown_error"
    assert isinstance(reply.exception, TypeError)
    assert "state.get result is not JSON-serializable" in (reply.message or "")
    assert [m.id for m in out(session)] == [1, 2, 3, 4]
    assert session.receive_command(cmd(5, "state.fork", {"checkpoint_id": "c"})).ok


def test_command_rejected_needs_a_code() -> None:
    with pytest.raises(LocalProtocolError, match="error code"):
        CommandRejected("", "x")


# -- subscriptions -------------------------------------------------------------------


def test_subscribe_replays_then_goes_live() -> None:
    log = EventLog()
    history = fill(log, 3) + fill(log, 1, "messages")
    session = ServerSession(log)
    reply = session.receive_command(cmd(1, "subscription.subscribe", {"channels": ["values"]}))
    assert reply.result == {"subscription_id": "sub-1", "replayed_events": 3}
    assert session.subscriptions == {"sub-1": StreamFilter(channels=["values"])}
    messages = out(session)
    assert messages[:3] == history[:3]
    assert messages[3] == CommandSuccess(
        id=1, result=reply.result, applied_through_seq=3, meta={"applied_through_seq": 3}
    )
    live = fill(log, 2) + fill(log, 1, "messages")
    assert out(session) == live[:2]
    assert session.applied_through_seq == 6
    assert log.sinks == 1


def test_subscribe_before_any_event() -> None:
    log = EventLog()
    session = ServerSession(log)
    reply = session.receive_command(cmd(1, "subscription.subscribe", {"channels": ["lifecycle"]}))
    assert reply.result == {"subscription_id": "sub-1", "replayed_events": 0}
    assert only_reply(session).applied_through_seq == 0


def test_overlapping_subscriptions_deliver_once() -> None:
    log = EventLog()
    session = ServerSession(log)
    session.receive_command(cmd(1, "subscription.subscribe", {"channels": ["values"]}))
    session.receive_command(
        cmd(2, "subscription.subscribe", {"channels": ["values"], "namespaces": [[]], "depth": 0})
    )
    out(session)
    events = fill(log, 2) + fill(log, 1, ns=("child:1",))
    assert out(session) == events


def test_replay_for_a_new_subscription_resends_history() -> None:
    """Each subscription gets its own history, even what the socket already had."""
    log = EventLog()
    session = ServerSession(log)
    session.receive_command(cmd(1, "subscription.subscribe", {"channels": ["values"]}))
    events = fill(log, 2)
    session.receive_command(cmd(2, "subscription.subscribe", {"channels": ["values"], "since": 1}))
    messages = out(session)
    assert messages[1:] == [*events, events[1], messages[-1]]
    assert messages[-1].result == {"subscription_id": "sub-2", "replayed_events": 1}
    assert messages[-1].applied_through_seq == 2


def test_route_cache_is_bounded() -> None:
    log = EventLog()
    session = ServerSession(log, max_queued_events=5000)
    session.receive_command(cmd(1, "subscription.subscribe", {"channels": ["values"]}))
    out(session)
    clock = Clock()
    for i in range(4100):
        log.append(Part("values", (f"n:{i}",), 1), timestamp=clock())
    assert len(session._routes) <= 4096
    assert len(out(session)) == 4100


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "channels is required and must be a non-empty array"),
        ({"channels": ["values", "debug"]}, "channels contains unsupported entries: debug."),
        ({"channels": ["custom:"]}, "channels contains unsupported entries: custom:."),
        ({"channels": ["values"], "since": -1}, "since must be a non-negative integer, got -1"),
        ({"channels": ["values"], "since": True}, "since must be a non-negative integer, got True"),
        ({"channels": ["values"], "since": 9}, "since=9 is ahead of the log"),
        ({"channels": ["values"], "depth": -1}, "depth must be a non-negative integer"),
    ],
)
def test_subscribe_invalid(params: Any, message: str) -> None:
    session = ServerSession(EventLog())
    reply = session.receive_command(cmd(1, "subscription.subscribe", params))
    assert reply.code == "invalid_argument"
    assert message in (reply.message or "")
    assert session.subscriptions == {}


def test_resume_gap() -> None:
    log = EventLog(buffer_size=4)
    fill(log, 10)
    session = ServerSession(log)
    for data in (
        cmd(1, "subscription.reconnect", {"channels": ["values"], "since": 2}),
        cmd(2, "subscription.subscribe", {"channels": ["values"], "since": 5}),
    ):
        reply = session.receive_command(data)
        assert reply.code == "resume_gap"
        wire = orjson.loads(reply.data)
        assert (wire["since"], wire["min_available_seq"]) == (
            orjson.loads(data)["params"]["since"],
            7,
        )
        assert "oldest event held is seq 7" in wire["message"]
    assert session.subscriptions == {}
    reply = session.receive_command(
        cmd(3, "subscription.reconnect", {"channels": ["values"], "since": 6})
    )
    assert reply.result == {"subscription_id": "sub-1", "replayed_events": 4}


def test_reconnect() -> None:
    log = EventLog()
    events = fill(log, 5)
    session = ServerSession(log)
    reply = session.receive_command(
        cmd(
            1,
            "subscription.reconnect",
            {"channels": ["values"], "since": 2, "subscription_id": "keep"},
        )
    )
    assert reply.result == {"subscription_id": "keep", "replayed_events": 3}
    assert out(session)[:3] == events[2:]
    # Reconnecting an existing id replaces its filter.
    reply = session.receive_command(
        cmd(
            2,
            "subscription.reconnect",
            {"channels": ["messages"], "since": 5, "subscription_id": "keep"},
        )
    )
    assert reply.result == {"subscription_id": "keep", "replayed_events": 0}
    assert session.subscriptions == {"keep": StreamFilter(channels=["messages"])}
    # A client-chosen id never collides with a generated one.
    session.receive_command(
        cmd(
            3,
            "subscription.reconnect",
            {"channels": ["values"], "since": 5, "subscription_id": "sub-1"},
        )
    )
    reply = session.receive_command(cmd(4, "subscription.subscribe", {"channels": ["values"]}))
    assert reply.result["subscription_id"] == "sub-2"
    reply = session.receive_command(cmd(5, "subscription.reconnect", {"channels": ["values"]}))
    assert (reply.code, reply.message) == (
        "invalid_argument",
        "subscription.reconnect: since is required (an integer >= 0)",
    )


def test_unsubscribe() -> None:
    log = EventLog()
    session = ServerSession(log)
    session.receive_command(cmd(1, "subscription.subscribe", {"channels": ["values"]}))
    session.receive_command(cmd(2, "subscription.subscribe", {"channels": ["messages"]}))
    assert (
        session.receive_command(
            cmd(3, "subscription.unsubscribe", {"subscription_id": "sub-1"})
        ).result
        == {}
    )
    assert log.sinks == 1
    reply = session.receive_command(
        cmd(4, "subscription.unsubscribe", {"subscription_id": "sub-1"})
    )
    assert (reply.code, reply.message) == ("no_such_subscription", "Unknown subscription: sub-1")
    out(session)
    fill(log, 1)
    assert out(session) == []
    session.receive_command(cmd(5, "subscription.unsubscribe", {"subscription_id": "sub-2"}))
    assert log.sinks == 0
    reply = session.receive_command(cmd(6, "subscription.unsubscribe", {}))
    assert reply.code == "invalid_argument"
    session.receive_command(cmd(7, "subscription.subscribe", {"channels": ["values"]}))
    assert log.sinks == 1


def test_subscription_limit() -> None:
    session = ServerSession(EventLog(), limits=Limits(max_subscriptions=2))
    for i in range(2):
        assert session.receive_command(
            cmd(i, "subscription.subscribe", {"channels": ["values"]})
        ).ok
    reply = session.receive_command(cmd(3, "subscription.subscribe", {"channels": ["values"]}))
    assert (reply.code, reply.message) == (
        "invalid_argument",
        "this connection already has 2 subscriptions (the limit is 2)",
    )
    # Replacing an existing subscription is not a new one.
    assert session.receive_command(
        cmd(
            4,
            "subscription.reconnect",
            {"channels": ["input"], "since": 0, "subscription_id": "sub-1"},
        )
    ).ok


def test_applied_through_seq_tracks_this_connection() -> None:
    log = EventLog()
    session = ServerSession(log)
    other = ServerSession(log)
    session.receive_command(cmd(1, "subscription.subscribe", {"channels": ["values"]}))
    other.receive_command(cmd(1, "subscription.subscribe", {"channels": ["messages"]}))
    fill(log, 3)
    fill(log, 2, "messages")
    reply = session.receive_command(cmd(2, "run.start", {"assistant_id": "a"}))
    assert orjson.loads(reply.data)["meta"] == {"applied_through_seq": 3}
    assert other.receive_command(cmd(2, "nope")).code == "unknown_command"
    messages = out(other)
    assert messages[-1].applied_through_seq == 5
    assert [m.seq for m in messages if isinstance(m, Event)] == [4, 5]
    # Every event at or below the watermark came before the reply.
    frames = out(session)
    assert [m.seq for m in frames[1:4]] == [1, 2, 3]
    assert frames[-1].applied_through_seq == 3


# -- transports ---------------------------------------------------------------------


def test_http_transport() -> None:
    log = EventLog()
    fill(log, 3)
    handler = RecordingHandler()
    session = ServerSession(log, handler, transport=Transport.HTTP)
    reply = session.receive_command(cmd(1, "run.start", {"assistant_id": "a"}))
    assert orjson.loads(session.data_to_send()[0])["meta"] == {"applied_through_seq": 0}
    assert reply.http_status == 200
    for method, params in (
        ("subscription.subscribe", {"channels": ["values"]}),
        ("subscription.reconnect", {"channels": ["values"], "since": 0}),
        ("subscription.unsubscribe", {"subscription_id": "x"}),
    ):
        reply = session.receive_command(cmd(2, method, params))
        assert reply.code == "not_supported"
        assert "needs a WebSocket" in (reply.message or "")
    assert log.sinks == 0
    assert not session.heartbeat()


def test_sse_transport() -> None:
    log = EventLog()
    events = fill(log, 3) + fill(log, 1, "messages")
    session = ServerSession(log, transport=Transport.SSE)
    wakes: list[int] = []
    session.on_ready = lambda: wakes.append(1)
    assert session.on_ready is not None
    replayed = session.open_stream(StreamRequest(filter=StreamFilter(channels=["values"]), since=1))
    assert replayed == 2
    live = fill(log, 1) + fill(log, 1, "messages")
    assert session.queued == 3
    body = b"".join(session.data_to_send())
    assert session.queued == 0
    assert sse_events([body]) == [*events[1:3], live[0]]
    assert wakes == [1]
    assert session.heartbeat()
    assert not session.heartbeat()  # not while something is waiting
    assert session.data_to_send() == [HEARTBEAT]
    with pytest.raises(LocalProtocolError, match="SSE session takes no commands"):
        session.receive_command(cmd(1, "run.start", {"assistant_id": "a"}))
    with pytest.raises(LocalProtocolError, match="called once"):
        session.open_stream(StreamRequest(filter=StreamFilter(channels=["values"]), since=None))
    session.close()
    assert session.closed and session.close_reason == "closed by the server"
    assert log.sinks == 0
    fill(log, 1)
    assert session.data_to_send() == []
    with pytest.raises(LocalProtocolError, match="called once"):
        session.open_stream(StreamRequest(filter=StreamFilter(channels=["values"]), since=None))


def test_sse_stream_errors() -> None:
    log = EventLog(buffer_size=2)
    fill(log, 5)
    request = StreamRequest(filter=StreamFilter(channels=["values"]), since=1)
    with pytest.raises(StreamRequestError) as info:
        ServerSession(log, transport=Transport.SSE).open_stream(request)
    error = info.value
    assert (error.status, error.hint) == (410, "resume_gap")
    assert orjson.loads(error.body) == {
        "detail": error.detail,
        "error": "resume_gap",
        "since": 1,
        "min_available_seq": 4,
    }
    ahead = StreamRequest(filter=StreamFilter(channels=["values"]), since=6)
    with pytest.raises(StreamRequestError) as info:
        ServerSession(log, transport=Transport.SSE).open_stream(ahead)
    assert info.value.status == 400
    assert "ahead" in info.value.detail
    with pytest.raises(LocalProtocolError, match="for SSE sessions"):
        ServerSession(log).open_stream(request)


def test_transport_must_be_a_transport() -> None:
    with pytest.raises(LocalProtocolError, match="Transport"):
        ServerSession(EventLog(), transport="websocket")  # type: ignore[arg-type]


def test_closed_session_refuses_commands() -> None:
    log = EventLog()
    session = ServerSession(log)
    session.receive_command(cmd(1, "subscription.subscribe", {"channels": ["values"]}))
    session.close("bye")
    assert (session.closed, session.close_reason, session.close_code) == (True, "bye", None)
    assert log.sinks == 0
    with pytest.raises(LocalProtocolError, match="closed"):
        session.receive_command(cmd(2, "run.start", {"assistant_id": "a"}))


# -- overflow ----------------------------------------------------------------------


def test_slow_websocket_subscriber_is_cut_off() -> None:
    log = EventLog()
    slow = ServerSession(log, max_queued_events=3)
    fast = ServerSession(log)
    for s in (slow, fast):
        s.receive_command(cmd(1, "subscription.subscribe", {"channels": ["values"]}))
        s.data_to_send()
    first = fill(log, 2)
    assert out(slow) == first
    assert slow.resume_since == 2
    rest = fill(log, 10)
    assert slow.closed and slow.fell_behind
    assert slow.close_code == WS_CLOSE_FELL_BEHIND
    assert "resume with since=2" in (slow.close_reason or "")
    assert slow.data_to_send() == []
    assert log.sinks == 1
    assert out(fast) == first + rest
    # The cut-off client resumes on a new connection and gets exactly the rest.
    again = ServerSession(log)
    reply = again.receive_command(
        cmd(1, "subscription.reconnect", {"channels": ["values"], "since": slow.resume_since})
    )
    assert reply.result["replayed_events"] == 10
    assert out(again)[:-1] == rest


def test_slow_sse_subscriber_gets_a_notice() -> None:
    log = EventLog()
    session = ServerSession(log, transport=Transport.SSE, max_queued_events=2)
    session.open_stream(StreamRequest(filter=StreamFilter(channels=["values"]), since=None))
    fill(log, 5)
    items = sse_items(session.data_to_send())
    assert len(items) == 1 and isinstance(items[0], SSEComment)
    assert items[0].text.startswith("closed: subscriber fell behind")
    assert session.close_code == WS_CLOSE_FELL_BEHIND


def test_overflow_during_a_replay() -> None:
    log = EventLog()
    fill(log, 5)
    session = ServerSession(log, max_replay_events=3)
    reply = session.receive_command(cmd(1, "subscription.subscribe", {"channels": ["values"]}))
    assert reply.ok  # answered, but the connection is being cut off: nothing more is written
    assert session.closed and session.fell_behind
    assert session.data_to_send() == []
    assert log.sinks == 0


def test_overflow_by_a_reply() -> None:
    log = EventLog()
    session = ServerSession(log, max_queued_events=2)
    session.receive_command(cmd(1, "subscription.subscribe", {"channels": ["values"]}))
    session.data_to_send()
    fill(log, 2)
    reply = session.receive_command(cmd(2, "nope"))
    assert reply.code == "unknown_command"
    assert session.closed and log.sinks == 0


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["append", "take"]), st.integers(0, 2), st.integers(1, 6)),
        max_size=60,
    ),
    st.lists(st.integers(1, 8), min_size=3, max_size=3),
)
def test_slow_subscriber_property(
    script: list[tuple[str, int, int]], capacities: list[int]
) -> None:
    """Random append/take patterns: a subscriber is cut off exactly when more than its
    capacity waits; the others get every event; a cut-off one resumes exactly."""
    log = EventLog()
    sessions = [ServerSession(log, max_queued_events=c) for c in capacities]
    received: list[list[Event]] = [[] for _ in sessions]
    for s in sessions:
        s.receive_command(cmd(1, "subscription.subscribe", {"channels": ["values"]}))
        s.data_to_send()
    produced: list[Event] = []
    waiting = [0, 0, 0]
    for action, who, count in script:
        if action == "append":
            for _ in range(count):
                produced.extend(fill(log, 1))
                for i, s in enumerate(sessions):
                    if not s.closed:
                        waiting[i] += 1
                        assert s.closed == (waiting[i] > capacities[i])
        else:
            received[who].extend(out(sessions[who]))
            waiting[who] = 0
    for i, s in enumerate(sessions):
        if not s.closed:
            received[i].extend(out(s))
            assert received[i] == produced
        else:
            assert received[i] == produced[: len(received[i])]
            assert s.resume_since == (received[i][-1].seq if received[i] else 0)
            resumed = ServerSession(log)
            resumed.receive_command(
                cmd(1, "subscription.reconnect", {"channels": ["values"], "since": s.resume_since})
            )
            assert received[i] + out(resumed)[:-1] == produced


def test_no_such_run_from_a_producer_backed_handler() -> None:
    from threadwire.protocol.producer import RunProducer

    class TreeHandler(RecordingHandler):
        def __init__(self, producer: RunProducer) -> None:
            super().__init__()
            self.producer = producer

        def get_tree(self, command: AgentGetTree) -> dict[str, Any]:
            return self.producer.tree()

    log = EventLog()
    session = ServerSession(log, TreeHandler(RunProducer(log)))
    reply = session.receive_command(cmd(1, "agent.getTree", {}))
    assert (reply.code, reply.message) == ("no_such_run", "No run has started on this thread.")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
_KEYS = [
    "assistant_id",
    "input",
    "config",
    "metadata",
    "multitaskStrategy",
    "interrupt_id",
    "namespace",
    "response",
    "responses",
    "update",
    "goto",
    "channels",
    "namespaces",
    "depth",
    "since",
    "subscription_id",
    "run_id",
    "keys",
    "limit",
    "before",
    "checkpoint_id",
    "message",
]
_METHODS = [
    "run.start",
    "input.respond",
    "input.inject",
    "agent.getTree",
    "state.get",
    "state.listCheckpoints",
    "state.fork",
    "subscription.subscribe",
    "subscription.unsubscribe",
    "subscription.reconnect",
    "nope",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.integers(-2, 5) | _JSON,
                st.sampled_from(_METHODS),
                st.dictionaries(st.sampled_from(_KEYS), _JSON, max_size=4) | _JSON,
            ),
            st.binary(max_size=20),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([Transport.WEBSOCKET, Transport.HTTP]),
)
def test_no_input_breaks_the_session(commands: list[Any], transport: Transport) -> None:
    """Whatever arrives, every command gets exactly one reply and the session goes on."""
    log = EventLog(buffer_size=3)
    fill(log, 5)
    session = ServerSession(log, RecordingHandler(), transport=transport)
    for item in commands:
        if isinstance(item, bytes):
            data = item
        else:
            command_id, method, params = item
            data = orjson.dumps({"id": command_id, "method": method, "params": params})
        reply = session.receive_command(data)
        frames = session.data_to_send()
        messages = ws_messages(frames)
        assert messages[-1] == ws_messages([reply.data])[0]
        assert all(isinstance(m, Event) for m in messages[:-1])
        assert reply.ok or reply.code in {
            "invalid_argument",
            "unknown_command",
            "resume_gap",
            "not_supported",
            "no_such_subscription",
        }
    assert session.receive_command(cmd(99, "run.start", {"assistant_id": "a"})).ok


def test_a_truncated_history_is_never_silent() -> None:
    log = EventLog(buffer_size=3)
    events = fill(log, 5)
    session = ServerSession(log)
    reply = session.receive_command(cmd(1, "subscription.subscribe", {"channels": ["values"]}))
    assert reply.result == {
        "subscription_id": "sub-1",
        "replayed_events": 3,
        "min_available_seq": 3,
    }
    sse = ServerSession(log, transport=Transport.SSE)
    sse.open_stream(StreamRequest(filter=StreamFilter(channels=["values"]), since=None))
    items = sse_items(sse.data_to_send())
    assert items == [
        SSEComment("replay starts at seq 3: older events are no longer held"),
        *events[2:],
    ]
    # An explicit since that is still covered replays without the hint.
    again = ServerSession(log, transport=Transport.SSE)
    again.open_stream(StreamRequest(filter=StreamFilter(channels=["values"]), since=2))
    assert sse_events(again.data_to_send()) == events[2:]
