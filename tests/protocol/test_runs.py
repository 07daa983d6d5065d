"""Runs and interrupts: RunTracker, RUN_TRANSITIONS and the session's respond helpers.

Charter: every (state, root lifecycle status) pair either follows RUN_TRANSITIONS or
raises RemoteProtocolError (unknown statuses are ignored); several runs follow each
other on one thread (Appendix E.1), each identified by the run id inside the server's
synthetic event ids; a failed run keeps its error text; events after a terminal are
accepted; interrupts keep their payload and namespace, are cleared when answered or
when the next run starts (not on ``interrupted``), and may arrive after the root
``interrupted`` (E.2) or be raised again with the same id in the next run (E.3).
``choose`` refuses ambiguous or unknown answers with a LocalProtocolError that says
what is pending, and ``ClientSession.respond``/``respond_batch`` build ``input.respond``
with each interrupt's own namespace. Real captures (tests/data/session) are replayed
through SSEParser, decode_message and ClientSession and checked exactly.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from session_helpers import ev, input_requested, lifecycle, load_capture

from threadwire.protocol import (
    RUN_TRANSITIONS,
    ClientSession,
    CommandFailure,
    CommandSuccess,
    InputRespond,
    InputRespondBatch,
    Interrupt,
    InterruptResponse,
    Limits,
    LocalProtocolError,
    RemoteProtocolError,
    Run,
    RunState,
    RunTracker,
    StreamFilter,
    decode_message,
    run_id_from_event_id,
)

KNOWN_STATUSES = ("running", "started", "completed", "failed", "interrupted")


def tracker_in(state: RunState, run: str = "r1") -> RunTracker:
    """A tracker brought into ``state`` by real events of run ``run``."""
    tracker = RunTracker()
    if state is not RunState.IDLE:
        tracker.observe(lifecycle("running", run=run, seq=1))
    if state in (RunState.COMPLETED, RunState.FAILED, RunState.INTERRUPTED):
        tracker.observe(lifecycle(state.value, run=run, seq=2))
    assert tracker.state is state
    return tracker


# -- the transition table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "status"), list(itertools.product(RunState, (*KNOWN_STATUSES, "drained")))
)
def test_every_state_and_status_of_the_same_run(state: RunState, status: str) -> None:
    tracker = tracker_in(state)
    before = [attrs_tuple(r) for r in tracker.runs]
    expected = RUN_TRANSITIONS.get((state, status))
    event = lifecycle(status, run="r1", seq=9)
    if status not in KNOWN_STATUSES:
        tracker.observe(event)  # not ours to judge: ignored
        assert tracker.state is state
        assert [attrs_tuple(r) for r in tracker.runs] == before
    elif expected is None:
        with pytest.raises(RemoteProtocolError, match=f"root lifecycle '{status}' is not allowed"):
            tracker.observe(event)
        assert tracker.state is state
    else:
        tracker.observe(event)
        assert tracker.state is expected
        assert tracker.current is not None
        assert tracker.current.run_id == "r1"
        assert tracker.current.status == expected.value


@pytest.mark.parametrize(("state", "status"), list(itertools.product(RunState, KNOWN_STATUSES)))
def test_every_state_and_status_of_another_run(state: RunState, status: str) -> None:
    """A status of a run we have not seen starts that run (its ``running`` may be lost)."""
    tracker = tracker_in(state)
    count = len(tracker.runs)
    tracker.observe(lifecycle(status, run="r2", seq=9))
    assert tracker.state is (
        RunState.RUNNING if status in ("running", "started") else RunState(status)
    )
    assert tracker.current is not None
    assert tracker.current.run_id == "r2"
    assert len(tracker.runs) == count + 1


def test_the_table_is_closed_under_known_statuses() -> None:
    for (state, status), nxt in RUN_TRANSITIONS.items():
        assert isinstance(state, RunState)
        assert status in KNOWN_STATUSES
        assert isinstance(nxt, RunState)
    # ends happen only from RUNNING (or from IDLE on a stream resumed late), repeats aside
    for state in (RunState.COMPLETED, RunState.FAILED, RunState.INTERRUPTED):
        others = {"completed", "failed", "interrupted"} - {state.value}
        assert all((state, other) not in RUN_TRANSITIONS for other in others)


def attrs_tuple(run: Run) -> tuple[Any, ...]:
    return (run.run_id, run.status, run.error, run.graph_name, run.started_seq, run.ended_seq)


# -- run ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_id", "run_id"),
    [
        (
            "synth:01a1fc7a-4750-76cb-9dc5-4c5fe392ec62:lc||running",
            "01a1fc7a-4750-76cb-9dc5-4c5fe392ec62",
        ),
        ("synth:r9:input|child:1\x00grand:2|abc", "r9"),
        ("synth:r9:7", "r9"),
        ("synth::lc||running", None),
        ("synth:", None),
        ("1795237235424-0.1", None),
        ("", None),
        (None, None),
    ],
)
def test_run_id_from_event_id(event_id: str | None, run_id: str | None) -> None:
    assert run_id_from_event_id(event_id) == run_id


# -- runs --------------------------------------------------------------------------------------


def test_several_runs_on_one_thread() -> None:
    """Appendix E.1: each run opens with running and ends with its own terminal."""
    tracker = RunTracker()
    for event in [
        lifecycle("running", run="a", seq=1, graph="g"),
        ev("values", {"n": 1}, seq=2),
        lifecycle("completed", run="a", seq=3, graph="g"),
        lifecycle("running", run="b", seq=4, graph="g"),
        lifecycle("failed", run="b", seq=5, graph="g", error="boom"),
        lifecycle("running", run="c", seq=6, graph="g"),
    ]:
        tracker.observe(event)
    assert tracker.runs == [
        Run(run_id="a", status="completed", graph_name="g", started_seq=1, ended_seq=3),
        Run(run_id="b", status="failed", error="boom", graph_name="g", started_seq=4, ended_seq=5),
        Run(run_id="c", status="running", graph_name="g", started_seq=6),
    ]
    assert tracker.state is RunState.RUNNING
    assert tracker.current is tracker.runs[-1]


def test_no_run_yet() -> None:
    tracker = RunTracker()
    assert tracker.state is RunState.IDLE
    assert tracker.current is None
    assert tracker.runs == []
    assert not tracker.interrupted
    assert tracker.pending_interrupts == []
    assert tracker.last_values is None


def test_failed_keeps_the_error_text() -> None:
    tracker = tracker_in(RunState.RUNNING)
    tracker.observe(lifecycle("failed", run="r1", seq=2, error="boom: deliberate"))
    assert tracker.current is not None
    assert tracker.current.error == "boom: deliberate"
    assert tracker.current.status == "failed"


@pytest.mark.parametrize("error", [None, 42, {"message": "x"}])
def test_failed_without_string_error_has_none(error: Any) -> None:
    tracker = tracker_in(RunState.RUNNING)
    data = {"event": "failed", "graph_name": "g"}
    if error is not None:
        data["error"] = error
    tracker.observe(ev("lifecycle", data, seq=2, event_id="synth:r1:lc||failed"))
    assert tracker.current is not None
    assert tracker.current.error is None
    assert tracker.state is RunState.FAILED


def test_error_is_only_kept_for_failed() -> None:
    tracker = tracker_in(RunState.RUNNING)
    tracker.observe(lifecycle("completed", run="r1", seq=2, error="not an error"))
    assert tracker.current is not None
    assert tracker.current.error is None


def test_events_after_a_terminal_are_accepted() -> None:
    """Appendix B.6: a values event follows lifecycle interrupted on the real server."""
    tracker = tracker_in(RunState.INTERRUPTED)
    tracker.observe(ev("values", {"after": True}, seq=3))
    tracker.observe(ev("updates", {}, seq=4))
    assert tracker.state is RunState.INTERRUPTED
    assert tracker.last_values == {"after": True}


@pytest.mark.parametrize("status", ["completed", "failed", "interrupted"])
@pytest.mark.parametrize("seq", [2, 7, None])
def test_a_duplicate_terminal_changes_nothing(status: str, seq: int | None) -> None:
    tracker = tracker_in(RunState.RUNNING)
    tracker.observe(lifecycle(status, run="r1", seq=2, error="first"))
    before = [attrs_tuple(r) for r in tracker.runs]
    tracker.observe(lifecycle(status, run="r1", seq=seq, error="second"))
    assert [attrs_tuple(r) for r in tracker.runs] == before
    assert tracker.state is RunState(status)


def test_a_terminal_of_another_run() -> None:
    """The running of run b was never seen (a stream resumed after it): b is a new run."""
    tracker = tracker_in(RunState.RUNNING, run="a")
    tracker.observe(lifecycle("completed", run="b", seq=5))
    assert [(r.run_id, r.status) for r in tracker.runs] == [("a", "running"), ("b", "completed")]
    assert tracker.runs[1].ended_seq == 5
    assert tracker.state is RunState.COMPLETED


def test_a_running_of_another_run_while_running() -> None:
    """Pitfall 5: a run's terminal may never be synthesized; the next run still starts."""
    tracker = tracker_in(RunState.RUNNING, run="a")
    tracker.observe(input_requested("i1", run="a", seq=2))
    tracker.observe(lifecycle("running", run="b", seq=3))
    assert [r.run_id for r in tracker.runs] == ["a", "b"]
    assert tracker.interrupts[0].status == "resumed"
    assert not tracker.interrupted


