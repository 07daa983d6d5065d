"""ClientSession: commands and replies, subscriptions, dedup and the resume cursor.

Charter:

* Commands get ids counting from ``first_command_id``, are encoded exactly, stay
  pending until answered or given up (``send_failed``), and are bounded by
  ``max_pending_commands``. A reply is correlated by id; an error reply fails only its
  own command (a CommandError carrying code, message, method, id and extra fields such
  as ``resume_gap``'s ``since``/``min_available_seq``); a reply to an id that is not
  pending is the peer's fault (RemoteProtocolError); an unsolicited error frame
  (``id: null``) is reported without touching the pending table. ``applied_through_seq``
  is the highest watermark of any reply and ``caught_up`` compares it with the stream.
* Events go to the subscriptions whose filter matches, each event once: repeated seqs
  (a WebSocket replay re-sends events, PROTOCOL.md 12.4) and repeated ids of events
  without seq are dropped, within a bounded window.
* The resume cursor: ``stream_request().since`` is the last seq minus one, so the
  resumed stream starts on an anchor the session already has, which is dropped when
  it lines up. When it does not (another event at that seq, or the anchor missing),
  ReplayMismatch is raised, the next request is a full replay, known events are
  dropped and unknown ones delivered, and the stream's numbering is adopted at the last
  known event. A window that no longer covers the replay gives ReplayDiverged.
* A subscription added later with ``history=True`` gets a replay the other
  subscriptions do not see twice, even while the old stream keeps delivering until
  the new one is open; ``history=False`` gets only what comes after it. The stream
  filter always carries lifecycle and input and is never narrowed.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from session_helpers import Driver, ev, input_requested, lifecycle, load_capture

from threadwire.protocol import (
    AgentGetTree,
    AgentTreeNode,
    ClientSession,
    CommandError,
    CommandFailure,
    CommandOutcome,
    CommandSuccess,
    Event,
    InputRespond,
    Limits,
    LocalProtocolError,
    OutgoingCommand,
    RemoteProtocolError,
    ReplayDiverged,
    ReplayMismatch,
    RunStart,
    RunStartResult,
    StreamFilter,
    StreamRequest,
    SubscribeResult,
    Subscription,
    SubscriptionReconnect,
    SubscriptionSubscribe,
    decode_message,
)


def F(
    channels: Any = ("values",), namespaces: Any = None, depth: int | None = None
) -> StreamFilter:
    return StreamFilter(channels=channels, namespaces=namespaces, depth=depth)


def reply(raw: dict[str, Any]) -> CommandSuccess | CommandFailure:
    message = decode_message(json.dumps(raw))
    assert isinstance(message, CommandSuccess | CommandFailure)
    return message


def ids(targets: tuple[Subscription, ...]) -> list[int]:
    return [s.id for s in targets]


def opened(
    *filters: StreamFilter, limits: Limits | None = None
) -> tuple[ClientSession, list[Subscription]]:
    """A session with live subscriptions and the stream they asked for open."""
    session = ClientSession(limits=limits) if limits else ClientSession()
    subs = [session.subscribe(f) for f in filters]
    session.stream_opened(session.stream_request())
    return session, subs


def values(*seqs: int, prefix: str = "e") -> list[Event]:
    return [ev("values", {"n": s}, seq=s, event_id=f"{prefix}{s}") for s in seqs]


START = RunStart(assistant_id="agent", input={"topic": "dogs"})


# -- commands ------------------------------------------------------------------------------


@pytest.mark.parametrize("first", [1, 0, 10])
def test_command_ids_count_from_first_command_id(first: int) -> None:
    session = ClientSession(first_command_id=first)
    outs = [session.send(START), session.send(AgentGetTree()), session.send(START)]
    assert [o.id for o in outs] == [first, first + 1, first + 2]
    assert outs[1] == OutgoingCommand(
        id=first + 1,
        command=AgentGetTree(),
        data=b'{"id":%d,"method":"agent.getTree","params":{}}' % (first + 1),
    )


def test_command_bytes_are_the_wire_envelope() -> None:
    out = ClientSession().send(START)
    assert out.data == (
        b'{"id":1,"method":"run.start","params":{"assistant_id":"agent","input":{"topic":"dogs"}}}'
    )
    out = ClientSession().send(
        SubscriptionReconnect(channels=["lifecycle"], since=2, namespaces=[[]], depth=0)
    )
    assert json.loads(out.data) == {
        "id": 1,
        "method": "subscription.reconnect",
        "params": {"channels": ["lifecycle"], "namespaces": [[]], "depth": 0, "since": 2},
    }


def test_pending_table() -> None:
    session = ClientSession()
    a = session.send(START)
    b = session.send(AgentGetTree())
    pending = session.pending_commands
    assert dict(pending) == {a.id: START, b.id: AgentGetTree()}
    pending.clear()  # type: ignore[attr-defined]  # a copy: the session's table is untouched
    assert len(session.pending_commands) == 2
    session.receive_reply(CommandSuccess(id=b.id, result={"tree": {"status": "completed"}}))
    assert dict(session.pending_commands) == {a.id: START}


def test_max_pending_commands() -> None:
    session = ClientSession(limits=Limits(max_pending_commands=2))
    first = session.send(START)
    session.send(START)
    with pytest.raises(LocalProtocolError) as info:
        session.send(START)
    assert str(info.value) == "2 commands are already waiting for a reply (max_pending_commands=2)"
    # the refused command took no id, and a reply frees a slot
    session.receive_reply(CommandSuccess(id=first.id, result={"run_id": "r"}))
    assert session.send(START).id == 3


def test_send_refuses_what_is_not_a_command() -> None:
    with pytest.raises(LocalProtocolError, match="not a command"):
        ClientSession().send({"method": "run.start"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("command", "result", "typed"),
    [
        (START, {"run_id": "r1"}, RunStartResult(run_id="r1")),
        (
            SubscriptionSubscribe(channels=["values"]),
            {"subscription_id": "s1", "replayed_events": 0},
            SubscribeResult(subscription_id="s1", replayed_events=0),
        ),
        (
            AgentGetTree(),
            {"tree": {"namespace": [], "status": "completed", "graph_name": "agent"}},
            AgentTreeNode(namespace=(), status="completed", graph_name="agent"),
        ),
    ],
)
def test_success_reply_gives_the_typed_result(command: Any, result: Any, typed: Any) -> None:
    session = ClientSession()
    out = session.send(command)
    outcome = session.receive_reply(
        reply(
            {"type": "success", "id": out.id, "result": result, "meta": {"applied_through_seq": 0}}
        )
    )
    assert outcome == CommandOutcome(
        id=out.id, command=command, result=typed, applied_through_seq=0
    )
    assert outcome.ok
    assert session.pending_commands == {}


def test_replies_are_correlated_in_any_order() -> None:
    session = ClientSession()
    a, b, c = (session.send(RunStart(assistant_id=f"a{n}")) for n in range(3))
    for out, run_id in [(c, "rc"), (a, "ra"), (b, "rb")]:
        outcome = session.receive_reply(CommandSuccess(id=out.id, result={"run_id": run_id}))
        assert outcome.command == out.command
        assert outcome.result == RunStartResult(run_id=run_id)


def test_an_error_reply_fails_only_its_own_command() -> None:
    session = ClientSession()
    good = session.send(START)
    bad = session.send(InputRespond(interrupt_id="deadbeef", response="yes"))
    outcome = session.receive_reply(
        reply(
            {
                "type": "error",
                "id": bad.id,
                "error": "no_such_interrupt",
                "message": "Unknown or already-consumed interrupt: deadbeef",
            }
        )
    )
    assert not outcome.ok
    assert outcome.id == bad.id
    assert outcome.command == bad.command
    assert outcome.result is None
    error = outcome.error
    assert isinstance(error, CommandError)
    assert (error.code, error.message, error.method, error.command_id) == (
        "no_such_interrupt",
        "Unknown or already-consumed interrupt: deadbeef",
        "input.respond",
        bad.id,
    )
    assert error.extra == {}
    assert str(error) == (
        "input.respond (id 2) failed with no_such_interrupt: "
        "Unknown or already-consumed interrupt: deadbeef"
    )
    # the other command is still pending and still answerable
    assert list(session.pending_commands) == [good.id]
    assert session.receive_reply(CommandSuccess(id=good.id, result={"run_id": "r"})).ok


def test_resume_gap_extra_fields() -> None:
    session = ClientSession()
    out = session.send(SubscriptionReconnect(channels=["lifecycle"], since=2))
    outcome = session.receive_reply(
        reply(
            {
                "type": "error",
                "id": out.id,
                "error": "resume_gap",
                "message": "since is older than the buffer",
                "since": 2,
                "min_available_seq": 10,
                "meta": {"applied_through_seq": 12},
            }
        )
    )
    assert outcome.error is not None
    assert outcome.error.code == "resume_gap"
    assert outcome.error.method == "subscription.reconnect"
    assert outcome.error.extra == {"since": 2, "min_available_seq": 10}
    assert outcome.error.applied_through_seq == 12
    assert outcome.applied_through_seq == 12
    assert session.applied_through_seq == 12


@pytest.mark.parametrize("answered", [False, True], ids=["never-sent", "already-answered"])
def test_reply_to_an_id_that_is_not_pending(answered: bool) -> None:
    session = ClientSession()
    out = session.send(START)
    if answered:
        session.receive_reply(CommandSuccess(id=out.id, result={"run_id": "r"}))
        bad_id = out.id
    else:
        bad_id = 99
    for message in (
        CommandSuccess(id=bad_id, result={}),
        CommandFailure(id=bad_id, code="unknown_error", message="x"),
    ):
        with pytest.raises(RemoteProtocolError) as info:
            session.receive_reply(message)
        assert str(info.value) == f"reply to command id {bad_id}, which is not pending"


@pytest.mark.parametrize(
    "raw",
    [
        {
            "type": "error",
            "id": None,
            "error": "invalid_argument",
            "message": "Protocol commands must be valid JSON.",
        },
        # the server echoes a malformed command's string id; it cannot be correlated
        {"type": "error", "id": "x", "error": "invalid_argument", "message": "bad id"},
    ],
)
def test_unsolicited_error_frame(raw: dict[str, Any]) -> None:
    session = ClientSession()
    out = session.send(START)
    outcome = session.receive_reply(reply(raw))
    assert outcome.id is None
    assert outcome.command is None
    assert outcome.error is not None
    assert outcome.error.code == "invalid_argument"
    assert outcome.error.method is None
    assert outcome.error.command_id is None
    assert str(outcome.error).startswith("command id None failed with invalid_argument")
    assert list(session.pending_commands) == [out.id]


def test_send_failed() -> None:
    session = ClientSession()
    out = session.send(START)
    assert session.send_failed(out.id) is START
    assert session.pending_commands == {}
    with pytest.raises(LocalProtocolError, match=f"command id {out.id} is not pending"):
        session.send_failed(out.id)
    # a late reply to a command given up is the peer's problem, and is reported
    with pytest.raises(RemoteProtocolError, match="not pending"):
        session.receive_reply(CommandSuccess(id=out.id, result={"run_id": "r"}))
    # ids are not reused
    assert session.send(START).id == out.id + 1


def test_malformed_result_is_a_remote_error() -> None:
    session = ClientSession()
    out = session.send(START)
    with pytest.raises(RemoteProtocolError, match=r"run\.start result must be an object"):
        session.receive_reply(CommandSuccess(id=out.id, result=["not", "an", "object"]))


def test_applied_through_seq_is_the_highest_watermark() -> None:
    session = ClientSession()
    outs = [session.send(START) for _ in range(5)]
    assert session.applied_through_seq == 0
    marks = [5, 3, None, 7]
    for out, mark in zip(outs, marks, strict=False):
        session.receive_reply(
            CommandSuccess(id=out.id, result={"run_id": "r"}, applied_through_seq=mark)
        )
    assert session.applied_through_seq == 7
    session.receive_reply(
        CommandFailure(id=outs[4].id, code="x", message="y", applied_through_seq=9)
    )
    assert session.applied_through_seq == 9


def test_caught_up() -> None:
    session, _ = opened(F())
    assert session.caught_up(None)
    assert session.caught_up(0)  # what HTTP commands always say
    assert not session.caught_up(3)
    for event in values(1, 2, 3):
        session.receive_event(event)
    assert session.caught_up(3)
    assert not session.caught_up(4)


def test_websocket_barrier_from_a_real_exchange() -> None:
    """PROTOCOL.md 12.4: agent.getTree answered applied_through_seq 5 after events 1..5."""
    session, _ = opened(F(["lifecycle", "values", "input"], [[]], 0))
    out = session.send(AgentGetTree())
    answer = reply(
        {
            "type": "success",
            "id": out.id,
            "result": {"tree": {"namespace": [], "status": "completed", "graph_name": "agent"}},
            "meta": {"applied_through_seq": 5},
        }
    )
    for event in values(1, 2, 3, 4):
        session.receive_event(event)
    outcome = session.receive_reply(answer)
    assert not session.caught_up(outcome.applied_through_seq)
    session.receive_event(lifecycle("completed", seq=5))
    assert session.caught_up(outcome.applied_through_seq)


def test_input_respond_success_marks_the_interrupt_resumed() -> None:
    session, _ = opened(F())
    session.receive_event(lifecycle("running", seq=1))
    session.receive_event(input_requested("i1", {"q": 1}, seq=2))
    session.receive_event(lifecycle("interrupted", seq=3))
    out = session.send(session.respond("yes"))
    assert session.runs.interrupted  # not before the reply
    outcome = session.receive_reply(CommandSuccess(id=out.id, result={}))
    assert outcome.result == {}
    assert not session.runs.interrupted
    assert session.runs.interrupts[0].status == "resumed"


# -- routing and dedup ---------------------------------------------------------------------


def test_events_go_to_the_subscriptions_that_match() -> None:
    session, (vals, msgs, child, everything) = opened(
        F(["values"]),
        F(["messages"], [[]], 0),
        F(["values", "messages"], [["child"]]),
        F(["custom"]),
    )
    cases = [
        (ev("values", seq=1), [vals.id]),
        (ev("messages", seq=2), [msgs.id]),
        (ev("messages", seq=3, ns=["child:1"]), [child.id]),
        (ev("values", seq=4, ns=["child:1", "x:2"]), [vals.id, child.id]),
        (ev("custom", {"name": "progress"}, seq=5), [everything.id]),
        (ev("updates", seq=6), []),
        (ev("values", seq=7), [vals.id]),  # from the route cache
        (ev("messages", seq=8, ns=["child:1"]), [child.id]),
    ]
    for event, expected in cases:
        assert ids(session.receive_event(event)) == expected


def test_routes_follow_subscribe_and_unsubscribe() -> None:
    session, (a,) = opened(F(["values"]))
    assert ids(session.receive_event(ev("values", seq=1))) == [a.id]
    b = session.subscribe(F(["values"]), history=False)
    assert b.live
    assert ids(session.receive_event(ev("values", seq=2))) == [a.id, b.id]
    assert ids(session.receive_event(ev("values", seq=3, ns=["c:1"]))) == [a.id, b.id]
    session.unsubscribe(a)
    assert not a.active
    assert ids(session.receive_event(ev("values", seq=4))) == [b.id]
    assert ids(session.receive_event(ev("values", seq=5, ns=["c:1"]))) == [b.id]
    session.unsubscribe(a)  # again: nothing happens
    assert session.subscriptions == (b,)


def test_subscription_matches() -> None:
    sub = Subscription(id=1, filter=F(["input"], [["child"]]))
    assert sub.matches(input_requested("i", seq=1, ns=["child:1"]))
    assert not sub.matches(input_requested("i", seq=1))


def test_repeated_seq_is_dropped() -> None:
    """A WebSocket subscribe replay re-sends events the socket already received (12.4)."""
    session, (a,) = opened(F(["values", "lifecycle"]))
    events = [lifecycle("running", seq=1), *values(2, 3, 4), lifecycle("completed", seq=5)]
    for event in events:
        assert ids(session.receive_event(event)) == [a.id]
    for event in [events[4], events[1], events[0], events[4]]:
        assert session.receive_event(event) == ()
    assert session.last_seq == 5
    assert [r.status for r in session.runs.runs] == ["completed"]


def test_receive_events_matches_one_by_one() -> None:
    batch: list[object] = [*values(1, 2), ev("updates", seq=3), "a heartbeat", *values(2, 4)]
    session, (a,) = opened(F(["values"]))
    out = session.receive_events(batch)
    assert [None if t is None else ids(t) for t in out] == [[a.id], [a.id], [], None, [], [a.id]]
    # the same batch again, after the first event: only what is new is delivered
    again, (b,) = opened(F(["values"]))
    again.receive_event(values(1)[0])
    assert [None if t is None else ids(t) for t in again.receive_events(batch)] == [
        [],
        [b.id],
        [],
        None,
        [],
        [b.id],
    ]
    assert again.last_seq == session.last_seq == 4


@pytest.mark.parametrize("window", [10, 100, 10_000])
@pytest.mark.parametrize("method", ["values", "updates"])  # run state or not: two paths
def test_window_grows_with_the_stream_and_stays_bounded(window: int, method: str) -> None:
    """The window starts small, grows as the stream gets longer, never past its size,
    and still spots a replayed seq that carries another event."""
    one, _ = opened(F([method]), limits=Limits(dedup_window=window))
    many, _ = opened(F([method]), limits=Limits(dedup_window=window))
    events = [ev(method, seq=seq) for seq in range(1, 1001)]
    for event in events:
        one.receive_event(event)
    many.receive_event(events[0])
    many.receive_events(events[1:])
    for session in (one, many):
        assert session._cap <= window  # private, checked on purpose
        assert len(session._window_items()) == min(window, 1000)
        assert session._seen(1000) == (events[-1].event_id, method)
        with pytest.raises(ReplayMismatch):
            session.receive_event(ev(method, seq=1000, event_id="another"))


def test_route_events_groups_runs_of_events_with_the_same_targets() -> None:
    session, (a, b) = opened(F(["updates", "values"]), F(["messages"]))
    first = ev("updates", seq=1)
    session.receive_event(first)
    reply = CommandSuccess(id=1, result={})
    batch: list[object] = [
        first,  # known: dropped, and dropped ones group together
        first,
        *[ev("messages", seq=n) for n in (2, 3, 4)],
        *[ev("updates", seq=n) for n in (5, 6)],
        ev("values", seq=7),  # run state: alone
        ev("updates", seq=8),
        reply,
        "a heartbeat",
        ev("updates", seq=9),
        ev("updates", seq=10),
    ]
    seen: list[tuple[list[int] | None, list[Any]]] = []
    for targets, group in session.route_events(batch):
        # Lazy: a run-state event is taken after the groups before it were handed out.
        taken = batch.index(group[0]) >= 7
        assert session.runs.last_values == (batch[7].data if taken else None)
        seen.append((None if targets is None else ids(targets), group))
    assert (
        seen
        == [
            ([], batch[0:1]),  # the slow path (a known event) comes alone
            ([], batch[1:2]),
            ([b.id], batch[2:5]),
            ([a.id], batch[5:7]),
            ([a.id], batch[7:8]),
            ([a.id], batch[8:9]),
            (None, [reply]),
            (None, ["a heartbeat"]),
            ([a.id], batch[11:13]),
        ]
    )


def test_route_events_raises_a_mismatch_after_the_groups_before_it() -> None:
    session, (a,) = opened(F(["updates"]))
    session.receive_events([ev("updates", seq=n) for n in (1, 2)])
    groups = session.route_events(
        [
            ev("updates", seq=3),
            ev("updates", seq=4),
            ev("updates", seq=2, event_id="another"),
            ev("updates", seq=5),
        ]
    )
    assert next(groups) == ((a,), [ev("updates", seq=3), ev("updates", seq=4)])
    with pytest.raises(ReplayMismatch):
        next(groups)
    assert session.last_seq == 4


@given(st.lists(st.integers(min_value=1, max_value=30), max_size=40), st.integers(0, 5))
def test_receive_events_property(seqs: list[int], split: int) -> None:
    """Any batching gives the same targets and state as one call per event."""
    methods = ["lifecycle", "values", "updates", "messages", "messages"]
    events = [
        ev(
            methods[s % 5],
            {"event": "running"} if s % 5 == 0 else {},
            seq=s,
            event_id=f"e{s}",
        )
        for s in seqs
    ]
    one, _ = opened(F(["values", "messages"]), F(["messages"], [["child"]]))
    many, _ = opened(F(["values", "messages"]), F(["messages"], [["child"]]))
    expected = []
    for event in events:
        try:
            expected.append([sub.id for sub in one.receive_event(event)])
        except RemoteProtocolError:
            return  # an illegal lifecycle sequence: not this property's concern
    got: list[list[int]] = []
    for start in range(0, len(events), split + 1):
        batch = events[start : start + split + 1]
        got += [[sub.id for sub in t or ()] for t in many.receive_events(batch)]
    assert got == expected and many.last_seq == one.last_seq


def test_events_without_seq_are_deduped_by_event_id() -> None:
    session, (a,) = opened(F(["values", "lifecycle"]))
    first = ev("values", {"n": 1}, event_id="x1")
    assert ids(session.receive_event(first)) == [a.id]
    assert session.receive_event(first) == ()
    assert ids(session.receive_event(ev("values", {"n": 2}, event_id="x2"))) == [a.id]
    # no id at all: nothing to dedup by, every copy is delivered
    anonymous = ev("values", {"n": 3})
    assert anonymous.event_id is None
    assert ids(session.receive_event(anonymous)) == [a.id]
    assert ids(session.receive_event(anonymous)) == [a.id]
    # tracked methods still reach the run tracker; the cursor does not move
    session.receive_event(lifecycle("running", seq=None, run="r1"))
    assert session.runs.current is not None
    assert session.last_seq == 0


def test_the_id_window_for_events_without_seq_is_bounded() -> None:
    session, (a,) = opened(F(["values"]), limits=Limits(dedup_window=3))
    events = [ev("values", {"n": n}, event_id=f"x{n}") for n in range(10)]
    for event in events:
        assert ids(session.receive_event(event)) == [a.id]
    assert len(session._ids) == 3  # memory stays bounded (private, checked on purpose)
    assert session.receive_event(events[-1]) == ()
    # the oldest ids were forgotten: such a repeat is delivered again
    assert ids(session.receive_event(events[0])) == [a.id]


@pytest.mark.parametrize("window", [1, 4, 100])
def test_the_seq_window_is_bounded(window: int) -> None:
    session, (a,) = opened(F(["values"]), limits=Limits(dedup_window=window))
    for event in values(*range(1, 51)):
        assert ids(session.receive_event(event)) == [a.id]
    assert len(session._window_items()) == min(window, 50)  # private, checked on purpose
    # a repeat is dropped even when it fell out of the window: the cursor is past it
    assert session.receive_event(values(1)[0]) == ()
    assert session.receive_event(values(50)[0]) == ()


def test_max_subscriptions() -> None:
    session = ClientSession(limits=Limits(max_subscriptions=2))
    session.subscribe(F())
    session.subscribe(F())
    with pytest.raises(LocalProtocolError, match="2 subscriptions already"):
        session.subscribe(F())


# -- the stream filter and reopening --------------------------------------------------------


def test_the_first_stream_request() -> None:
    session = ClientSession()
    assert session.needs_reopen()
    assert session.wanted_filter() == F(["lifecycle", "input"])
    request = session.stream_request()
    assert request == StreamRequest(filter=F(["lifecycle", "input"]), since=None)
    assert request.to_json() == {"channels": ["input", "lifecycle"]}
    session.subscribe(F(["messages"], [[]], 0))
    request = session.stream_request()
    # the session's own channels are wanted in every namespace (interrupts in subgraphs)
    assert request.filter == F(["lifecycle", "input", "messages"])
    session.stream_opened(request)
    assert session.stream_filter == request.filter
    assert not session.needs_reopen()


def test_a_covered_subscription_needs_no_reopen() -> None:
    session, _ = opened(F(["values", "messages"]))
    session.subscribe(F(["values"], [["child"]], 1), history=False)
    session.subscribe(F(["input"]), history=False)
    assert not session.needs_reopen()


def test_a_wider_subscription_needs_a_reopen() -> None:
    session, _ = opened(F(["values"]))
    for event in values(1, 2):
        session.receive_event(event)
    session.subscribe(F(["messages"]), history=False)
    assert session.needs_reopen()
    request = session.stream_request()
    assert request.filter == F(["lifecycle", "input", "values", "messages"])
    assert request.since == 1
    session.stream_opened(request)
    session.receive_event(values(2)[0])  # the anchor
    assert not session.needs_reopen()


def test_the_stream_is_never_narrowed() -> None:
    session, (vals, msgs) = opened(F(["values"]), F(["messages"]))
    wide = session.stream_filter
    session.unsubscribe(msgs)
    session.unsubscribe(vals)
    assert session.wanted_filter() == wide
    assert not session.needs_reopen()
    assert session.stream_request().filter == wide


def test_stream_request_json() -> None:
    session, _ = opened(F(["values"]))
    for event in values(1, 2, 3):
        session.receive_event(event)
    assert session.stream_request().to_json() == {
        "channels": ["input", "lifecycle", "values"],
        "since": 2,
    }


# -- resume --------------------------------------------------------------------------------


def test_resume_starts_on_an_anchor_that_is_dropped() -> None:
    session, (a,) = opened(F(["values"]))
    for event in values(1, 2, 3, 4, 5):
        session.receive_event(event)
    request = session.stream_request()
    assert request.since == 4
    session.stream_opened(request)
    assert session.receive_event(values(5)[0]) == ()  # the anchor lines up
    assert ids(session.receive_event(values(6)[0])) == [a.id]
    assert session.last_seq == 6
    assert session.stream_request().since == 5


def test_resume_after_a_single_event_asks_from_zero() -> None:
    session, (a,) = opened(F(["values"]))
    session.receive_event(values(1)[0])
    request = session.stream_request()
    assert request.since == 0
    assert request.to_json()["since"] == 0
    session.stream_opened(request)
    assert session.receive_event(values(1)[0]) == ()
    assert ids(session.receive_event(values(2)[0])) == [a.id]


def test_resume_from_the_real_server_replay_since() -> None:
    """hitl: a stream resumed with since 8 replays 9..15 and the numbering lines up."""
    live = load_capture("hitl.sse.raw")
    replayed = load_capture("hitl.replay_since8.sse.raw")
    assert [e.seq for e in replayed] == list(range(9, 16))
    session, _ = opened(F(["values", "updates", "lifecycle", "input"]))
    for event in live[:9]:
        session.receive_event(event)
    request = session.stream_request()
    assert request.since == 8
    session.stream_opened(request)
    # the capture asked for since 8, one earlier than our anchor: 9 is the anchor
    got = [e.seq for e in replayed if session.receive_event(e)]
    assert got == list(range(10, 16))
    assert [(r.status, r.ended_seq) for r in session.runs.runs] == [
        ("interrupted", 7),
        ("completed", 15),
    ]


def test_anchor_with_another_event_id_is_a_mismatch() -> None:
    session, _ = opened(F(["values"]))
    for event in values(1, 2, 3):
        session.receive_event(event)
    session.stream_opened(session.stream_request())
    with pytest.raises(ReplayMismatch) as info:
        session.receive_event(ev("values", seq=3, event_id="other"))
    assert (info.value.seq, info.value.expected, info.value.received) == (3, "e3", "other")
    assert "stream_request() now asks for one" in str(info.value)
    assert isinstance(info.value, RemoteProtocolError)
    assert session.stream_request().since is None
    assert session.needs_reopen()


def test_anchor_with_the_same_id_on_another_channel_is_a_mismatch() -> None:
    """Appendix B.4: after a live-only named custom event, the replay gives its event id
    to the next plain custom event at the same seq. The anchor must not accept it."""
    session, _ = opened(F(["custom"]))
    session.receive_event(ev("custom", {"payload": 1}, seq=3, event_id="t-0"))
    session.receive_event(ev("custom", {"name": "progress", "payload": 2}, seq=4, event_id="t-0.1"))
    session.stream_opened(session.stream_request())
    with pytest.raises(ReplayMismatch) as info:
        session.receive_event(ev("custom", {"payload": 3}, seq=4, event_id="t-0.1"))
    assert (info.value.seq, info.value.expected, info.value.received) == (4, "t-0.1", "t-0.1")


def test_missing_anchor_is_a_mismatch() -> None:
    session, _ = opened(F(["values"]))
    for event in values(1, 2, 3):
        session.receive_event(event)
    session.stream_opened(session.stream_request())
    with pytest.raises(ReplayMismatch) as info:
        session.receive_event(ev("values", seq=4, event_id="e4"))
    assert (info.value.seq, info.value.expected, info.value.received) == (3, "e3", None)


def test_an_event_before_the_anchor_is_a_plain_repeat() -> None:
    """A WebSocket may re-send older events first; they are repeats, the anchor still counts."""
    session, (a,) = opened(F(["values"]))
    for event in values(1, 2, 3):
        session.receive_event(event)
    session.stream_opened(session.stream_request())
    assert session.receive_event(values(1)[0]) == ()
    assert session.receive_event(values(3)[0]) == ()
    assert ids(session.receive_event(values(4)[0])) == [a.id]


def test_an_anchor_outside_the_window_is_not_checked() -> None:
    """With the anchor's event forgotten, there is nothing to compare: the seq decides."""
    session, (a, b) = opened(F(["values"]), F(["values"]), limits=Limits(dedup_window=2))
    for event in values(1, 2, 3):
        session.receive_event(event)
    session.unsubscribe(b)
    late = session.subscribe(F(["values"]), history=True)
    session.receive_event(values(4)[0])
    session.receive_event(values(5)[0])
    request = session.stream_request()
    assert request.since is None
    session.stream_opened(request)
    got = [ids(session.receive_event(e)) for e in values(1, 2, 3, 4, 5, 6)]
    assert got == [[late.id]] * 5 + [[a.id, late.id]]


