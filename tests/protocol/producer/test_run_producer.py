"""Runs, child namespaces and interrupts on the producer side.

Charter: every run is root ``running`` ... exactly one terminal, the last event
of the run; a child namespace is ``started`` before its first event (ancestors
first) and ends with a terminal status, innermost first; every interrupt is one
``input.requested`` per run; ``input.respond`` is validated all or nothing; the
client core's RunTracker agrees with what was produced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from producer_helpers import Clock

from threadwire.protocol import (
    InputRespond,
    InputRespondBatch,
    InterruptResponse,
    LocalProtocolError,
    RunState,
    RunTracker,
)
from threadwire.protocol.producer import (
    CommandRejected,
    EventLog,
    Part,
    PendingInterrupt,
    RunProducer,
)


def state(p: RunProducer) -> RunState:
    return p.state  # a call: mypy does not narrow it across the producer's calls


def make() -> tuple[RunProducer, Clock]:
    return RunProducer(EventLog("t")), Clock()


def lifecycle(events: Any) -> list[tuple[tuple[str, ...], str]]:
    return [(e.namespace, e.data["event"]) for e in events if e.method == "lifecycle"]


def test_one_run() -> None:
    p, clock = make()
    assert state(p) is RunState.IDLE
    [running] = p.start_run("r1", "agent", timestamp=clock())
    assert (running.method, running.namespace, running.data) == (
        "lifecycle",
        (),
        {"event": "running", "graph_name": "agent"},
    )
    assert running.event_id == "synth:r1:1"
    assert state(p) is RunState.RUNNING and p.run_id == "r1" and p.graph_name == "agent"
    [values] = p.push(Part("values", (), {"x": 1}), timestamp=clock())
    assert values.seq == 2
    [done] = p.finish(timestamp=clock())
    assert done.data == {"event": "completed", "graph_name": "agent"}
    assert state(p) is RunState.COMPLETED
    tracker = RunTracker()
    for event in p.log.replay():  # type: ignore[union-attr]
        tracker.observe(event)
    assert [(r.run_id, r.status) for r in tracker.runs] == [("r1", "completed")]


def test_runs_follow_each_other_with_monotonic_seq() -> None:
    p, clock = make()
    p.start_run("r1", "agent", timestamp=clock())
    p.push({"type": "values", "ns": (), "data": 1}, timestamp=clock())
    p.finish("failed", timestamp=clock(), error="boom")
    assert (p.state, p.error) == (RunState.FAILED, "boom")
    p.start_run("r2", "agent", timestamp=clock())
    assert p.error is None
    p.finish("interrupted", timestamp=clock())
    p.start_run("r3", "other", timestamp=clock())
    p.finish(timestamp=clock())
    events = p.log.replay()
    assert [e.seq for e in events] == list(range(1, 8))  # type: ignore[union-attr]
    assert lifecycle(events) == [
        ((), "running"),
        ((), "failed"),
        ((), "running"),
        ((), "interrupted"),
        ((), "running"),
        ((), "completed"),
    ]
    failed = events[2]  # type: ignore[index]
    assert failed.data == {"event": "failed", "graph_name": "agent", "error": "boom"}
    tracker = RunTracker()
    for event in events:  # type: ignore[union-attr]
        tracker.observe(event)
    assert [(r.run_id, r.status, r.error) for r in tracker.runs] == [
        ("r1", "failed", "boom"),
        ("r2", "interrupted", None),
        ("r3", "completed", None),
    ]


def test_exactly_one_terminal() -> None:
    p, clock = make()
    with pytest.raises(LocalProtocolError, match="no run has started"):
        p.push(Part("values"), timestamp=clock())
    with pytest.raises(LocalProtocolError, match="no run has started"):
        p.finish(timestamp=clock())
    p.start_run("r1", "g", timestamp=clock())
    with pytest.raises(LocalProtocolError, match="'running' is not allowed"):
        p.start_run("r2", "g", timestamp=clock())
    p.finish(timestamp=clock())
    actions: list[Callable[[], object]] = [
        lambda: p.finish(timestamp=clock()),
        lambda: p.finish("failed", timestamp=clock(), error="x"),
        lambda: p.push(Part("values"), timestamp=clock()),
        lambda: p.open_namespace(["a"], timestamp=clock()),
        lambda: p.close_namespace(["a"], timestamp=clock()),
    ]
    for action in actions:
        with pytest.raises(LocalProtocolError, match="already ended completed"):
            action()
    assert len(p.log) == 2


@pytest.mark.parametrize(
    ("outcome", "error", "match"),
    [
        ("failed", None, "needs the error text"),
        ("failed", "", "needs the error text"),
        ("completed", "x", "only for a failed"),
        ("interrupted", "x", "only for a failed"),
        ("done", None, "completed, failed or interrupted"),
        ("running", None, "completed, failed or interrupted"),
    ],
)
def test_finish_validation(outcome: str, error: Any, match: str) -> None:
    p, clock = make()
    p.start_run("r1", "g", timestamp=clock())
    with pytest.raises(LocalProtocolError, match=match):
        p.finish(outcome, timestamp=clock(), error=error)
    assert state(p) is RunState.RUNNING


def test_start_run_validation_leaves_state_alone() -> None:
    p, clock = make()
    with pytest.raises(LocalProtocolError, match="graph_name"):
        p.start_run("r1", "", timestamp=clock())
    with pytest.raises(LocalProtocolError, match="run_id"):
        p.start_run("bad:id", "g", timestamp=clock())
    assert (p.state, p.run_id, p.log.high_seq) == (RunState.IDLE, None, 0)
    p.start_run("r1", "g", timestamp=clock())
    p.finish(timestamp=clock())
    with pytest.raises(LocalProtocolError, match="timestamp"):
        p.start_run("r2", "g", timestamp=-5)
    assert (p.state, p.run_id) == (RunState.COMPLETED, "r1")


def test_children_started_before_their_first_event() -> None:
    p, clock = make()
    p.start_run("r1", "agent", timestamp=clock())
    events = p.push(Part("values", ["child:t1", "grand:t2"], {"x": 1}), timestamp=clock())
    assert [(e.method, e.namespace) for e in events] == [
        ("lifecycle", ("child:t1",)),
        ("lifecycle", ("child:t1", "grand:t2")),
        ("values", ("child:t1", "grand:t2")),
    ]
    assert events[0].data == {
        "event": "started",
        "namespace": ["child:t1"],
        "graph_name": "child",
        "trigger_call_id": "t1",
    }
    assert events[1].data["trigger_call_id"] == "t2"
    # Later events of open namespaces start nothing.
    assert len(p.push(Part("values", ["child:t1", "grand:t2"], 2), timestamp=clock())) == 1
    assert len(p.push(Part("values", ["child:t1"], 3), timestamp=clock())) == 1
    # A sibling under an open parent starts only itself; a segment without ":" has no trigger.
    sibling = p.push(Part("values", ["child:t1", "plain"], 4), timestamp=clock())
    assert sibling[0].data == {
        "event": "started",
        "namespace": ["child:t1", "plain"],
        "graph_name": "plain",
    }
    assert p.open_namespaces == [("child:t1",), ("child:t1", "grand:t2"), ("child:t1", "plain")]


def test_finish_closes_children_innermost_first() -> None:
    p, clock = make()
    p.start_run("r1", "agent", timestamp=clock())
    p.push(Part("values", ["a:1"], 1), timestamp=clock())
    p.push(Part("values", ["b:2"], 1), timestamp=clock())
    p.push(Part("values", ["a:1", "c:3"], 1), timestamp=clock())
    events = p.finish("failed", timestamp=clock(), error="boom")
    assert [(e.namespace, e.data) for e in events] == [
        (("a:1", "c:3"), {"event": "failed", "graph_name": "c", "error": "boom"}),
        (("b:2",), {"event": "failed", "graph_name": "b", "error": "boom"}),
        (("a:1",), {"event": "failed", "graph_name": "a", "error": "boom"}),
        ((), {"event": "failed", "graph_name": "agent", "error": "boom"}),
    ]
    assert p.open_namespaces == []
    assert p.tree() == {
        "namespace": [],
        "status": "failed",
        "graph_name": "agent",
        "children": [
            {
                "namespace": ["a:1"],
                "status": "failed",
                "graph_name": "a",
                "children": [{"namespace": ["a:1", "c:3"], "status": "failed", "graph_name": "c"}],
            },
            {"namespace": ["b:2"], "status": "failed", "graph_name": "b"},
        ],
    }


def test_explicit_namespaces() -> None:
    p, clock = make()
    p.start_run("r1", "agent", timestamp=clock())
    cause = {"type": "toolCall", "tool_call_id": "call_1"}
    events = p.open_namespace(
        ["tools:x", "researcher:y"],
        timestamp=clock(),
        graph_name="research_agent",
        trigger_call_id="task-9",
        cause=cause,
    )
    assert [e.data for e in events] == [
        {
            "event": "started",
            "namespace": ["tools:x"],
            "graph_name": "tools",
            "trigger_call_id": "x",
        },
        {
            "event": "started",
            "namespace": ["tools:x", "researcher:y"],
            "graph_name": "research_agent",
            "trigger_call_id": "task-9",
            "cause": cause,
        },
    ]
    with pytest.raises(LocalProtocolError, match="'started' is not allowed"):
        p.open_namespace(["tools:x"], timestamp=clock())
    closed = p.close_namespace(["tools:x"], "interrupted", timestamp=clock())
    assert [(e.namespace, e.data["event"]) for e in closed] == [
        (("tools:x", "researcher:y"), "interrupted"),
        (("tools:x",), "interrupted"),
    ]
    assert closed[0].data["graph_name"] == "research_agent"
    with pytest.raises(LocalProtocolError, match="is not open"):
        p.close_namespace(["tools:x"], timestamp=clock())
    with pytest.raises(LocalProtocolError, match="is not open"):
        p.close_namespace(["never"], timestamp=clock())
    # Re-entering a namespace in the same run starts it again (same graph name).
    again = p.push(Part("values", ["tools:x", "researcher:y"], 1), timestamp=clock())
    assert lifecycle(again) == [(("tools:x",), "started"), (("tools:x", "researcher:y"), "started")]
    assert again[1].data["graph_name"] == "research_agent"
    assert p.tree()["children"][0]["children"][0]["status"] == "running"
    failed = p.close_namespace(["tools:x", "researcher:y"], "failed", timestamp=clock())
    assert failed[0].data == {"event": "failed", "graph_name": "research_agent"}
    failed = p.close_namespace(["tools:x"], "failed", timestamp=clock(), error="e")
    assert failed[0].data == {"event": "failed", "graph_name": "tools", "error": "e"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"namespace": []}, "non-empty sequence"),
        ({"namespace": "abc"}, "sequence of strings"),
        ({"namespace": ["a", ""]}, "non-empty strings"),
        ({"graph_name": ""}, "graph_name"),
        ({"trigger_call_id": 5}, "trigger_call_id"),
        ({"cause": {"tool_call_id": "x"}}, "cause"),
        ({"cause": "toolCall"}, "cause"),
    ],
)
def test_open_namespace_validation(kwargs: dict[str, Any], match: str) -> None:
    p, clock = make()
    p.start_run("r1", "agent", timestamp=clock())
    args: dict[str, Any] = {"namespace": ["a:1"], **kwargs}
    with pytest.raises(LocalProtocolError, match=match):
        p.open_namespace(args.pop("namespace"), timestamp=clock(), **args)


def test_close_namespace_validation() -> None:
    p, clock = make()
    p.start_run("r1", "agent", timestamp=clock())
    p.push(Part("values", ["a:1"], 1), timestamp=clock())
    with pytest.raises(LocalProtocolError, match="completed, failed or interrupted"):
        p.close_namespace(["a:1"], "started", timestamp=clock())
    with pytest.raises(LocalProtocolError, match="only for a failed"):
        p.close_namespace(["a:1"], "completed", timestamp=clock(), error="x")
    with pytest.raises(LocalProtocolError, match="non-empty sequence"):
        p.close_namespace([], timestamp=clock())


def test_child_lifecycle_parts() -> None:
    p, clock = make()
    p.start_run("r1", "agent", timestamp=clock())
    started = {
        "event": "started",
        "graph_name": "researcher",
        "trigger_call_id": "task-1",
        "cause": {"type": "toolCall", "tool_call_id": "call_1"},
    }
    events = p.push(Part("lifecycle", ["researcher:task-1"], started), timestamp=clock())
    assert events[0].data == {"namespace": ["researcher:task-1"], **started}
    # The graph's own "started" after the namespace was opened is not repeated.
    assert p.push(Part("lifecycle", ["researcher:task-1"], started), timestamp=clock()) == []
    p.push(Part("values", ["late:1"], 1), timestamp=clock())
    assert p.push(Part("lifecycle", ["late:1"], {"event": "started"}), timestamp=clock()) == []
    done = p.push(Part("lifecycle", ["late:1"], {"event": "completed"}), timestamp=clock())
    assert done[0].data == {"event": "completed", "graph_name": "late"}
    failed = p.push(
        Part("lifecycle", ["researcher:task-1"], {"event": "failed", "error": "x"}),
        timestamp=clock(),
    )
    assert failed[0].data == {"event": "failed", "graph_name": "researcher", "error": "x"}
    with pytest.raises(LocalProtocolError, match="root lifecycle belongs"):
        p.push(Part("lifecycle", (), {"event": "completed"}), timestamp=clock())
    for data in ({"event": "running"}, {"event": "drained"}, {}, "started"):
        with pytest.raises(LocalProtocolError, match="child lifecycle part must be"):
            p.push(Part("lifecycle", ["x:1"], data), timestamp=clock())


def test_interrupts_become_input_requested() -> None:
    p, clock = make()
    p.start_run("r1", "agent", timestamp=clock())
    events = p.push(
        Part("values", (), {"x": 1, "__interrupt__": [{"id": "i1", "value": {"q": 1}}]}),
        timestamp=clock(),
    )
    assert [(e.method, e.data) for e in events] == [
        ("values", {"x": 1}),
        ("input.requested", {"interrupt_id": "i1", "payload": {"q": 1}}),
    ]
    # The next snapshot still carries it: not sent again in this run.
    again = p.push(
        Part("values", (), {"x": 1}, interrupts=[{"id": "i1", "value": {"q": 1}}]),
        timestamp=clock(),
    )
    assert [e.method for e in again] == ["values"]
    # An updates event that only carried the interrupt is not sent; one with more is stripped.
    only = p.push(
        Part("updates", (), {"__interrupt__": [{"id": "i2", "value": 2}]}), timestamp=clock()
    )
    assert [e.method for e in only] == ["input.requested"]
    more = p.push(
        Part("updates", (), {"n": {}, "__interrupt__": [{"id": "i3", "value": 3}]}),
        timestamp=clock(),
    )
    assert [(e.method, e.data) for e in more] == [
        ("updates", {"n": {}}),
        ("input.requested", {"interrupt_id": "i3", "payload": 3}),
    ]
    # An input part and a nested interrupt (its namespace is started first).
    direct = p.push(Part("input", (), {"interrupt_id": "i4", "value": 4}), timestamp=clock())
    assert direct[0].data == {"interrupt_id": "i4", "payload": 4}
    nested = p.push(
        Part("values", (), {}, interrupts=[{"id": "i5", "value": 5, "namespace": ["sub:1"]}]),
        timestamp=clock(),
    )
    assert [(e.method, e.namespace) for e in nested] == [
        ("values", ()),
        ("lifecycle", ("sub:1",)),
        ("input.requested", ("sub:1",)),
    ]
    assert set(p.pending_interrupts) == {"i1", "i2", "i3", "i4", "i5"}
    assert p.pending_interrupts["i5"] == PendingInterrupt(
        interrupt_id="i5", namespace=("sub:1",), payload=5, run_id="r1"
    )
    # Completed with interrupts unanswered means interrupted; they stay pending.
    end = p.finish(timestamp=clock())
    assert lifecycle(end) == [(("sub:1",), "interrupted"), ((), "interrupted")]
    assert len(p.pending_interrupts) == 5
    tracker = RunTracker()
    for event in p.log.replay():  # type: ignore[union-attr]
        tracker.observe(event)
    assert [i.interrupt_id for i in tracker.pending_interrupts] == ["i1", "i2", "i3", "i4", "i5"]
    assert tracker.state is RunState.INTERRUPTED


def test_input_part_needs_an_id() -> None:
    p, clock = make()
    p.start_run("r1", "agent", timestamp=clock())
    for data in ({"payload": 1}, {"interrupt_id": ""}, None):
        with pytest.raises(LocalProtocolError, match="interrupt_id"):
            p.push(Part("input", (), data), timestamp=clock())


def test_interrupt_ids_are_derived_deterministically() -> None:
    def produce() -> list[str]:
        p, clock = make()
        p.start_run("r1", "agent", timestamp=clock())
        events = p.push(
            Part("values", (), {}, interrupts=[{"value": 1}, {"value": 2}]), timestamp=clock()
        )
        return [e.data["interrupt_id"] for e in events if e.method == "input.requested"]

    first, second = produce(), produce()
    assert first == second
    assert len(set(first)) == 2
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in first)


def test_interrupt_raised_again_in_the_next_run() -> None:
    p, clock = make()
    p.start_run("r1", "agent", timestamp=clock())
    p.push(
        Part("values", (), {}, interrupts=[{"id": "a", "value": 1}, {"id": "b", "value": 2}]),
        timestamp=clock(),
    )
    p.finish(timestamp=clock())
    answers = p.take_responses(InputRespond(interrupt_id="a", response="yes"))
    assert answers == {"a": "yes"}
    assert set(p.pending_interrupts) == {"b"}
    p.start_run("r2", "agent", timestamp=clock())
    assert p.pending_interrupts == {}
    again = p.push(Part("values", (), {}, interrupts=[{"id": "b", "value": 2}]), timestamp=clock())
    assert [e.method for e in again] == ["values", "input.requested"]
    assert p.pending_interrupts["b"].run_id == "r2"
    done = p.finish("failed", timestamp=clock(), error="x")
    assert done[-1].data["event"] == "failed"
    assert p.pending_interrupts == {}


def test_take_responses_all_or_nothing() -> None:
    p, clock = make()
    p.start_run("r1", "agent", timestamp=clock())
    p.push(Part("values", ["sub:1"], {}, interrupts=[{"id": "a", "value": 1}]), timestamp=clock())
    p.push(Part("values", (), {}, interrupts=[{"id": "b", "value": 2}]), timestamp=clock())
    p.finish(timestamp=clock())

    def batch(*entries: tuple[str, tuple[str, ...]]) -> InputRespondBatch:
        return InputRespondBatch(
            responses=[
                InterruptResponse(interrupt_id=i, namespace=ns, response=i) for i, ns in entries
            ]
        )

    with pytest.raises(CommandRejected) as info:
        p.take_responses(batch(("a", ("sub:1",)), ("zzz", ())))
    assert (info.value.code, info.value.message) == (
        "no_such_interrupt",
        "Unknown or already-consumed interrupt: zzz",
    )
    with pytest.raises(CommandRejected, match="does not match") as info:
        p.take_responses(InputRespond(interrupt_id="a", response=1))
    assert info.value.code == "no_such_interrupt"
    with pytest.raises(CommandRejected, match="answered twice") as info:
        p.take_responses(batch(("b", ()), ("b", ())))
    assert info.value.code == "invalid_argument"
    assert set(p.pending_interrupts) == {"a", "b"}
    assert p.take_responses(batch(("a", ("sub:1",)), ("b", ()))) == {"a": "a", "b": "b"}
    assert p.pending_interrupts == {}
    with pytest.raises(CommandRejected, match="already-consumed"):
        p.take_responses(InputRespond(interrupt_id="b", response=1))


def test_tree() -> None:
    p, clock = make()
    with pytest.raises(CommandRejected) as info:
        p.tree()
    assert info.value.code == "no_such_run"
    p.start_run("r1", "agent", timestamp=clock())
    assert p.tree() == {"namespace": [], "status": "running", "graph_name": "agent"}
    p.push(Part("values", ["a:1"], 1), timestamp=clock())
    p.close_namespace(["a:1"], timestamp=clock())
    assert p.tree()["children"] == [
        {"namespace": ["a:1"], "status": "completed", "graph_name": "a"}
    ]
    p.finish(timestamp=clock())
    p.start_run("r2", "agent", timestamp=clock())
    assert "children" not in p.tree()  # the tree is the current run's


def test_limits() -> None:
    p = RunProducer(EventLog(), max_pending_interrupts=2, max_namespaces=2)
    clock = Clock()
    p.start_run("r1", "agent", timestamp=clock())
    p.push(Part("values", ["a", "b"], 1), timestamp=clock())
    with pytest.raises(LocalProtocolError, match="max_namespaces"):
        p.push(Part("values", ["c"], 1), timestamp=clock())
    p.push(Part("values", (), {}, interrupts=[{"id": "1"}, {"id": "2"}]), timestamp=clock())
    with pytest.raises(LocalProtocolError, match="max_pending_interrupts"):
        p.push(Part("input", (), {"interrupt_id": "3"}), timestamp=clock())
