"""Every captured fixture replays to the summary of the run it came from.

Charter: each fixture under ``tests/data/replay`` (the shared corpus and the
interop captures) is replayed and its summary checked field by field against
what the run produced: the final state, the graph's known messages, tool
outputs, interrupts and errors (read from the raw captures and the graphs'
docstrings). Where ``sdk_observed.json`` records what the official SDK showed
on the same scenario (on another thread, so ids differ), the summary must
agree, except where PROTOCOL.md Appendix C names an SDK defect; there the
right answer is asserted instead (interrupt payloads, values from the stream,
grandchildren in the tree).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from projection_helpers import DATA, SHARED, read, run_replay, summary_of

from threadwire.protocol.projections import SUMMARY_KEYS, ToolCallSource, replay

CHAT_RUN = "01a1fc7a-27d4-76d4-be9f-c1e90e8e4453"
M_FIRST = "lc_run--01a1fc7a-2b88-76a4-be56-d2444d486e96"
M_SECOND = "lc_run--01a1fc7a-2b94-714e-bcef-73e57f000080"
REASONING = "The user asks about weather so I should call the tool"
TOOL_OUTPUT = {
    "content": "It is sunny in Paris, 21C",
    "additional_kwargs": {},
    "response_metadata": {},
    "type": "tool",
    "name": "get_weather",
    "id": None,
    "tool_call_id": "call_weather_1",
    "artifact": None,
    "status": "success",
}
FIRST_MESSAGE = {
    "id": M_FIRST,
    "namespace": [],
    "role": "ai",
    "text": "Let me check the weather for you.",
    "reasoning": REASONING,
    "tool_calls": [{"id": "call_weather_1", "name": "get_weather", "args": {"city": "Paris"}}],
    "usage": None,
    "status": "finished",
}
TOOL_MESSAGE = {
    "id": "tool-call_weather_1",
    "namespace": ["tools:call_weather_1"],
    "role": "tool",
    "text": "It is sunny in Paris, 21C",
    "reasoning": "",
    "tool_calls": [],
    "usage": None,
    "status": "finished",
}
LAST_MESSAGE = {
    "id": M_SECOND,
    "namespace": [],
    "role": "ai",
    "text": "The weather in Paris is sunny and 21 degrees.",
    "reasoning": "",
    "tool_calls": [],
    "usage": None,
    "status": "finished",
}
TOOL_CALL = {
    "tool_call_id": "call_weather_1",
    "tool_name": "get_weather",
    "namespace": [],
    "input": {"city": "Paris"},
    "deltas": ["looking up ", "Paris"],
    "output": TOOL_OUTPUT,
    "status": "finished",
    "error": None,
}


def sdk(scenario: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SHARED / scenario / "sdk_observed.json").read_text())
    return data


def strip_ids(value: Any) -> Any:
    """Values without message ids (the SDK's observations ran on other threads)."""
    if isinstance(value, dict):
        return {k: strip_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [strip_ids(v) for v in value]
    return value


def through(body: bytes, seq: int) -> bytes:
    """The SSE body up to and including the event with ``id: seq``."""
    marker = f"id: {seq}\r\n\r\n".encode()
    return body[: body.index(marker) + len(marker)]


# -- the whole corpus ---------------------------------------------------------------------

ALL_FILES = sorted(
    str(p.relative_to(DATA))
    for p in DATA.rglob("*")
    if p.suffix in (".raw", ".jsonl") and p.name != "commands.jsonl"
)
BAD_BODIES = {
    "shared/errors/sse_bad_json.raw",
    "shared/errors/sse_channel_custom_colon_empty.raw",
    "shared/errors/sse_empty_channels.raw",
    "shared/errors/sse_no_channels.raw",
    "shared/errors/sse_unknown_channel.raw",
}


def test_the_corpus_is_all_here() -> None:
    assert len(ALL_FILES) == 51  # 43 shared (with 7 empty ws.jsonl) + 8 captures
    assert "shared/websocket/ws.jsonl" in ALL_FILES


@pytest.mark.parametrize("path", ALL_FILES)
def test_every_fixture_replays(path: str) -> None:
    result = run_replay(path)
    summary = result.to_json()
    assert tuple(summary) == SUMMARY_KEYS
    json.dumps(summary)  # plain JSON all the way down
    if path in BAD_BODIES:
        # These are HTTP 400 bodies, not event streams: a clear error, nothing decoded.
        assert result.error is not None
        assert "neither a protocol message" in result.error.message
        assert summary["events"] == 0
    else:
        assert result.error is None, result.error
    # Every run and message is settled at the end of the input.
    for message in result.summary.projector.messages.messages:
        assert message.done
    assert not result.summary.projector.tool_calls.running


# -- chat_tools ----------------------------------------------------------------------------


def test_chat_tools_field_by_field() -> None:
    summary = summary_of("shared/chat_tools/sse.raw")
    assert summary["events"] == 59
    assert summary["channels"] == {
        "lifecycle": 2,
        "values": 4,
        "messages": 46,
        "updates": 3,
        "tools": 4,
    }
    assert summary["last_seq"] == 59
    assert summary["runs"] == [{"run_id": CHAT_RUN, "status": "completed", "error": None}]
    assert summary["status"] == "completed"
    assert summary["error"] is None
    assert summary["messages"] == [FIRST_MESSAGE, TOOL_MESSAGE, LAST_MESSAGE]
    assert summary["tool_calls"] == [TOOL_CALL]
    assert summary["interrupts"] == []
    assert summary["subgraphs"] == [
        {"namespace": ["tools:call_weather_1"], "graph_name": "tools", "status": "completed"}
    ]
    assert summary["extensions"] == {}
    assert summary["custom"] == []
    final = summary["values"]["messages"]
    assert [m["type"] for m in final] == ["human", "ai", "tool", "ai"]
    assert final[0]["content"] == "What is the weather in Paris?"
    assert final[2]["content"] == "It is sunny in Paris, 21C"
    assert final[3]["content"][0]["text"] == LAST_MESSAGE["text"]


def test_chat_tools_agrees_with_the_sdk() -> None:
    result = run_replay("shared/chat_tools/sse.raw")
    projector = result.summary.projector
    observed = sdk("chat_tools")["projections"]
    # messages: the SDK sees root messages only; content, text and tool calls agree.
    root = [m for m in projector.messages.messages if not m.namespace]
    assert len(root) == len(observed["messages"]["items"]) == 2
    for ours, theirs in zip(root, observed["messages"]["items"], strict=True):
        assert ours.text == theirs["text"]
        assert list(ours.namespace) == theirs["namespace"]
        assert ours.node == theirs["node"]
        assert ours.role == theirs["type"]
        assert strip_ids(ours.content) == strip_ids(theirs["content"])
        assert [
            {"name": c.name, "args": c.args, "type": "tool_call"} for c in ours.tool_calls
        ] == strip_ids(theirs["tool_calls"])
    # tool calls agree entirely.
    (theirs,) = observed["tool_calls"]["items"]
    (ours,) = result.to_json()["tool_calls"]
    assert {k: ours[k] for k in ("tool_call_id", "input", "namespace", "deltas", "output")} == {
        k: theirs[k] for k in ("tool_call_id", "input", "namespace", "deltas", "output")
    }
    assert ours["tool_name"] == theirs["name"]
    assert ours["error"] is theirs["error"] is None
    # values: the SDK's stream snapshots (after its REST ``{}``, Appendix C) are ours.
    assert observed["values"]["items"][0] == {}
    assert strip_ids(projector.values.history) == strip_ids(observed["values"]["items"][1:])
    # The output comes from the stream, with no extra request; the SDK's came from
    # ``GET /threads/{id}/state``, which adds fields the stream does not carry.
    assert projector.values.output is not None
    rest = sdk("chat_tools")["output"]["messages"]
    stream = projector.values.output.values["messages"]
    assert [(m["type"], m["content"]) for m in stream] == [(m["type"], m["content"]) for m in rest]


def test_chat_tools_links_the_tool_call_to_its_message_block() -> None:
    projector = run_replay("shared/chat_tools/sse.raw").summary.projector
    (call,) = projector.tool_calls.calls
    assert call.source == ToolCallSource(message_id=M_FIRST, namespace=(), index=2)
    assert projector.messages.messages[0].blocks[2].content["type"] == "tool_call"


def test_chat_tools_replays_agree_with_the_live_stream() -> None:
    live = summary_of("shared/chat_tools/sse.raw")
    assert summary_of("shared/chat_tools/sse_replay_full.raw") == live
    # Last-Event-ID is ignored by the server: a full replay.
    assert summary_of("shared/chat_tools/sse_last_event_id_header.raw") == live


def test_chat_tools_resumed_with_since() -> None:
    summary = summary_of("shared/chat_tools/sse_replay_since.raw")
    assert summary["events"] == 29
    assert summary["last_seq"] == 59
    # The first message started before seq 31: its later events have nowhere to go.
    assert summary["messages"] == [TOOL_MESSAGE, LAST_MESSAGE]
    assert summary["tool_calls"] == [TOOL_CALL]
    # The run's ``running`` was before the cut; its terminal still ends it.
    assert summary["runs"] == [{"run_id": CHAT_RUN, "status": "completed", "error": None}]
    assert summary["values"] == summary_of("shared/chat_tools/sse.raw")["values"]


def test_chat_tools_filtered_streams() -> None:
    messages = summary_of("shared/chat_tools/sse_only_messages_live.raw")
    assert messages["events"] == 46
    assert messages["channels"] == {"messages": 46}
    assert messages["messages"] == [FIRST_MESSAGE, TOOL_MESSAGE, LAST_MESSAGE]
    assert messages["runs"] == [] and messages["status"] is None
    # No lifecycle: the namespace is known, its end is not.
    assert messages["subgraphs"][0]["status"] == "started"

    tools = summary_of("shared/chat_tools/sse_only_tools_live.raw")
    assert tools["events"] == 4
    assert tools["tool_calls"] == [TOOL_CALL]

    root = summary_of("shared/chat_tools/sse_root_only_depth0.raw")
    assert root["events"] == 41
    assert root["messages"] == [FIRST_MESSAGE, LAST_MESSAGE]
    assert root["subgraphs"] == []


# -- hitl ----------------------------------------------------------------------------------

HITL_INTERRUPT = {
    "interrupt_id": "d09bfd4b69edf00924133d74a9295cf7",
    "namespace": [],
    "payload": {"question": "Approve the request?", "request": "deploy to prod"},
    "status": "resumed",
}


def test_hitl_field_by_field() -> None:
    summary = summary_of("shared/hitl/sse.raw")
    assert summary["events"] == 15
    assert summary["channels"] == {"lifecycle": 4, "values": 6, "updates": 4, "input.requested": 1}
    assert summary["runs"] == [
        {"run_id": "01a1fc7a-4750-76cb-9dc5-4c5fe392ec62", "status": "interrupted", "error": None},
        {"run_id": "01a1fc7a-4dbc-75cb-843c-17a11c241538", "status": "completed", "error": None},
    ]
    assert summary["status"] == "completed"
    # SDK defect (Appendix C): its interrupt ``value`` is null; the payload is kept here.
    observed = sdk("hitl")
    assert observed["interrupts"][0]["value"] is None
    assert summary["interrupts"] == [HITL_INTERRUPT]
    assert summary["values"] == observed["output"]
    assert summary["messages"] == summary["tool_calls"] == summary["subgraphs"] == []
    # After the resumed run completed nothing is pending (the SDK agrees).
    assert observed["final_interrupted"] is False and observed["final_interrupts"] == []
    assert not run_replay("shared/hitl/sse.raw").summary.projector.runs.interrupted
    assert summary_of("shared/hitl/sse_replay_full.raw") == summary


def test_hitl_is_pending_while_interrupted() -> None:
    body = through(read("shared/hitl/sse.raw"), 8)  # values after ``interrupted``
    result = replay([body])
    assert result.error is None
    summary = result.to_json()
    assert summary["status"] == "interrupted"
    assert summary["interrupts"] == [{**HITL_INTERRUPT, "status": "pending"}]
    assert summary["values"] == {"request": "deploy to prod", "log": ["prepared"]}
    # SDK defect (Appendix C): its ``thread.values`` yielded only the REST ``{}``.
    assert sdk("hitl")["projections"]["values"]["items"] == [{}]
    assert result.summary.projector.values.history == [
        {"request": "deploy to prod", "log": []},
        {"request": "deploy to prod", "log": ["prepared"]},
        {"request": "deploy to prod", "log": ["prepared"]},
    ]


def test_hitl_resumed_by_run_start() -> None:
    summary = summary_of("shared/hitl/sse_resume_via_run_start.raw")
    assert [r["status"] for r in summary["runs"]] == ["interrupted", "completed"]
    assert summary["interrupts"] == [
        {
            "interrupt_id": "df6d574df2e44287628824521ffd92a6",
            "namespace": [],
            "payload": {"question": "Approve the request?", "request": "rotate keys"},
            "status": "resumed",
        }
    ]
    assert summary["values"]["approved"] == {"approved": "via-run-start"}
    assert summary["values"]["log"][-1] == "acted"


def test_hitl_since_replay_sees_only_the_resumed_run() -> None:
    summary = summary_of("shared/hitl/sse_replay_since.raw")
    assert summary["events"] == 7
    assert summary["runs"] == [
        {"run_id": "01a1fc7a-4dbc-75cb-843c-17a11c241538", "status": "completed", "error": None}
    ]
    assert summary["interrupts"] == []


# -- failing -------------------------------------------------------------------------------


def test_failing_field_by_field() -> None:
    summary = summary_of("shared/failing/sse.raw")
    error = "boom: deliberate failure for the corpus"
    assert summary["events"] == 5
    assert summary["runs"] == [
        {"run_id": "01a1fc7a-c85e-7305-ae90-3e14ae06aa49", "status": "failed", "error": error}
    ]
    assert summary["status"] == "failed"
    assert summary["error"] == error
    observed = sdk("failing")
    assert observed["output_error"] == f"RuntimeError: Run errored: {error}"
    assert summary["values"] == {"x": 2}
    history = run_replay("shared/failing/sse.raw").summary.projector.values.history
    assert history == observed["projections"]["values"]["items"][1:]
    # On a replay the server's synthesized ``failed`` has no ``error`` (seen in all three
    # replay captures); nothing else differs and no error text is invented.
    for variant in ("sse_replay_full.raw", "sse_last_event_id_header.raw"):
        replayed = summary_of(f"shared/failing/{variant}")
        assert replayed["error"] is None
        assert replayed["runs"] == [{**summary["runs"][0], "error": None}]
        assert {k: v for k, v in replayed.items() if k not in ("runs", "error")} == {
            k: v for k, v in summary.items() if k not in ("runs", "error")
        }


def test_failing_since_replay_has_no_error_text() -> None:
    summary = summary_of("shared/failing/sse_replay_since.raw")
    assert summary["runs"] == [
        {"run_id": "01a1fc7a-c85e-7305-ae90-3e14ae06aa49", "status": "failed", "error": None}
    ]
    assert summary["values"] == {"x": 2}


# -- values and bare ---------------------------------------------------------------------

DOGS = [
    {"topic": "dogs", "steps": []},
    {"topic": "dogs and cats", "steps": ["refine"], "count": 1},
    {"topic": "dogs and cats", "steps": ["refine", "draft"], "count": 2},
    {"topic": "DOGS AND CATS", "steps": ["refine", "draft", "finish"], "count": 3},
]


def test_values_two_runs() -> None:
    result = run_replay("shared/values/sse.raw")
    summary = result.to_json()
    assert summary["events"] == 18  # the two heartbeats are not events
    assert summary["channels"] == {"lifecycle": 4, "values": 8, "updates": 6}
    assert summary["runs"] == [
        {"run_id": "01a1fc79-f627-779e-91ae-5ff41929911f", "status": "completed", "error": None},
        {"run_id": "01a1fc7a-150d-71ad-9744-bede5b048d57", "status": "completed", "error": None},
    ]
    assert summary["values"] == {
        "topic": "BIRDS AND CATS",
        "steps": ["refine", "draft", "finish", "refine", "draft", "finish"],
        "count": 6,
    }
    observed = sdk("values")
    values = result.summary.projector.values
    assert values.history[:4] == DOGS == observed["projections"]["values"]["items"][1:]
    assert [o.values for o in values.outputs] == [observed["output"], summary["values"]]
    assert [o.outcome.status for o in values.outputs] == ["completed", "completed"]
    assert summary_of("shared/values/sse_second_run.raw") == summary
    assert summary_of("shared/values/sse_replay_full.raw") == summary


def test_values_filtered_streams() -> None:
    only_values = summary_of("shared/values/sse_only_values.raw")
    assert only_values["channels"] == {"values": 8}
    assert only_values["runs"] == []
    assert only_values["values"]["count"] == 6
    only_updates = summary_of("shared/values/sse_only_updates.raw")
    assert only_updates["channels"] == {"updates": 6} and only_updates["values"] is None
    only_lifecycle = summary_of("shared/values/sse_only_lifecycle.raw")
    assert [r["status"] for r in only_lifecycle["runs"]] == ["completed", "completed"]
    since = summary_of("shared/values/sse_replay_since.raw")
    assert since["values"]["count"] == 6


def test_bare() -> None:
    result = run_replay("shared/bare/sse.raw")
    summary = result.to_json()
    observed = sdk("bare")
    assert summary["events"] == 6
    assert summary["status"] == "completed"
    assert summary["values"] == observed["output"] == DOGS[-1]
    assert result.summary.projector.values.history == observed["projections"]["values"]["items"][1:]


# -- websocket -----------------------------------------------------------------------------


def test_websocket_transcript() -> None:
    result = run_replay("shared/websocket/ws.jsonl")
    assert result.format == "jsonl"
    summary = result.to_json()
    # ws1 delivers the hitl thread's 15 events; ws2/ws3 replay them again (counted once);
    # ws4 is another thread (chat_tools) with 52 events.
    assert summary["events"] == 67
    assert result.summary.duplicates == 15
    assert summary["last_seq"] == 59
    assert [r["status"] for r in summary["runs"]] == ["interrupted", "completed", "completed"]
    assert summary["interrupts"] == [
        {
            "interrupt_id": "9112b9fcacf06dbc838407563a328fea",
            "namespace": [],
            "payload": {"question": "Approve the request?", "request": "ws deploy"},
            "status": "resumed",
        }
    ]
    texts = [(m["role"], m["text"]) for m in summary["messages"]]
    assert texts == [
        ("ai", "Let me check the weather for you."),
        ("tool", "It is sunny in Paris, 21C"),
        ("ai", "The weather in Paris is sunny and 21 degrees."),
    ]
    assert summary["tool_calls"][0]["deltas"] == ["looking up ", "Paris"]
    assert summary["values"] == {
        "request": "ws deploy",
        "approved": "ws-approved",
        "log": ["prepared", "answer=ws-approved", "acted"],
    }


# -- error bodies and odd streams -----------------------------------------------------------


def test_error_bodies_and_empty_streams() -> None:
    empty = run_replay("shared/errors/sse_since_huge.raw")
    assert empty.format is None and empty.error is None
    assert empty.to_json()["events"] == 0 and empty.to_json()["status"] is None
    heartbeat = run_replay("shared/errors/sse_nonexistent_thread.raw")
    assert heartbeat.format == "sse" and heartbeat.error is None
    assert heartbeat.to_json()["events"] == 0
    lazy = summary_of("shared/errors/sse_lazy_thread.raw")
    assert lazy["events"] == 6 and lazy["last_seq"] == 9
    assert lazy["values"]["topic"] == "LAZY AND CATS"
    for name in ("sse_depth_false.raw", "sse_since_negative.raw", "sse_since_true_bool.raw"):
        summary = summary_of(f"shared/errors/{name}")
        assert summary["channels"] == {"lifecycle": 2}
        assert summary["status"] == "completed"


# -- the interop captures ------------------------------------------------------------------


def test_nested_finds_the_grandchild() -> None:
    summary = summary_of("captures/nested.sse.raw")
    child = "child:f131f50d-2696-22e7-c23b-44ab4c1d1d82"
    grandchild = "grandchild:3a261415-d95d-31ec-fc0c-8de09717a60b"
    assert [(m["namespace"], m["text"], m["status"]) for m in summary["messages"]] == [
        ([], "hello from the root graph", "finished"),
        ([child], "hello from the child graph", "finished"),
        ([child, grandchild], "hello from the grandchild graph", "finished"),
    ]
    # SDK defect (Appendix C): its child handle never finds the grandchild.
    assert summary["subgraphs"] == [
        {"namespace": [child], "graph_name": "child", "status": "completed"},
        {"namespace": [child, grandchild], "graph_name": "grandchild", "status": "completed"},
    ]
    node = run_replay("captures/nested.sse.raw").summary.projector.tree.find((child,))
    assert node is not None
    assert node.trigger_call_id == "f131f50d-2696-22e7-c23b-44ab4c1d1d82"
    assert node.discovered_seq == 14  # from its first ``values``, before ``started`` (seq 15)
    assert [c.graph_name for c in node.children] == ["grandchild"]


def test_custom_events() -> None:
    summary = summary_of("captures/custom.sse.raw")
    assert summary["extensions"] == {
        "progress": [{"step": 1, "progress": 0.5}, {"step": 2, "progress": 1.0}]
    }
    assert summary["custom"] == [
        {"status": "starting"},
        {"step": 1, "progress": 0.5},
        {"step": 2, "progress": 1.0},
        {"status": "done"},
        "plain text payload",
    ]
    # Named custom events are live-only (Appendix B.4): a replay has only the plain ones.
    replayed = summary_of("captures/custom.replay.sse.raw")
    assert replayed["extensions"] == {}
    assert replayed["custom"] == summary["custom"]


def test_fanout_messages_without_ids_are_not_misattributed() -> None:
    result = run_replay("captures/fanout.sse.raw")
    assert result.error is None
    summary = result.to_json()
    assert [m["status"] for m in summary["messages"]] == ["error", "error", "error"]
    # Only what was streamed while one message was open is kept.
    assert [m["text"] for m in summary["messages"]] == ["worker", "", ""]
    assert len(result.warnings) == 2
    assert "without a message id" in result.warnings[0]
    assert summary["values"]["summary"] == "done:a,done:b,done:c"
    assert summary["status"] == "completed"


def test_failing_midstream_keeps_the_streamed_text() -> None:
    result = run_replay("captures/failing_midstream.sse.raw")
    summary = result.to_json()
    assert summary["status"] == "failed" and summary["error"] == "boom: model stream broke"
    (message,) = summary["messages"]
    assert message["status"] == "open"
    assert message["text"] == "Partial answer"
    closed = result.summary.projector.messages.messages[0].closed
    assert closed == "the run failed before the message finished: boom: model stream broke"


def test_failing_after_a_finished_message() -> None:
    summary = summary_of("captures/failing.sse.raw")
    assert summary["error"] == "boom: deliberate failure"
    assert [(m["text"], m["status"]) for m in summary["messages"]] == [
        ("Working on it now", "finished")
    ]


def test_two_interrupts_in_one_step() -> None:
    body = read("captures/hitl_parallel.sse.raw")
    summary = replay([through(body, 9)]).to_json()
    # The second input.requested comes after the root ``interrupted`` (Appendix E.2).
    assert summary["status"] == "interrupted"
    assert [(i["payload"]["branch"], i["status"]) for i in summary["interrupts"]] == [
        ("a", "pending"),
        ("b", "pending"),
    ]
    final = summary_of("captures/hitl_parallel.sse.raw")
    assert [i["status"] for i in final["interrupts"]] == ["resumed", "resumed"]
    assert final["values"]["log"] == ["joined a='yes-a',b='yes-b'"]


def test_interrupt_inside_a_subgraph() -> None:
    review = "review:94c53bb3-7138-2c9a-0a5f-175bb59fc6ed"
    body = read("captures/hitl_subgraph.sse.raw")
    paused = replay([through(body, 13)]).to_json()
    assert paused["interrupts"] == [
        {
            "interrupt_id": "52646383cff673153f4acfadac4b829a",
            "namespace": [review],
            "payload": {"question": "Approve inside subgraph?"},
            "status": "pending",
        }
    ]
    assert paused["subgraphs"] == [
        {"namespace": [review], "graph_name": "review", "status": "interrupted"}
    ]
    # Between the resumed root ``running`` and the child's second ``started``.
    resuming = replay([through(body, 16)]).to_json()
    assert resuming["subgraphs"][0]["status"] == "interrupted"
    final = summary_of("captures/hitl_subgraph.sse.raw")
    assert final["subgraphs"][0]["status"] == "completed"
    assert final["interrupts"][0]["status"] == "resumed"
    assert final["values"] == {
        "request": "nested approval",
        "approved": "sub-ok",
        "log": ["prepared", "acted"],
    }


def test_data_folder_is_inside_tests() -> None:
    assert Path(DATA).is_relative_to(Path(__file__).resolve().parent.parent.parent)