def test_a_repeat_with_another_id_inside_the_window_is_a_mismatch() -> None:
    session, (a,) = opened(F(["values"]))
    for event in values(1, 2, 3):
        session.receive_event(event)
    late = session.subscribe(F(["values"]), history=True)
    session.stream_opened(session.stream_request())
    assert ids(session.receive_event(values(1)[0])) == [late.id]
    with pytest.raises(ReplayMismatch) as info:
        session.receive_event(ev("values", seq=2, event_id="renumbered"))
    assert (info.value.seq, info.value.expected, info.value.received) == (2, "e2", "renumbered")
    assert a.live


# -- realignment ---------------------------------------------------------------------------

# Live: e1..e5. The server then renumbers (an event X appears at seq 2) and the thread
# goes on with e6: the replay is e1 X e2 e3 e4 e5 e6 at seq 1..7.
RENUMBERED = [
    ev("values", {"n": 1}, seq=1, event_id="e1"),
    ev("values", {"x": True}, seq=2, event_id="X"),
    *(ev("values", {"n": n}, seq=n + 1, event_id=f"e{n}") for n in range(2, 7)),
]


def mismatched_session(limits: Limits | None = None) -> tuple[ClientSession, Subscription]:
    session, (a,) = opened(F(["values"]), limits=limits)
    for event in values(1, 2, 3, 4, 5):
        session.receive_event(event)
    request = session.stream_request()
    session.stream_opened(request)
    with pytest.raises(ReplayMismatch):
        for event in RENUMBERED:
            if event.seq is not None and event.seq > (request.since or 0):
                session.receive_event(event)
    request = session.stream_request()
    assert request.since is None
    session.stream_opened(request)
    return session, a