def test_a_repeated_running_of_the_same_run_is_no_change() -> None:
    tracker = tracker_in(RunState.RUNNING)
    tracker.observe(lifecycle("running", run="r1", seq=5))
    tracker.observe(lifecycle("started", run="r1", seq=6))
    assert len(tracker.runs) == 1
    assert tracker.runs[0].started_seq == 1


@pytest.mark.parametrize("status", ["completed", "failed", "interrupted"])
def test_a_stream_that_begins_after_running(status: str) -> None:
    """A stream resumed with since can start at the terminal: the run still appears."""
    tracker = RunTracker()
    tracker.observe(lifecycle(status, run="r1", seq=40))
    assert tracker.state is RunState(status)
    assert [(r.run_id, r.status, r.ended_seq) for r in tracker.runs] == [("r1", status, 40)]


def test_a_run_without_a_synthetic_id_gets_its_id_later() -> None:
    tracker = RunTracker()
    tracker.observe(lifecycle("running", run=None, seq=1, event_id="1795-0"))
    assert tracker.current is not None
    assert tracker.current.run_id is None
    tracker.observe(lifecycle("completed", run="r1", seq=2))
    assert [(r.run_id, r.status) for r in tracker.runs] == [("r1", "completed")]


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("completed", "failed"),
        ("completed", "interrupted"),
        ("failed", "completed"),
        ("interrupted", "completed"),
        ("interrupted", "failed"),
    ],
)
def test_a_second_different_terminal_of_the_same_run_is_illegal(first: str, then: str) -> None:
    tracker = tracker_in(RunState(first))
    with pytest.raises(RemoteProtocolError) as info:
        tracker.observe(lifecycle(then, run="r1", seq=3))
    assert f"root lifecycle '{then}' is not allowed while the run is {first} (run r1)" in str(
        info.value
    )


