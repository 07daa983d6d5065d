"""The tool-calls, tree, values and extensions reducers, and the projector.

Charter: tool calls in any namespace with deltas, output, errors, the link to
the asking message, and settling at the end of a run or stream; the namespace
tree at any depth, discovered from any event (before ``lifecycle started``,
as on the real server), with statuses from lifecycle events and the run's
outcome for children still open; values per namespace, root history and the
run's output from the stream; custom events by name; the projector wiring
them and ending runs.
"""

from __future__ import annotations

from typing import Any

import pytest
from projection_helpers import block, ev, lifecycle, msg, start

from threadwire.protocol import LimitExceeded, RemoteProtocolError, RunTracker, ToolCallCause
from threadwire.protocol.projections import (
    OPEN_STATUSES,
    RUN_OUTCOMES,
    ExtensionsReducer,
    ExtensionUpdate,
    MessagesReducer,
    Projector,
    RunOutcome,
    RunOutput,
    ToolCallSource,
    ToolCallsReducer,
    TreeReducer,
    ValuesReducer,
    ValuesUpdate,
    unpack_custom,
)


def tool(event: str, call_id: str = "c1", ns: tuple[str, ...] = (), **data: Any) -> Any:
    return ev("tools", {"event": event, "tool_call_id": call_id, **data}, ns)


# -- tool calls ------------------------------------------------------------------------------


def test_a_tool_call_from_start_to_finish_linked_to_its_message() -> None:
    messages = MessagesReducer()
    reducer = ToolCallsReducer(history=True, messages=messages)
    messages.apply(msg(start("m1")))
    messages.apply(msg(block(2, {"type": "tool_call_chunk", "id": "c1", "name": "get"})))
    started = reducer.apply(tool("tool-started", tool_name="get", input={"city": "Paris"}))
    assert started is not None and started.kind == "started"
    assert reducer.apply(tool("tool-output-delta", delta="look")) is not None
    reducer.apply(tool("tool-output-delta", delta="ing"))
    done = reducer.apply(tool("tool-finished", output={"content": "sunny"}))
    assert done is not None and done.kind == "finished" and done.delta == {"content": "sunny"}
    (call,) = reducer.calls
    assert call.tool_name == "get" and call.input == {"city": "Paris"}
    assert call.deltas == ["look", "ing"]
    assert call.output == {"content": "sunny"} and call.status == "finished" and call.done
    assert call.source == ToolCallSource(message_id="m1", namespace=(), index=2)
    assert reducer.running == []
    assert "finished" in repr(call)


def test_tool_errors_and_namespaces() -> None:
    reducer = ToolCallsReducer(history=True)
    reducer.apply(tool("tool-started", "a", ("agent:1",), tool_name="x"))
    reducer.apply(tool("tool-started", "a", (), tool_name="y"))
    update = reducer.apply(tool("tool-error", "a", ("agent:1",), message="nope", code="E1"))
    assert update is not None and update.kind == "error" and update.delta == "nope"
    first, second = reducer.calls
    assert (first.namespace, first.status, first.error, first.error_code) == (
        ("agent:1",),
        "error",
        "nope",
        "E1",
    )
    assert second.status == "running" and second.source is None
    assert [c.tool_name for c in reducer.running] == ["y"]


def test_tool_events_for_calls_never_started_are_ignored() -> None:
    reducer = ToolCallsReducer()
    assert reducer.apply(tool("tool-output-delta", delta="x")) is None
    assert reducer.apply(tool("tool-finished", output=1)) is None
    assert reducer.apply(ev("tools", {"event": "tool-paused", "tool_call_id": "c1"})) is None
    assert reducer.apply(ev("values", {})) is None


def test_the_link_is_found_late_when_the_message_comes_after() -> None:
    messages = MessagesReducer()
    reducer = ToolCallsReducer(history=True, messages=messages)
    reducer.apply(tool("tool-started", tool_name="t"))
    messages.apply(msg(start("m")))
    messages.apply(msg(block(0, {"type": "tool_call_chunk", "id": "c1"})))
    reducer.apply(tool("tool-finished", output=None))
    assert reducer.calls[0].source == ToolCallSource(message_id="m", namespace=(), index=0)