def test_realignment_drops_known_events_and_adopts_the_new_numbering() -> None:
    session, _ = mismatched_session()
    got = [(e.event_id, e.seq) for e in RENUMBERED if session.receive_event(e)]
    assert got == [("X", 2), ("e6", 7)]
    assert session.last_seq == 7
    assert session.stream_request().since == 6
    assert not session.needs_reopen()
    assert session.runs.last_values == {"n": 6}


def test_realignment_survives_another_drop() -> None:
    session, _ = mismatched_session()
    assert [e.event_id for e in RENUMBERED[:3] if session.receive_event(e)] == ["X"]
    # dropped mid-replay: the next request is again a full replay
    assert session.needs_reopen()
    request = session.stream_request()
    assert request.since is None
    session.stream_opened(request)
    got = [e.event_id for e in RENUMBERED if session.receive_event(e)]
    assert got == ["e6"]  # X was delivered already
    assert session.last_seq == 7


def test_a_later_mismatch_after_realignment_is_loud() -> None:
    """After adopting a new numbering the old window is gone: a second realignment cannot
    tell old events from new ones, so it must fail rather than deliver them again."""
    session, _ = mismatched_session()
    for event in RENUMBERED:
        session.receive_event(event)
    session.stream_opened(session.stream_request())
    with pytest.raises(ReplayMismatch):
        session.receive_event(ev("values", seq=7, event_id="shifted"))
    session.stream_opened(session.stream_request())
    with pytest.raises(ReplayDiverged, match="cannot realign the replay at seq 1"):
        session.receive_event(RENUMBERED[0])