def test_illegal_transition_without_run_ids() -> None:
    tracker = RunTracker()
    tracker.observe(lifecycle("running", run=None, seq=1))
    tracker.observe(lifecycle("completed", run=None, seq=2))
    with pytest.raises(
        RemoteProtocolError, match=r"'failed' is not allowed while the run is completed$"
    ):
        tracker.observe(lifecycle("failed", run=None, seq=3))


@pytest.mark.parametrize("data", [{"graph_name": "g"}, {"event": 3}, "running", None, []])
def test_root_lifecycle_without_a_status_is_a_remote_error(data: Any) -> None:
    with pytest.raises(RemoteProtocolError, match=r"lifecycle event without a string data\.event"):
        RunTracker().observe(ev("lifecycle", data, seq=1))


def test_child_lifecycle_and_child_values_do_not_touch_the_run() -> None:
    tracker = tracker_in(RunState.RUNNING)
    tracker.observe(lifecycle("started", run="r1", seq=2, ns=["child:1"]))
    tracker.observe(lifecycle("failed", run="r1", seq=3, ns=["child:1"], error="x"))
    tracker.observe(ev("values", {"child": True}, seq=4, ns=["child:1"]))
    tracker.observe(ev("lifecycle", "garbage", seq=5, ns=["child:1"]))
    assert tracker.state is RunState.RUNNING
    assert tracker.last_values is None
    assert len(tracker.runs) == 1


