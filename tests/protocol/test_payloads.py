"""Typed payloads: every variant of PROTOCOL.md section 3.6 and Appendix A.

Charter:

* :data:`VARIANTS` maps the ``params.data`` of each known variant (as the
  Python server sends it, plus the spec's camelCase spellings and the legacy
  shapes the SDK tolerates) to the exact typed value ``decode_payload``
  returns; every case also goes through a whole envelope and
  ``Event.payload``.
* Unknown methods, lifecycle statuses, message events, tool events, delta
  types and causes become ``Unknown*`` values that keep the raw data.
* :data:`MALFORMED` lists a missing or mistyped required field for each
  variant: the ``RemoteProtocolError`` names the field by its path.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import event_bytes

from threadwire.protocol import (
    BlockDelta,
    Checkpoint,
    ContentBlockDelta,
    ContentBlockFinish,
    ContentBlockStart,
    ContentDelta,
    Custom,
    DataDelta,
    EdgeCause,
    InputRequested,
    Lifecycle,
    MessageError,
    MessageFinish,
    MessageStart,
    ReasoningDelta,
    RemoteProtocolError,
    SendCause,
    Task,
    TextDelta,
    ToolCallCause,
    ToolCallDelta,
    ToolError,
    ToolFinished,
    ToolOutputDelta,
    ToolStarted,
    UnknownCause,
    UnknownDelta,
    UnknownMessageEvent,
    UnknownPayload,
    UnknownToolEvent,
    Updates,
    Values,
    decode_delta,
    decode_message,
    decode_payload,
)

TEXT = {"type": "text", "text": ""}
TOOL_OUTPUT = {"content": "It is sunny in Paris, 21C.", "type": "tool", "tool_call_id": "call_1"}


def _case(method: str, data: Any, expected: Any, node: str | None = None) -> Any:
    label = (
        data.get("event", data.get("type", "")) if isinstance(data, dict) else type(data).__name__
    )
    return pytest.param(method, data, node, expected, id=f"{method}:{label}")


VARIANTS = [
    # -- lifecycle ---------------------------------------------------------------------
    _case(
        "lifecycle",
        {"event": "running", "graph_name": "agent"},
        Lifecycle(event="running", graph_name="agent"),
    ),
    _case(
        "lifecycle",
        {"event": "failed", "graph_name": "agent", "error": "boom: deliberate failure"},
        Lifecycle(event="failed", graph_name="agent", error="boom: deliberate failure"),
    ),
    _case(
        "lifecycle",
        {
            "event": "started",
            "namespace": ["child:14575f5b"],
            "graph_name": "child",
            "trigger_call_id": "14575f5b",
        },
        Lifecycle(
            event="started",
            graph_name="child",
            namespace=("child:14575f5b",),
            trigger_call_id="14575f5b",
        ),
    ),
    _case(
        "lifecycle",
        {"event": "started", "graphName": "sub", "triggerCallId": "t", "namespace": None},
        Lifecycle(event="started", graph_name="sub", trigger_call_id="t"),
    ),
    _case(
        "lifecycle",
        {"event": "started", "cause": {"type": "toolCall", "tool_call_id": "call_1"}},
        Lifecycle(event="started", cause=ToolCallCause(tool_call_id="call_1")),
    ),
    _case(
        "lifecycle",
        {"event": "started", "cause": {"type": "toolCall", "toolCallId": "call_1"}},
        Lifecycle(event="started", cause=ToolCallCause(tool_call_id="call_1")),
    ),
    _case(
        "lifecycle",
        {"event": "started", "cause": {"type": "send", "fromNode": "router"}},
        Lifecycle(event="started", cause=SendCause(from_node="router")),
    ),
    _case(
        "lifecycle",
        {"event": "started", "cause": {"type": "edge", "from_node": "a"}},
        Lifecycle(event="started", cause=EdgeCause(from_node="a")),
    ),
    _case(
        "lifecycle",
        {"event": "started", "cause": {"type": "timer", "at": 5}},
        Lifecycle(
            event="started", cause=UnknownCause(type="timer", data={"type": "timer", "at": 5})
        ),
    ),
    _case(
        "lifecycle",
        {"event": "interrupted", "cause": None, "checkpoint": {"id": "c"}},
        Lifecycle(event="interrupted", checkpoint={"id": "c"}),
    ),
    _case(
        "lifecycle",
        {"event": "drained"},
        UnknownPayload(method="lifecycle", data={"event": "drained"}),
    ),
    # -- messages ----------------------------------------------------------------------
    _case(
        "messages",
        {"event": "message-start", "role": "ai", "id": "lc_run--01a1fc74"},
        MessageStart(id="lc_run--01a1fc74", role="ai"),
    ),
    _case(
        "messages",
        {
            "event": "message-start",
            "role": "tool",
            "id": "tool-call_1",
            "tool_call_id": "call_1",
            "metadata": {"langgraph_node": "tools"},
        },
        MessageStart(
            id="tool-call_1",
            role="tool",
            tool_call_id="call_1",
            metadata={"langgraph_node": "tools"},
        ),
    ),
    _case(
        "messages",
        {"event": "message-start", "messageId": "m", "toolCallId": "c"},
        MessageStart(id="m", role=None, tool_call_id="c"),
    ),
    _case(
        "messages",
        {"event": "content-block-start", "index": 0, "content": TEXT},
        ContentBlockStart(index=0, content=TEXT),
    ),
    _case(
        "messages",
        {
            "event": "content-block-start",
            "index": 2,
            "content_block": {"type": "tool_call_chunk"},
            "id": "m",
        },
        ContentBlockStart(index=2, content={"type": "tool_call_chunk"}, message_id="m"),
    ),
    _case(
        "messages",
        {
            "event": "content-block-delta",
            "index": 1,
            "delta": {"type": "text-delta", "text": "Let"},
        },
        ContentBlockDelta(index=1, delta=TextDelta(text="Let")),
    ),
    _case(
        "messages",
        {
            "event": "content-block-delta",
            "index": 0,
            "delta": {"type": "reasoning-delta", "reasoning": "The"},
            "message_id": "m",
        },
        ContentBlockDelta(index=0, delta=ReasoningDelta(reasoning="The"), message_id="m"),
    ),
    _case(
        "messages",
        {"event": "content-block-delta", "index": 0, "content": {"type": "text", "text": "sunny"}},
        ContentBlockDelta(index=0, delta=ContentDelta(content={"type": "text", "text": "sunny"})),
    ),
    _case(
        "messages",
        {"event": "content-block-delta", "index": 0, "content_block": TEXT, "messageId": "m"},
        ContentBlockDelta(index=0, delta=ContentDelta(content=TEXT), message_id="m"),
    ),
    _case(
        "messages",
        {"event": "content-block-finish", "index": 2, "content": {"type": "tool_call", "args": {}}},
        ContentBlockFinish(index=2, content={"type": "tool_call", "args": {}}),
    ),
    _case(
        "messages",
        {"event": "content-block-finish", "index": 0, "content_block": TEXT},
        ContentBlockFinish(index=0, content=TEXT),
    ),
    _case("messages", {"event": "message-finish"}, MessageFinish()),
    _case(
        "messages",
        {
            "event": "message-finish",
            "usage": {"input_tokens": 3, "output_tokens": 5, "total_tokens": 8},
            "metadata": {},
            "additional_kwargs": {"x": 1},
            "finish_reason": "stop",
            "id": "m",
        },
        MessageFinish(
            message_id="m",
            usage={"input_tokens": 3, "output_tokens": 5, "total_tokens": 8},
            metadata={},
            additional_kwargs={"x": 1},
            finish_reason="stop",
        ),
    ),
    _case(
        "messages",
        {"event": "error", "message": "rate limited", "code": "429"},
        MessageError(message="rate limited", code="429"),
    ),
    _case(
        "messages",
        {"event": "message-pause", "x": 1},
        UnknownMessageEvent(event="message-pause", data={"event": "message-pause", "x": 1}),
    ),
    # -- tools -------------------------------------------------------------------------
    _case(
        "tools",
        {
            "event": "tool-started",
            "tool_call_id": "call_1",
            "tool_name": "get_weather",
            "input": {"city": "Paris"},
        },
        ToolStarted(tool_call_id="call_1", tool_name="get_weather", input={"city": "Paris"}),
    ),
    _case(
        "tools",
        {"event": "tool-started", "toolCallId": "call_1", "toolName": "noop"},
        ToolStarted(tool_call_id="call_1", tool_name="noop"),
    ),
    _case(
        "tools",
        {"event": "tool-output-delta", "tool_call_id": "call_1", "delta": "looking up "},
        ToolOutputDelta(tool_call_id="call_1", delta="looking up "),
    ),
    _case(
        "tools",
        {"event": "tool-finished", "tool_call_id": "call_1", "output": TOOL_OUTPUT},
        ToolFinished(tool_call_id="call_1", output=TOOL_OUTPUT),
    ),
    _case(
        "tools",
        {"event": "tool-finished", "tool_call_id": "call_1"},
        ToolFinished(tool_call_id="call_1", output=None),
    ),
    _case(
        "tools",
        {"event": "tool-error", "tool_call_id": "call_1", "message": "boom", "code": "E1"},
        ToolError(tool_call_id="call_1", message="boom", code="E1"),
    ),
    _case(
        "tools",
        {"event": "tool-error", "tool_call_id": "call_1", "message": "boom"},
        ToolError(tool_call_id="call_1", message="boom"),
    ),
    _case(
        "tools",
        {"event": "tool-paused", "tool_call_id": "call_1"},
        UnknownToolEvent(
            event="tool-paused", data={"event": "tool-paused", "tool_call_id": "call_1"}
        ),
    ),
    # -- input, custom, values, updates, checkpoints, tasks -------------------------------
    _case(
        "input.requested",
        {"interrupt_id": "3a3b40fdac03fa214c8f90a69d2981b8", "payload": {"question": "approve?"}},
        InputRequested(
            interrupt_id="3a3b40fdac03fa214c8f90a69d2981b8", payload={"question": "approve?"}
        ),
    ),
    _case(
        "input.requested",
        {"interrupt_id": "i", "value": "legacy"},
        InputRequested(interrupt_id="i", payload="legacy"),
    ),
    _case(
        "input.requested",
        {"interruptId": "i", "payload": None, "value": "ignored"},
        InputRequested(interrupt_id="i", payload=None),
    ),
    _case("input.requested", {"interrupt_id": "i"}, InputRequested(interrupt_id="i", payload=None)),
    _case("custom", {"payload": {"step": 1}}, Custom(name=None, payload={"step": 1})),
    # the real server sends what the graph wrote, even a bare string
    _case("custom", "plain text payload", Custom(name=None, payload="plain text payload")),
    _case("custom", None, Custom(name=None, payload=None)),
    _case(
        "custom",
        {"name": "progress", "payload": {"pct": 50}},
        Custom(name="progress", payload={"pct": 50}),
    ),
    _case("custom", {"name": "", "x": 1}, Custom(name=None, payload={"name": "", "x": 1})),
    _case("values", {"topic": "dogs"}, Values(values={"topic": "dogs"})),
    _case("values", [1, 2], Values(values=[1, 2])),
    _case(
        "updates",
        {"prepare": {"log": ["prepared"]}},
        Updates(data={"prepare": {"log": ["prepared"]}}),
    ),
    _case("updates", {"log": ["x"]}, Updates(data={"log": ["x"]}, node="prepare"), node="prepare"),
    _case(
        "checkpoints",
        {"id": "c2", "parent_id": "c1", "step": 3, "source": "loop"},
        Checkpoint(id="c2", parent_id="c1", step=3, source="loop"),
    ),
    _case("checkpoints", {"id": "c2", "parentId": "c1"}, Checkpoint(id="c2", parent_id="c1")),
    _case(
        "tasks",
        {"id": "t1", "name": "agent", "input": {}, "triggers": ["start"]},
        Task(
            id="t1",
            name="agent",
            data={"id": "t1", "name": "agent", "input": {}, "triggers": ["start"]},
        ),
    ),
    _case("tasks", {"result": 1}, Task(id=None, name=None, data={"result": 1})),
    _case("debug", {"anything": True}, UnknownPayload(method="debug", data={"anything": True})),
    _case("future.method", None, UnknownPayload(method="future.method", data=None)),
]


@pytest.mark.parametrize(("method", "data", "node", "expected"), VARIANTS)
def test_variant(method: str, data: Any, node: str | None, expected: Any) -> None:
    assert decode_payload(method, data, node) == expected
    assert decode_message(event_bytes(method, data, node=node)).payload == expected


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        ({"type": "text-delta", "text": "hi"}, TextDelta(text="hi")),
        ({"type": "reasoning-delta", "reasoning": "so"}, ReasoningDelta(reasoning="so")),
        ({"type": "data-delta", "data": "aGk="}, DataDelta(data="aGk=")),
        (
            {"type": "data-delta", "data": "68 69", "encoding": "hex"},
            DataDelta(data="68 69", encoding="hex"),
        ),
        (
            {"type": "block-delta", "fields": {"type": "tool_call_chunk", "args": '{"c'}},
            BlockDelta(fields={"type": "tool_call_chunk", "args": '{"c'}),
        ),
        ({"type": "tool-call-delta", "args": '{"city":'}, ToolCallDelta(args='{"city":')),
        (
            {"type": "tool-call-delta", "id": "call_1", "name": "get_weather"},
            ToolCallDelta(args="", id="call_1", name="get_weather"),
        ),
        (
            {"type": "citation-delta", "url": "u"},
            UnknownDelta(type="citation-delta", data={"type": "citation-delta", "url": "u"}),
        ),
        ({"text": "untyped"}, UnknownDelta(type=None, data={"text": "untyped"})),
    ],
)
def test_delta(delta: dict[str, Any], expected: Any) -> None:
    assert decode_delta(delta) == expected
    payload = decode_payload(
        "messages", {"event": "content-block-delta", "index": 0, "delta": delta}
    )
    assert payload == ContentBlockDelta(index=0, delta=expected)


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("started", False),
        ("running", False),
        ("completed", True),
        ("failed", True),
        ("interrupted", True),
    ],
)
def test_lifecycle_is_terminal(status: str, terminal: bool) -> None:
    assert decode_payload("lifecycle", {"event": status}).is_terminal is terminal


def _bad(method: str, data: Any, message: str) -> Any:
    return pytest.param(method, data, message, id=f"{method}:{message}")


MALFORMED = [
    _bad("lifecycle", {}, "params.data.event is required but missing"),
    _bad("lifecycle", {"event": 5}, "params.data.event must be a string, got int"),
    _bad(
        "lifecycle",
        {"event": "started", "graph_name": 1},
        "params.data.graph_name must be a string",
    ),
    _bad(
        "lifecycle",
        {"event": "failed", "error": {}},
        "params.data.error must be a string, got dict",
    ),
    _bad("lifecycle", {"event": "started", "cause": "tool"}, "params.data.cause must be an object"),
    _bad(
        "lifecycle",
        {"event": "started", "cause": {}},
        "params.data.cause.type is required but missing",
    ),
    _bad(
        "lifecycle",
        {"event": "started", "cause": {"type": "toolCall"}},
        "params.data.cause.tool_call_id is required but missing",
    ),
    _bad(
        "lifecycle",
        {"event": "started", "cause": {"type": "send", "from_node": 1}},
        "params.data.cause.from_node must be a string, got int",
    ),
    _bad(
        "lifecycle",
        {"event": "started", "cause": {"type": "edge"}},
        "params.data.cause.from_node is required but missing",
    ),
    _bad(
        "lifecycle",
        {"event": "started", "namespace": "a"},
        "params.data.namespace must be an array",
    ),
    _bad(
        "lifecycle",
        {"event": "started", "trigger_call_id": 3},
        "params.data.trigger_call_id must be a string",
    ),
    _bad(
        "lifecycle",
        {"event": "started", "checkpoint": []},
        "params.data.checkpoint must be an object",
    ),
    _bad("messages", {"index": 0}, "params.data.event is required but missing"),
    _bad(
        "messages",
        {"event": "message-start", "role": 5},
        "params.data.role must be a string, got int",
    ),
    _bad(
        "messages", {"event": "message-start", "id": 5}, "params.data.id must be a string, got int"
    ),
    _bad(
        "messages",
        {"event": "message-start", "metadata": "x"},
        "params.data.metadata must be an object",
    ),
    _bad(
        "messages",
        {"event": "content-block-start", "index": 0},
        "params.data.content is required but missing",
    ),
    _bad(
        "messages",
        {"event": "content-block-start", "content": TEXT},
        "params.data.index is required but missing",
    ),
    _bad(
        "messages",
        {"event": "content-block-finish", "index": "0", "content": TEXT},
        "params.data.index must be an integer, got str",
    ),
    _bad(
        "messages",
        {"event": "content-block-finish", "index": True, "content": TEXT},
        "params.data.index must be an integer, got bool",
    ),
    _bad(
        "messages",
        {"event": "content-block-finish", "index": 0, "content": "x"},
        "params.data.content must be an object",
    ),
    _bad(
        "messages",
        {"event": "content-block-delta", "index": 0},
        "params.data.delta is required but missing",
    ),
    _bad(
        "messages",
        {"event": "content-block-delta", "index": 0, "delta": "x"},
        "params.data.delta must be an object",
    ),
    _bad(
        "messages",
        {"event": "content-block-delta", "index": 0, "content": []},
        "params.data.content must be an object, got list",
    ),
    _bad(
        "messages",
        {"event": "content-block-delta", "delta": {"type": "text-delta", "text": "x"}},
        "params.data.index is required but missing",
    ),
    _bad(
        "messages",
        {"event": "content-block-delta", "index": 0, "delta": {"type": "text-delta"}},
        "params.data.delta.text is required but missing",
    ),
    _bad(
        "messages",
        {
            "event": "content-block-delta",
            "index": 0,
            "delta": {"type": "reasoning-delta", "reasoning": 1},
        },
        "params.data.delta.reasoning must be a string, got int",
    ),
    _bad(
        "messages",
        {"event": "content-block-delta", "index": 0, "delta": {"type": "data-delta"}},
        "params.data.delta.data is required but missing",
    ),
    _bad(
        "messages",
        {
            "event": "content-block-delta",
            "index": 0,
            "delta": {"type": "data-delta", "data": "", "encoding": 1},
        },
        "params.data.delta.encoding must be a string",
    ),
    _bad(
        "messages",
        {"event": "content-block-delta", "index": 0, "delta": {"type": "block-delta"}},
        "params.data.delta.fields is required but missing",
    ),
    _bad(
        "messages",
        {
            "event": "content-block-delta",
            "index": 0,
            "delta": {"type": "block-delta", "fields": []},
        },
        "params.data.delta.fields must be an object, got list",
    ),
    _bad(
        "messages",
        {
            "event": "content-block-delta",
            "index": 0,
            "delta": {"type": "tool-call-delta", "args": {}},
        },
        "params.data.delta.args must be a string, got dict",
    ),
    _bad(
        "messages",
        {"event": "content-block-delta", "index": 0, "delta": {"type": 5}},
        "params.data.delta.type must be a string, got int",
    ),
    _bad(
        "messages",
        {"event": "content-block-delta", "index": 0, "delta": {}, "message_id": 5},
        "params.data.message_id must be a string, got int",
    ),
    _bad(
        "messages", {"event": "message-finish", "usage": "x"}, "params.data.usage must be an object"
    ),
    _bad(
        "messages",
        {"event": "message-finish", "finish_reason": 1},
        "params.data.finish_reason must be a string",
    ),
    _bad("messages", {"event": "error"}, "params.data.message is required but missing"),
    _bad(
        "messages",
        {"event": "error", "message": "m", "code": 429},
        "params.data.code must be a string",
    ),
    _bad("tools", {"tool_call_id": "c"}, "params.data.event is required but missing"),
    _bad(
        "tools",
        {"event": "tool-started", "tool_call_id": "c"},
        "params.data.tool_name is required but missing",
    ),
    _bad(
        "tools",
        {"event": "tool-started", "tool_name": "t"},
        "params.data.tool_call_id is required but missing",
    ),
    _bad(
        "tools",
        {"event": "tool-output-delta", "tool_call_id": "c", "delta": 5},
        "params.data.delta must be a string, got int",
    ),
    _bad(
        "tools",
        {"event": "tool-finished", "output": 1},
        "params.data.tool_call_id is required but missing",
    ),
    _bad(
        "tools",
        {"event": "tool-error", "tool_call_id": "c"},
        "params.data.message is required but missing",
    ),
    _bad("input.requested", {"payload": 1}, "params.data.interrupt_id is required but missing"),
    _bad(
        "input.requested", {"interrupt_id": 5}, "params.data.interrupt_id must be a string, got int"
    ),
    _bad("custom", {"name": 5, "payload": 1}, "params.data.name must be a string, got int"),
    _bad("checkpoints", {"step": 1}, "params.data.id is required but missing"),
    _bad("checkpoints", {"id": "c", "step": "1"}, "params.data.step must be an integer, got str"),
    _bad("checkpoints", {"id": "c", "parent_id": 1}, "params.data.parent_id must be a string"),
    _bad("tasks", {"id": 5}, "params.data.id must be a string, got int"),
    _bad("tasks", {"name": []}, "params.data.name must be a string, got list"),
    *(
        _bad(method, data, f"params.data of a {method!r} event must be an object, got {kind}")
        for method in (
            "messages",
            "lifecycle",
            "tools",
            "input.requested",
            "checkpoints",
            "tasks",
        )
        for data, kind in ((None, "null"), ([1], "list"), ("x", "str"))
    ),
]


@pytest.mark.parametrize(("method", "data", "message"), MALFORMED)
def test_malformed(method: str, data: Any, message: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_payload(method, data)
    assert info.value.message.startswith(message)
    event = decode_message(event_bytes(method, data))  # the envelope itself is fine
    with pytest.raises(RemoteProtocolError) as info:
        _ = event.payload
    assert info.value.message.startswith(message)