def test_a_restarted_call_settles_the_earlier_one() -> None:
    reducer = ToolCallsReducer(history=True)
    reducer.apply(tool("tool-started", tool_name="t"))
    reducer.apply(tool("tool-started", tool_name="t"))
    first, second = reducer.calls
    assert first.status == "error" and first.closed == first.error
    assert first.error == "tool-started came again for the same tool_call_id"
    assert reducer.running == [second]


def test_running_calls_at_the_end_of_a_run_or_stream() -> None:
    reducer = ToolCallsReducer(history=True, messages=MessagesReducer())
    reducer.apply(tool("tool-started", "a", tool_name="t"))
    (update,) = reducer.end_of_run(RunOutcome(status="failed", error="boom"))
    assert update.kind == "closed"
    call = reducer.calls[0]
    assert call.status == "error"
    assert call.error == call.closed == "the run failed before the tool call finished: boom"
    reducer.apply(tool("tool-started", "b", tool_name="t"))
    (update,) = reducer.close()
    assert update.call.status == "running" and update.call.done
    assert update.call.closed == "the stream ended before the tool call finished"
    assert reducer.running == [] and reducer.close() == []


def test_tool_limits_and_malformed_events() -> None:
    reducer = ToolCallsReducer(max_running=1)
    reducer.apply(tool("tool-started", "a", tool_name="t"))
    with pytest.raises(LimitExceeded):
        reducer.apply(tool("tool-started", "b", tool_name="t"))
    with pytest.raises(RemoteProtocolError, match="tool_name"):
        reducer.apply(tool("tool-started", "c"))
    with pytest.raises(RemoteProtocolError, match="must be an object"):
        reducer.apply(ev("tools", ["x"]))


# -- the tree --------------------------------------------------------------------------------

CHILD = ("child:1",)
GRAND = ("child:1", "grandchild:2")


def test_the_tree_at_any_depth_discovered_from_any_event() -> None:
    tree = TreeReducer()
    # The grandchild's first event brings its parent along.
    update = tree.apply(ev("values", {}, GRAND, seq=3))
    assert update is not None and update.kind == "discovered"
    assert [n.namespace for n in tree.nodes] == [CHILD, GRAND]
    child = tree.find(CHILD)
    assert child is not None and child.graph_name == "child" and child.trigger_call_id == "1"
    assert child.status == "started" and child.discovered_seq == 3 and child.depth == 1
    assert [c.namespace for c in tree.root.children] == [CHILD]
    assert [n.namespace for n in tree.root.walk()] == [CHILD, GRAND]
    assert tree.find(()) is tree.root and tree.find(("nope",)) is None
    assert tree.apply(ev("values", {}, GRAND)) is None  # already known
    # lifecycle ``started`` after the first values (the real server's order).
    update = tree.apply(
        ev(
            "lifecycle",
            {
                "event": "started",
                "namespace": list(GRAND),
                "graph_name": "gc",
                "trigger_call_id": "t2",
            },
            GRAND,
        )
    )
    assert update is not None and update.kind == "status"
    grand = tree.find(GRAND)
    assert grand is not None and (grand.graph_name, grand.trigger_call_id) == ("gc", "t2")
    assert grand.parent is child and not grand.done
    tree.apply(ev("lifecycle", {"event": "failed", "error": "bad"}, GRAND))
    assert (grand.status, grand.error, grand.done) == ("failed", "bad", True)
    assert "failed" in repr(grand)


def test_subagents_have_a_tool_call_cause() -> None:
    tree = TreeReducer()
    ns = ("tools:task1",)
    update = tree.apply(
        ev(
            "lifecycle",
            {
                "event": "started",
                "graph_name": "researcher",
                "trigger_call_id": "task1",
                "cause": {"type": "toolCall", "tool_call_id": "call_9"},
            },
            ns,
        )
    )
    assert update is not None and update.kind == "discovered"
    node = update.node
    assert node.is_subagent and node.cause == ToolCallCause(tool_call_id="call_9")
    assert node.graph_name == "researcher"
    plain = tree.apply(ev("values", {}, ("plain",)))
    assert plain is not None and plain.node.trigger_call_id is None and not plain.node.is_subagent