def test_graph_name_is_recorded() -> None:
    tracker = RunTracker()
    tracker.observe(lifecycle("running", run="r1", seq=1, graph="hitl"))
    assert tracker.current is not None
    assert tracker.current.graph_name == "hitl"


# -- interrupts ------------------------------------------------------------------------------


def test_an_interrupt_keeps_payload_namespace_and_run() -> None:
    tracker = tracker_in(RunState.RUNNING, run="r1")
    payload = {"question": "Approve?", "options": [1, 2]}
    tracker.observe(input_requested("i1", payload, run="r1", seq=2, ns=["review:9"]))
    assert tracker.interrupts == [
        Interrupt(interrupt_id="i1", namespace=("review:9",), payload=payload, run_id="r1")
    ]
    assert tracker.interrupted
    assert tracker.pending_interrupts == tracker.interrupts


def test_an_interrupt_without_a_synthetic_id_belongs_to_the_current_run() -> None:
    tracker = tracker_in(RunState.RUNNING, run="r1")
    tracker.observe(input_requested("i1", 1, run=None, seq=2))
    assert tracker.interrupts[0].run_id == "r1"
    fresh = RunTracker()
    fresh.observe(input_requested("i1", 1, run=None, seq=2))
    assert fresh.interrupts[0].run_id is None


@pytest.mark.parametrize(
    ("data", "payload"),
    [
        ({"interrupt_id": "i1", "payload": {"q": 1}}, {"q": 1}),
        ({"interrupt_id": "i1", "payload": None}, None),
        ({"interrupt_id": "i1", "payload": 0}, 0),
        # the spec's field name, used only when payload is absent
        ({"interrupt_id": "i1", "value": "v"}, "v"),
        ({"interrupt_id": "i1", "payload": "p", "value": "v"}, "p"),
        ({"interrupt_id": "i1"}, None),
    ],
)
def test_interrupt_payload(data: dict[str, Any], payload: Any) -> None:
    tracker = RunTracker()
    tracker.observe(ev("input.requested", data, seq=1))
    assert tracker.interrupts[0].payload == payload


@pytest.mark.parametrize("data", [{"payload": 1}, {"interrupt_id": 5}, "i1", None])
def test_input_requested_without_an_id_is_a_remote_error(data: Any) -> None:
    with pytest.raises(
        RemoteProtocolError, match=r"input\.requested without a string data\.interrupt_id"
    ):
        RunTracker().observe(ev("input.requested", data, seq=1))


def test_a_repeated_input_requested_is_one_interrupt() -> None:
    tracker = tracker_in(RunState.RUNNING)
    tracker.observe(input_requested("i1", 1, seq=2))
    tracker.observe(input_requested("i1", 1, seq=3))
    assert len(tracker.interrupts) == 1


def test_too_many_pending_interrupts() -> None:
    tracker = RunTracker(max_pending_interrupts=2)
    tracker.observe(input_requested("i1", seq=1))
    tracker.observe(input_requested("i2", seq=2))
    with pytest.raises(RemoteProtocolError, match="more than 2 interrupts pending"):
        tracker.observe(input_requested("i3", seq=3))


def test_interrupted_does_not_clear_interrupts() -> None:
    tracker = tracker_in(RunState.RUNNING)
    tracker.observe(input_requested("i1", seq=2))
    tracker.observe(lifecycle("interrupted", run="r1", seq=3))
    assert [i.status for i in tracker.pending_interrupts] == ["pending"]


def test_answered_clears_only_the_answered() -> None:
    tracker = tracker_in(RunState.RUNNING)
    tracker.observe(input_requested("i1", seq=2))
    tracker.observe(input_requested("i2", seq=3))
    tracker.answered(["i1", "unknown"])
    assert [(i.interrupt_id, i.status) for i in tracker.interrupts] == [
        ("i1", "resumed"),
        ("i2", "pending"),
    ]
    assert [i.interrupt_id for i in tracker.pending_interrupts] == ["i2"]