def test_realignment_with_an_evicted_window_diverges() -> None:
    session, _ = opened(F(["values"]), limits=Limits(dedup_window=3))
    for event in values(1, 2, 3, 4, 5):
        session.receive_event(event)
    session.stream_opened(session.stream_request())
    with pytest.raises(ReplayMismatch):
        session.receive_event(ev("values", seq=5, event_id="e4"))
    session.stream_opened(session.stream_request())
    with pytest.raises(ReplayDiverged) as info:
        session.receive_event(RENUMBERED[0])
    assert "not among the last 3 events (dedup_window)" in str(info.value)


def test_realignment_catches_up_a_subscription_waiting_for_history() -> None:
    session, (a,) = opened(F(["values"]))
    for event in values(1, 2, 3, 4, 5):
        session.receive_event(event)
    late = session.subscribe(F(["values"]), history=True)
    session.stream_opened(session.stream_request())
    assert ids(session.receive_event(RENUMBERED[0])) == [late.id]
    with pytest.raises(ReplayMismatch):
        session.receive_event(RENUMBERED[1])
    session.stream_opened(session.stream_request())
    got = [(e.event_id, ids(session.receive_event(e))) for e in RENUMBERED]
    assert got == [
        ("e1", []),  # the late subscription has it already
        ("X", [a.id, late.id]),
        ("e2", [late.id]),
        ("e3", [late.id]),
        ("e4", [late.id]),
        ("e5", [late.id]),
        ("e6", [a.id, late.id]),
    ]
    assert late.live