def test_children_still_open_take_the_runs_outcome() -> None:
    tree = TreeReducer()
    tree.apply(lifecycle("running"))
    assert tree.root.status == "running" and tree.root.graph_name is None
    tree.apply(ev("lifecycle", {"event": "running", "graph_name": "g"}, CHILD))
    tree.apply(ev("values", {}, ("done:1",)))
    tree.apply(ev("lifecycle", {"event": "completed"}, ("done:1",)))
    tree.apply(ev("lifecycle", {"event": "drained"}, ("done:1",)))  # unknown: ignored
    tree.apply(ev("lifecycle", {"event": "drained"}))
    updates = tree.end_of_run(RunOutcome(status="failed", error="boom"))
    assert [u.node.namespace for u in updates] == [CHILD]
    child = tree.find(CHILD)
    assert child is not None and (child.status, child.error) == ("failed", "boom")
    assert tree.find(("done:1",)).status == "completed"  # type: ignore[union-attr]
    assert (tree.root.status, tree.root.error) == ("failed", "boom")
    # A resumed child starts again; an interrupted run interrupts it.
    tree.apply(ev("lifecycle", {"event": "started"}, CHILD))
    tree.end_of_run(RunOutcome(status="interrupted"))
    assert (child.status, child.error) == ("interrupted", None)
    tree.apply(lifecycle("failed", error="x", graph_name="root-graph"))
    assert tree.root.graph_name == "root-graph"
    assert tree.close() == []
    assert {"started", "running"} == OPEN_STATUSES


def test_tree_limit_and_malformed_lifecycle() -> None:
    tree = TreeReducer(max_namespaces=2)
    tree.apply(ev("values", {}, GRAND))
    with pytest.raises(LimitExceeded):
        tree.apply(ev("values", {}, ("other",)))
    with pytest.raises(RemoteProtocolError):
        tree.apply(ev("lifecycle", {"no": "event"}, CHILD))


# -- values ----------------------------------------------------------------------------------


def test_values_per_namespace_history_and_output() -> None:
    values = ValuesReducer(history=True)
    assert values.values is None
    assert values.apply(ev("values", {"a": 1})) == ValuesUpdate((), {"a": 1})
    values.apply(ev("values", {"c": 1}, CHILD))
    values.apply(ev("values", {"a": 2}))
    assert values.apply(ev("updates", {"x": {}})) is None
    assert values.values == {"a": 2}
    assert values.latest == {(): {"a": 2}, CHILD: {"c": 1}}
    assert values.history == [{"a": 1}, {"a": 2}]
    outcome = RunOutcome(status="completed", run_id="r1")
    assert values.end_of_run(outcome) == RunOutput(outcome, {"a": 2})
    assert values.output == RunOutput(outcome, {"a": 2})
    assert values.outputs == [values.output]
    values.close()


def test_values_without_history_and_limit() -> None:
    values = ValuesReducer(max_namespaces=1)
    values.apply(ev("values", {"a": 1}))
    values.apply(ev("values", {"a": 2}))
    assert values.history == [] and values.values == {"a": 2}
    values.end_of_run(RunOutcome(status="failed", error="e"))
    assert values.outputs == [] and values.output is not None
    with pytest.raises(LimitExceeded):
        values.apply(ev("values", {}, CHILD))


# -- extensions ------------------------------------------------------------------------------