@pytest.mark.parametrize(
    "end",
    [
        lifecycle("completed", run="r1", seq=4),
        lifecycle("failed", run="r1", seq=4, error="x"),
        lifecycle("running", run="r2", seq=4),
    ],
    ids=["completed", "failed", "next-run"],
)
def test_interrupts_are_cleared_when_the_run_moves_on(end: Any) -> None:
    tracker = tracker_in(RunState.RUNNING)
    tracker.observe(input_requested("i1", seq=2))
    if end.data["event"] == "running":
        tracker.observe(lifecycle("interrupted", run="r1", seq=3))
    tracker.observe(end)
    assert not tracker.interrupted
    assert tracker.interrupts[0].status == "resumed"


def test_second_interrupt_after_interrupted() -> None:
    """Appendix E.2: the second parallel interrupt arrives after the root interrupted."""
    tracker = tracker_in(RunState.RUNNING)
    tracker.observe(input_requested("a", "A?", seq=2))
    tracker.observe(lifecycle("interrupted", run="r1", seq=3))
    tracker.observe(ev("values", {}, seq=4))
    tracker.observe(input_requested("b", "B?", seq=5))
    assert [i.interrupt_id for i in tracker.pending_interrupts] == ["a", "b"]
    assert tracker.state is RunState.INTERRUPTED


def test_the_same_interrupt_raised_again_in_the_next_run() -> None:
    """Appendix E.3: answering one of two re-runs the graph, which raises the other again."""
    tracker = tracker_in(RunState.RUNNING, run="r1")
    tracker.observe(input_requested("a", "A?", run="r1", seq=2))
    tracker.observe(input_requested("b", "B?", run="r1", seq=3))
    tracker.observe(lifecycle("interrupted", run="r1", seq=4))
    tracker.answered(["a"])
    tracker.observe(lifecycle("running", run="r2", seq=5))
    tracker.observe(input_requested("b", "B?", run="r2", seq=6))
    tracker.observe(lifecycle("interrupted", run="r2", seq=7))
    assert [(i.interrupt_id, i.run_id, i.status) for i in tracker.interrupts] == [
        ("a", "r1", "resumed"),
        ("b", "r1", "resumed"),
        ("b", "r2", "pending"),
    ]
    assert tracker.choose(None).run_id == "r2"


# -- choose ------------------------------------------------------------------------------------


def test_choose_the_only_pending() -> None:
    tracker = RunTracker()
    tracker.observe(input_requested("i1", seq=1))
    assert tracker.choose(None).interrupt_id == "i1"
    assert tracker.choose("i1").interrupt_id == "i1"


@pytest.mark.parametrize(
    ("pending", "interrupt_id", "message"),
    [
        ([], None, "there is no pending interrupt to respond to"),
        (["a", "b"], None, "2 interrupts are pending (a, b); say which one with interrupt_id"),
        (["a", "b"], "c", "no pending interrupt 'c' (pending: a, b)"),
        ([], "c", "no pending interrupt 'c' (pending: none)"),
    ],
)
def test_choose_refuses(pending: list[str], interrupt_id: str | None, message: str) -> None:
    tracker = RunTracker()
    for n, pid in enumerate(pending, 1):
        tracker.observe(input_requested(pid, seq=n))
    with pytest.raises(LocalProtocolError) as info:
        tracker.choose(interrupt_id)
    assert str(info.value) == message


def test_choose_refuses_an_answered_interrupt() -> None:
    tracker = RunTracker()
    tracker.observe(input_requested("a", seq=1))
    tracker.answered(["a"])
    with pytest.raises(LocalProtocolError, match="no pending interrupt 'a'"):
        tracker.choose("a")


# -- ClientSession.respond / respond_batch -------------------------------------------------


def session_with(*events: Any) -> ClientSession:
    session = ClientSession()
    session.subscribe(StreamFilter(channels=["values"]))
    session.stream_opened(session.stream_request())
    for event in events:
        session.receive_event(event)
    return session


def test_respond_to_the_only_interrupt_uses_its_namespace() -> None:
    session = session_with(
        lifecycle("running", seq=1), input_requested("i1", "Q", seq=2, ns=["review:9"])
    )
    command = session.respond({"approved": True})
    assert command == InputRespond(
        interrupt_id="i1", namespace=("review:9",), response={"approved": True}
    )
    assert json.loads(session.send(command).data) == {
        "id": 1,
        "method": "input.respond",
        "params": {"interrupt_id": "i1", "namespace": ["review:9"], "response": {"approved": True}},
    }