@pytest.mark.xfail(
    strict=True,
    reason="realignment ends only on the last known event; when that event is live-only "
    "(a named custom event, Appendix B.4) it never comes and the session stays realigning: "
    "last_seq never advances and every resume is a full replay",
)
def test_realignment_ends_when_the_last_known_event_is_not_replayed() -> None:
    session, _ = opened(F(["values", "custom"]))
    live = [*values(1, 2, 3), ev("custom", {"name": "progress"}, seq=4, event_id="n4")]
    for event in live:
        session.receive_event(event)
    session.stream_opened(session.stream_request())
    # renumbered without n4, and the thread went on with e5, e6
    replay = [
        *values(1, 2, 3),
        ev("values", {"n": 5}, seq=4, event_id="e5"),
        ev("values", {"n": 6}, seq=5, event_id="e6"),
    ]
    with pytest.raises(ReplayMismatch):
        session.receive_event(replay[3])
    session.stream_opened(session.stream_request())
    got = [e.event_id for e in replay if session.receive_event(e)]
    assert got == ["e5", "e6"]
    assert session.last_seq == 5
    assert session.stream_request().since == 4


# -- the real server's renumbering (Appendix B.4), at every drop point ------------------------

CUSTOM_LIVE = "custom.sse.raw"
CUSTOM_REPLAY = "custom.replay.sse.raw"