def test_custom_events_by_name() -> None:
    reducer = ExtensionsReducer(history=True)
    updates = [
        reducer.apply(ev("custom", {"name": "progress", "payload": {"step": 1}}, CHILD)),
        reducer.apply(ev("custom", {"name": "progress", "note": "no payload"})),
        reducer.apply(ev("custom", {"payload": {"plain": 1}})),
        reducer.apply(ev("custom", {"name": None, "payload": 2})),
        reducer.apply(ev("custom", {"status": "done"})),
        reducer.apply(ev("custom", {"payload": 3, "other": 1})),
        reducer.apply(ev("custom", "a string")),
        reducer.apply(ev("custom", {"name": 7, "payload": 4})),
    ]
    assert updates[0] == ExtensionUpdate("progress", {"step": 1}, CHILD)
    assert reducer.named == {"progress": [{"step": 1}, {"name": "progress", "note": "no payload"}]}
    assert reducer.unnamed == [
        {"plain": 1},
        2,
        {"status": "done"},
        {"payload": 3, "other": 1},
        "a string",
        {"name": 7, "payload": 4},
    ]
    assert reducer.apply(ev("values", {})) is None
    reducer.end_of_run(RunOutcome(status="completed"))
    reducer.close()
    quiet = ExtensionsReducer()
    assert quiet.apply(ev("custom", {"name": "x", "payload": 1})) == ExtensionUpdate("x", 1, ())
    assert quiet.named == {} and quiet.unnamed == []
    assert unpack_custom({"name": "", "payload": 5}) == (None, 5)


# -- outcome and projector -------------------------------------------------------------------


def test_run_outcome() -> None:
    assert {"completed", "failed", "interrupted"} == RUN_OUTCOMES
    with pytest.raises(ValueError, match=r"RunOutcome\.status"):
        RunOutcome(status="running")
    assert RunOutcome(status="failed").reason("x") == "the run failed before x"
    assert RunOutcome(status="completed").reason("x") == "the run was completed before x"


def test_projector_ends_runs_and_reports_the_outcome() -> None:
    projector = Projector(history=True)
    assert projector.apply(lifecycle("running", run="r1")) is None
    projector.apply(msg(start()))
    projector.apply(tool("tool-started", tool_name="t"))
    projector.apply(ev("values", {"v": 1}))
    projector.apply(ev("custom", {"name": "n", "payload": 1}))
    projector.apply(ev("values", {}, CHILD))
    projector.apply(ev("input.requested", {"interrupt_id": "i1", "payload": {"q": 1}}))
    outcome = projector.apply(lifecycle("interrupted", run="r1"))
    assert outcome == RunOutcome(status="interrupted", run_id="r1")
    assert projector.messages.messages[0].closed is not None
    assert projector.tool_calls.calls[0].status == "error"
    assert projector.tree.find(CHILD).status == "interrupted"  # type: ignore[union-attr]
    assert projector.values.output == RunOutput(outcome, {"v": 1})
    assert [(i.interrupt_id, i.payload, i.status) for i in projector.interrupts] == [
        ("i1", {"q": 1}, "pending")
    ]
    assert projector.extensions.named == {"n": [1]}
    projector.apply(lifecycle("running", run="r2"))
    projector.apply(msg(start("m2")))
    projector.close()
    assert projector.closed == "the stream ended"
    assert projector.messages.messages[1].closed == ("the stream ended before the message finished")
    assert projector.interrupts[0].status == "resumed"


def test_projector_failed_run_error_and_a_shared_tracker() -> None:
    runs = RunTracker()
    projector = Projector(runs=runs)
    event = lifecycle("failed", run="r9", error="boom")
    runs.observe(event)  # the session feeds a shared tracker first
    outcome = projector.apply(event)
    assert outcome == RunOutcome(status="failed", error="boom", run_id="r9")
    unnamed = ev("lifecycle", {"event": "completed"})  # no synthetic id: the tracker's run
    runs.observe(lifecycle("running", run="r10"))
    runs.observe(unnamed)
    assert projector.apply(unnamed) == RunOutcome(status="completed", run_id="r10")
    with pytest.raises(RemoteProtocolError, match="must be an object"):
        projector.apply(ev("lifecycle", "odd"))


def test_projector_run_id_unknown_and_bad_error() -> None:
    projector = Projector(runs=RunTracker())
    assert projector.apply(ev("lifecycle", {"event": "completed"})) == RunOutcome(
        status="completed"
    )
    with pytest.raises(RemoteProtocolError, match="error must be a string"):
        Projector().apply(lifecycle("failed", error=5))