def test_respond_passes_update_goto_config_metadata() -> None:
    session = session_with(input_requested("i1", seq=1))
    command = session.respond(
        "yes", update={"k": 1}, goto="node", config={"c": 1}, metadata={"m": 1}
    )
    assert command.params() == {
        "interrupt_id": "i1",
        "namespace": [],
        "response": "yes",
        "update": {"k": 1},
        "goto": "node",
        "config": {"c": 1},
        "metadata": {"m": 1},
    }


def test_respond_needs_an_id_when_several_are_pending() -> None:
    session = session_with(input_requested("a", seq=1), input_requested("b", seq=2, ns=["x:1"]))
    with pytest.raises(LocalProtocolError, match="2 interrupts are pending"):
        session.respond("yes")
    assert session.respond("yes", interrupt_id="b").namespace == ("x:1",)
    with pytest.raises(LocalProtocolError, match="no pending interrupt 'c'"):
        session.respond("yes", interrupt_id="c")


def test_respond_batch() -> None:
    session = session_with(
        input_requested("a", seq=1), input_requested("b", seq=2, ns=["child:1", "grand:2"])
    )
    command = session.respond_batch({"b": "B!", "a": "A!"}, update={"u": 1}, goto=["n"])
    assert command == InputRespondBatch(
        responses=(
            InterruptResponse(interrupt_id="b", namespace=("child:1", "grand:2"), response="B!"),
            InterruptResponse(interrupt_id="a", namespace=(), response="A!"),
        ),
        update={"u": 1},
        goto=["n"],
    )
    assert json.loads(session.send(command).data)["params"] == {
        "responses": [
            {"interrupt_id": "b", "namespace": ["child:1", "grand:2"], "response": "B!"},
            {"interrupt_id": "a", "namespace": [], "response": "A!"},
        ],
        "update": {"u": 1},
        "goto": ["n"],
    }


@pytest.mark.parametrize(
    ("responses", "message"),
    [
        ({}, "respond_batch needs at least one interrupt id"),
        ({"a": 1, "zzz": 2}, "no pending interrupt 'zzz' (pending: a, b)"),
    ],
)
def test_respond_batch_refuses(responses: dict[str, Any], message: str) -> None:
    session = session_with(input_requested("a", seq=1), input_requested("b", seq=2))
    with pytest.raises(LocalProtocolError) as info:
        session.respond_batch(responses)
    assert str(info.value) == message


def test_a_successful_batch_respond_resumes_its_interrupts() -> None:
    session = session_with(
        input_requested("a", seq=1), input_requested("b", seq=2), input_requested("c", seq=3)
    )
    out = session.send(session.respond_batch({"a": 1, "b": 2}))
    outcome = session.receive_reply(CommandSuccess(id=out.id, result={}))
    assert outcome.ok
    assert [i.interrupt_id for i in session.runs.pending_interrupts] == ["c"]


def test_a_failed_respond_leaves_the_interrupt_pending() -> None:
    session = session_with(input_requested("a", seq=1))
    out = session.send(session.respond("x"))
    outcome = session.receive_reply(
        CommandFailure(id=out.id, code="no_such_interrupt", message="Unknown or already-consumed")
    )
    assert not outcome.ok
    assert [i.interrupt_id for i in session.runs.pending_interrupts] == ["a"]


# -- real captures -------------------------------------------------------------------------

RUN_A = "01a1fc7a-4750-76cb-9dc5-4c5fe392ec62"
RUN_B = "01a1fc7a-4dbc-75cb-843c-17a11c241538"
HITL_INTERRUPT = "d09bfd4b69edf00924133d74a9295cf7"
HITL_PAYLOAD = {"question": "Approve the request?", "request": "deploy to prod"}


def replay(
    name: str, chunk: int | None = None, session: ClientSession | None = None
) -> ClientSession:
    session = session or ClientSession()
    if not session.subscriptions:
        session.subscribe(StreamFilter(channels=["values", "updates", "lifecycle", "input"]))
    session.stream_opened(session.stream_request())
    for event in load_capture(name, chunk=chunk):
        session.receive_event(event)
    return session