def content(event: Event) -> tuple[Any, ...]:
    return (event.method, event.namespace, json.dumps(event.data, sort_keys=True))


def resume_custom_capture(drop_after: int) -> tuple[ClientSession, list[Event]]:
    """Live capture up to ``drop_after`` events, then resume against the replay capture."""
    live = load_capture(CUSTOM_LIVE)
    replay = load_capture(CUSTOM_REPLAY)
    session, _ = opened(F(["values", "updates", "custom", "lifecycle"]))
    got = [e for e in live[:drop_after] if session.receive_event(e)]
    for _ in range(3):
        request = session.stream_request()
        session.stream_opened(request)
        stream = deque(e for e in replay if e.seq is not None and e.seq > (request.since or 0))
        try:
            while stream:
                event = stream.popleft()
                if session.receive_event(event):
                    got.append(event)
        except ReplayMismatch:
            continue
        break
    return session, got


XFAIL_DUPLICATES = pytest.mark.xfail(
    strict=True,
    reason="Appendix B.4: the replay reuses event ids (same channel, other content) after a "
    "live-only named event, so realigning by (event_id, channel) drops and repeats events; "
    "and a since past the renumbered end gives no event to detect the shift with",
)
XFAIL_STUCK = pytest.mark.xfail(
    strict=True,
    reason="Appendix B.4: the last event received is not in the replay under its id, so "
    "realignment never ends (see test_realignment_ends_when_the_last_known_event_is_not_replayed)",
)