@pytest.mark.parametrize("chunk", [None, 1, 61])
def test_capture_hitl(chunk: int | None) -> None:
    # The capture's input.respond had id 6.
    session = ClientSession(first_command_id=6)
    session.subscribe(StreamFilter(channels=["values", "updates", "lifecycle", "input"]))
    session.stream_opened(session.stream_request())
    events = load_capture("hitl.sse.raw", chunk=chunk)
    for event in events[:8]:  # through the values event after interrupted (seq 8)
        session.receive_event(event)
    runs = session.runs
    assert runs.state is RunState.INTERRUPTED
    assert runs.runs == [
        Run(run_id=RUN_A, status="interrupted", graph_name="hitl", started_seq=1, ended_seq=7)
    ]
    assert runs.pending_interrupts == [
        Interrupt(interrupt_id=HITL_INTERRUPT, namespace=(), payload=HITL_PAYLOAD, run_id=RUN_A)
    ]
    assert runs.last_values == {"request": "deploy to prod", "log": ["prepared"]}

    # The real exchange: input.respond answered with {} and meta 0.
    out = session.send(session.respond({"approved": True}))
    assert json.loads(out.data) == {
        "id": 6,
        "method": "input.respond",
        "params": {"interrupt_id": HITL_INTERRUPT, "namespace": [], "response": {"approved": True}},
    }
    reply = decode_message(
        b'{"type":"success","id":6,"result":{},"meta":{"applied_through_seq":0}}'
    )
    assert isinstance(reply, CommandSuccess)
    outcome = session.receive_reply(reply)
    assert outcome.ok
    assert outcome.result == {}
    assert session.caught_up(outcome.applied_through_seq)
    assert not runs.interrupted
    assert runs.interrupts[0].status == "resumed"

    for event in events[8:]:
        session.receive_event(event)
    assert runs.state is RunState.COMPLETED
    assert runs.runs == [
        Run(run_id=RUN_A, status="interrupted", graph_name="hitl", started_seq=1, ended_seq=7),
        Run(run_id=RUN_B, status="completed", graph_name="hitl", started_seq=9, ended_seq=15),
    ]
    assert runs.interrupts == [
        Interrupt(
            interrupt_id=HITL_INTERRUPT,
            namespace=(),
            payload=HITL_PAYLOAD,
            run_id=RUN_A,
            status="resumed",
        )
    ]
    assert runs.last_values == {
        "request": "deploy to prod",
        "approved": {"approved": True},
        "log": ["prepared", "answer={'approved': True}", "acted"],
    }


def test_capture_hitl_without_answering() -> None:
    """Without a respond of ours, the next run's running clears the interrupt."""
    runs = replay("hitl.sse.raw").runs
    assert [(r.run_id, r.status) for r in runs.runs] == [
        (RUN_A, "interrupted"),
        (RUN_B, "completed"),
    ]
    assert [(i.interrupt_id, i.status) for i in runs.interrupts] == [(HITL_INTERRUPT, "resumed")]


def test_capture_failing() -> None:
    runs = replay("failing.sse.raw").runs
    assert runs.state is RunState.FAILED
    assert runs.runs == [
        Run(
            run_id="01a1fc7a-c85e-7305-ae90-3e14ae06aa49",
            status="failed",
            error="boom: deliberate failure for the corpus",
            graph_name="failing",
            started_seq=1,
            ended_seq=5,
        )
    ]
    assert runs.interrupts == []
    assert runs.last_values == {"x": 2}


def test_capture_values_two_runs() -> None:
    runs = replay("values.sse.raw", chunk=13).runs
    assert runs.state is RunState.COMPLETED
    assert runs.runs == [
        Run(
            run_id="01a1fc79-f627-779e-91ae-5ff41929911f",
            status="completed",
            graph_name="values_graph",
            started_seq=1,
            ended_seq=9,
        ),
        Run(
            run_id="01a1fc7a-150d-71ad-9744-bede5b048d57",
            status="completed",
            graph_name="values_graph",
            started_seq=10,
            ended_seq=18,
        ),
    ]
    assert runs.interrupts == []
    assert runs.last_values == {
        "topic": "BIRDS AND CATS",
        "steps": ["refine", "draft", "finish", "refine", "draft", "finish"],
        "count": 6,
    }