@pytest.mark.parametrize(
    "drop_after",
    [
        pytest.param(k, marks=XFAIL_DUPLICATES) if k in (7, 8, 9, 10, 11) else k
        for k in range(1, 13)
    ],
)
def test_custom_capture_resume_delivers_each_event_once(drop_after: int) -> None:
    live = load_capture(CUSTOM_LIVE)
    replay = load_capture(CUSTOM_REPLAY)
    _, got = resume_custom_capture(drop_after)
    seen = [content(e) for e in live[:drop_after]]
    expected = seen + [content(e) for e in replay if content(e) not in seen]
    assert [content(e) for e in got] == expected


@pytest.mark.parametrize(
    "drop_after",
    [pytest.param(k, marks=XFAIL_STUCK) if k in (4, 6, 9, 10) else k for k in range(1, 13)],
)
def test_custom_capture_resume_leaves_realignment(drop_after: int) -> None:
    session, _ = resume_custom_capture(drop_after)
    assert session.stream_request().since is not None


# -- subscriptions added later -------------------------------------------------------------


def test_a_late_subscription_with_history_gets_a_replay_the_others_do_not_see_twice() -> None:
    history = [lifecycle("running", seq=1), *values(2, 3), ev("messages", seq=4), *values(5, 6)]
    d = Driver(history)
    a = d.subscribe(F(["values"]))
    d.open()
    d.deliver()
    late = d.subscribe(F(["values", "messages"]))
    assert not late.live
    assert d.session.needs_reopen()
    request = d.open()
    assert request.since is None
    assert request.filter.channels >= {"values", "messages"}
    assert not d.session.needs_reopen()  # this stream is the replay it waits for
    d.drain()
    assert [e.seq for e in d.got[a.id]] == [2, 3, 5, 6]
    assert [e.seq for e in d.got[late.id]] == [2, 3, 4, 5, 6]
    assert late.live is False  # no new event yet: still on the replay
    d.server.history.append(ev("values", seq=7))
    d.connection.append(d.server.history[-1])
    d.deliver()
    assert late.live
    assert [e.seq for e in d.got[late.id]][-1] == 7
    assert [e.seq for e in d.got[a.id]][-1] == 7