def test_capture_parallel_interrupts() -> None:
    """Appendix E.2 on the wire: input.requested, interrupted, values, updates, input.requested."""
    session = ClientSession()
    session.subscribe(StreamFilter(channels=["values", "lifecycle", "input"]))
    session.stream_opened(session.stream_request())
    events = load_capture("hitl_parallel.sse.raw")
    for event in events[:9]:
        session.receive_event(event)
    runs = session.runs
    assert runs.state is RunState.INTERRUPTED
    pending = runs.pending_interrupts
    assert [(i.interrupt_id, i.namespace, i.payload["question"]) for i in pending] == [
        ("206ef89cf2544a5b217fdcddb72f192c", (), "Approve A?"),
        ("9dc9bc138b0294fed27a13fd977a244e", (), "Approve B?"),
    ]
    with pytest.raises(LocalProtocolError, match="2 interrupts are pending"):
        session.respond("yes")
    batch = session.respond_batch({i.interrupt_id: "yes" for i in pending})
    assert [r.interrupt_id for r in batch.responses] == [i.interrupt_id for i in pending]
    for event in events[9:]:
        session.receive_event(event)
    assert [(r.status, r.started_seq, r.ended_seq) for r in runs.runs] == [
        ("interrupted", 1, 5),
        ("completed", 10, 17),
    ]
    assert not runs.interrupted


def test_capture_interrupt_in_a_subgraph() -> None:
    """Appendix E.4: the interrupt carries the child's namespace; respond sends it back."""
    session = ClientSession()
    session.subscribe(StreamFilter(channels=["values", "lifecycle", "input"]))
    session.stream_opened(session.stream_request())
    events = load_capture("hitl_subgraph.sse.raw")
    for event in events[:13]:
        session.receive_event(event)
    child = ("review:94c53bb3-7138-2c9a-0a5f-175bb59fc6ed",)
    runs = session.runs
    assert runs.state is RunState.INTERRUPTED
    assert [(i.interrupt_id, i.namespace) for i in runs.pending_interrupts] == [
        ("52646383cff673153f4acfadac4b829a", child)
    ]
    assert session.respond("sub-ok").namespace == child
    for event in events[13:]:
        session.receive_event(event)
    assert [(r.status, r.started_seq, r.ended_seq) for r in runs.runs] == [
        ("interrupted", 1, 9),
        ("completed", 14, 25),
    ]


def test_tracker_limits_come_from_the_session() -> None:
    session = ClientSession(limits=Limits(max_pending_interrupts=1))
    session.stream_opened(session.stream_request())
    session.receive_event(input_requested("a", seq=1))
    with pytest.raises(RemoteProtocolError, match="more than 1 interrupts pending"):
        session.receive_event(input_requested("b", seq=2))


def test_lifecycle_without_graph_name_keeps_the_known_one() -> None:
    tracker = RunTracker()
    tracker.observe(lifecycle("running", run="r1", seq=1, graph="g"))
    tracker.observe(
        ev("lifecycle", {"event": "completed"}, seq=2, event_id="synth:r1:lc||completed")
    )
    assert tracker.runs == [
        Run(run_id="r1", status="completed", graph_name="g", started_seq=1, ended_seq=2)
    ]


def test_the_strict_table_is_the_well_formed_part() -> None:
    """The producer's table: a subset of the reader's, without duplicates or late starts."""
    from threadwire.protocol._runs import STRICT_RUN_TRANSITIONS

    assert STRICT_RUN_TRANSITIONS.items() <= RUN_TRANSITIONS.items()
    tolerated = RUN_TRANSITIONS.keys() - STRICT_RUN_TRANSITIONS.keys()
    assert tolerated == {
        (RunState.RUNNING, "running"),
        (RunState.RUNNING, "started"),
        *((RunState.IDLE, s) for s in ("completed", "failed", "interrupted")),
        *((s, s.value) for s in (RunState.COMPLETED, RunState.FAILED, RunState.INTERRUPTED)),
    }