def test_a_late_subscription_waits_while_the_old_stream_keeps_flowing() -> None:
    """The adapter opens the new stream before closing the old one (section 6 rotation):
    events keep arriving on the old stream meanwhile. The waiting subscription must not
    get them ahead of its history; the replay brings everything in order."""
    d = Driver(values(*range(1, 9)))
    a = d.subscribe(F(["values"]))
    d.open()
    d.deliver(3)
    late = d.subscribe(F(["values"]), history=True)
    assert d.session.needs_reopen()
    d.deliver(2)  # seq 4, 5 on the old stream
    assert d.got[late.id] == []
    d.open()
    d.drain()
    assert [e.seq for e in d.got[late.id]] == list(range(1, 9))
    assert [e.seq for e in d.got[a.id]] == list(range(1, 9))


def test_a_stream_opened_from_an_older_request_does_not_serve_a_newer_subscription() -> None:
    d = Driver(values(*range(1, 7)))
    d.subscribe(F(["values"]))
    d.open()
    d.deliver(3)
    stale = d.session.stream_request()  # asked for before the subscription
    late = d.subscribe(F(["values"]), history=True)
    d.session.stream_opened(stale)
    d.connection = d.server.open(stale)
    d.deliver()
    assert d.got[late.id] == []
    assert not late.live
    assert d.session.needs_reopen()
    d.open()
    d.deliver()
    assert [e.seq for e in d.got[late.id]] == list(range(1, 7))


def test_history_false_gets_only_new_events() -> None:
    d = Driver(values(*range(1, 7)))
    a = d.subscribe(F(["values"]))
    d.open()
    d.deliver(3)
    new = d.subscribe(F(["values"]), history=False)
    assert new.live
    assert not d.session.needs_reopen()
    d.drain()
    assert [e.seq for e in d.got[new.id]] == [4, 5, 6]
    assert [e.seq for e in d.got[a.id]] == list(range(1, 7))


def test_history_false_on_a_channel_the_stream_did_not_carry() -> None:
    """It gets what comes after the session's cursor when it subscribed (seq 1), also the
    events of its channel the old stream, still being read, did not carry."""
    history = [*values(1), ev("messages", seq=2), *values(3), ev("messages", seq=4), *values(5)]
    history += [ev("messages", seq=6)]
    d = Driver(history)
    a = d.subscribe(F(["values"]))
    d.open()
    d.deliver(1)  # seq 1
    new = d.subscribe(F(["messages"]), history=False)
    assert not new.live
    assert d.session.needs_reopen()
    d.deliver(2)  # seq 3, 5 (the old stream carries values only)
    request = d.open()
    assert request.since == 0  # back to the subscription's cursor (seq 1), minus one
    d.drain()
    assert [e.seq for e in d.got[new.id]] == [2, 4, 6]
    assert [e.seq for e in d.got[a.id]] == [1, 3, 5]


def test_unsubscribe_while_catching_up() -> None:
    d = Driver(values(*range(1, 7)))
    a = d.subscribe(F(["values"]))
    d.open()
    d.deliver(3)
    late = d.subscribe(F(["values"]))
    d.open()
    d.deliver(2)
    d.unsubscribe(late)
    assert not d.session.needs_reopen()
    d.drain()
    assert [e.seq for e in d.got[late.id]] == [1, 2]
    assert [e.seq for e in d.got[a.id]] == list(range(1, 7))


def test_history_before_any_event_is_just_live() -> None:
    session, _ = opened(F(["values"]))
    sub = session.subscribe(F(["values"]), history=True)
    assert sub.live
    assert sub.history_through == 0
    assert not session.needs_reopen()


def test_a_subscription_made_while_the_first_stream_was_requested_waits_for_its_stream() -> None:
    """Before any stream a subscription is live, but a stream opened from a request made
    before it existed does not carry its events: it waits for a stream that does, which
    replays what the first one left out."""
    history = [lifecycle("running", seq=1), *values(2), lifecycle("completed", seq=3)]
    d = Driver(history)
    early = d.session.stream_request()
    sub = d.subscribe(F(["values"]))
    assert sub.live
    d.session.stream_opened(early)
    d.connection = d.server.open(early)
    assert not sub.live
    assert d.session.needs_reopen()
    d.deliver()  # lifecycle 1 and 3 only
    assert d.session.last_seq == 3
    assert d.open().since is None
    d.drain()
    assert [e.seq for e in d.got[sub.id]] == [2]


def test_after_realignment_the_resume_anchor_cannot_be_checked() -> None:
    """The realigned window starts empty, without the event the numbering was adopted at:
    a stream resumed right there cannot check its anchor, so the seq decides."""
    session, a = mismatched_session()
    for event in RENUMBERED[:-1]:  # up to e5, where the new numbering is adopted (seq 6)
        session.receive_event(event)
    request = session.stream_request()
    assert request.since == 5
    session.stream_opened(request)
    # the anchor (seq 6) did not come and cannot be compared: seq 7 is simply new
    assert ids(session.receive_event(RENUMBERED[-1])) == [a.id]
    assert session.last_seq == 7
