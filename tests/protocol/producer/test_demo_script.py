"""The scripted demo agent, run through the producer and the client core.

Charter: every section the module docstring documents appears on the wire
with the documented shapes and texts (Appendix A message shapes, the tools
channel, nested subagents with a toolCall cause, named and plain custom
events, values and updates, single and batch interrupts answered with
input.respond, the failure, the long run); options select exactly those
sections; the script is deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from producer_helpers import Clock, drive_demo, ws_messages

from threadwire.adapters._demo_script import (
    DEMO_ANSWER,
    DEMO_BATCH_PAYLOADS,
    DEMO_CUSTOM_STATUS,
    DEMO_ERROR,
    DEMO_GRAPH,
    DEMO_INTERRUPT_PAYLOAD,
    DEMO_PARTIAL,
    DEMO_PROGRESS,
    DEMO_QUESTION,
    DEMO_REASONING,
    DEMO_RESEARCHER_TEXT,
    DEMO_SEARCHER_TEXT,
    DEMO_SUBAGENT_CALL_ID,
    DEMO_TEXT,
    DEMO_TOOL_ARGS,
    DEMO_TOOL_CALL_ID,
    DEMO_TOOL_NAME,
    DEMO_TOOL_OUTPUT_DELTAS,
    DEMO_TOOL_RESULT,
    DEMO_USAGE,
    DemoOptions,
    Pause,
    PushPart,
    WaitForInput,
    demo_ids,
    demo_long_text,
    demo_options,
    demo_steps,
)
from threadwire.protocol import (
    ALL_CHANNELS,
    ClientSession,
    CommandFailure,
    CommandSuccess,
    Event,
    InputRespond,
    InputRespondBatch,
    StreamFilter,
    SubscriptionSubscribe,
)
from threadwire.protocol.producer import BaseHandler, EventLog, RunProducer, ServerSession

INTERRUPT_ID = "0123456789abcdef0123456789abcdef"
IDS = demo_ids(INTERRUPT_ID)
EVERYTHING = StreamFilter(channels=[*ALL_CHANNELS, "custom:progress"])


class DemoHandler(BaseHandler):
    def __init__(self, producer: RunProducer) -> None:
        self.producer = producer
        self.answers: Mapping[str, Any] = {}

    def respond(self, command: InputRespond | InputRespondBatch) -> None:
        self.answers = self.producer.take_responses(command)


class Harness:
    """Producer + WebSocket server session + client core, joined in memory."""

    def __init__(self) -> None:
        self.log = EventLog("thread")
        self.producer = RunProducer(self.log)
        self.handler = DemoHandler(self.producer)
        self.server = ServerSession(self.log, self.handler, max_queued_events=100_000)
        self.client = ClientSession()
        self.sub = self.client.subscribe(EVERYTHING)
        self.events: list[Event] = []
        self.clock = Clock()
        self.send(SubscriptionSubscribe(channels=sorted(EVERYTHING.channels)))

    def pump(self) -> Any:
        outcome = None
        for message in ws_messages(self.server.data_to_send()):
            if isinstance(message, Event):
                if self.sub in self.client.receive_event(message):
                    self.events.append(message)
            else:
                assert isinstance(message, CommandSuccess | CommandFailure)
                outcome = self.client.receive_reply(message)
        return outcome

    def send(self, command: Any) -> Any:
        self.server.receive_command(self.client.send(command).data)
        return self.pump()

    def answer_all(self, response: Any) -> Any:
        def answer(ids: tuple[str, ...]) -> Mapping[str, Any]:
            self.pump()
            pending = [i.interrupt_id for i in self.client.runs.pending_interrupts]
            assert sorted(pending) == sorted(ids)
            if len(ids) == 1:
                outcome = self.send(self.client.respond(response))
            else:
                outcome = self.send(self.client.respond_batch({i: response for i in ids}))
            assert outcome.ok, outcome
            return self.handler.answers

        return answer

    def run(self, input: Any, answer: Any = None, **kw: Any) -> list[Any]:
        steps = drive_demo(
            self.producer,
            demo_steps(input, interrupt_id=INTERRUPT_ID, **kw),
            clock=self.clock,
            answer=answer or self.answer_all("yes"),
        )
        self.pump()
        assert self.events == self.log.replay()  # the client saw exactly what was produced
        return steps


def of(events: list[Event], method: str, ns: tuple[str, ...] | None = None) -> list[Any]:
    return [e.data for e in events if e.method == method and (ns is None or e.namespace == ns)]


def assemble(events: list[Event], ns: tuple[str, ...]) -> list[dict[str, Any]]:
    """The messages of one namespace, from their events."""
    messages: list[dict[str, Any]] = []
    for data in of(events, "messages", ns):
        kind = data["event"]
        if kind == "message-start":
            messages.append(
                {
                    "id": data["id"],
                    "role": data["role"],
                    "kinds": [],
                    "text": "",
                    "reasoning": "",
                    "args": {},
                    "starts": {},
                    "finishes": {},
                }
            )
        msg = messages[-1]
        msg["kinds"].append(kind)
        if kind == "content-block-start":
            msg["starts"][data["index"]] = data["content"]
        elif kind == "content-block-delta":
            delta = data["delta"]
            if delta["type"] == "text-delta":
                msg["text"] += delta["text"]
            elif delta["type"] == "reasoning-delta":
                msg["reasoning"] += delta["reasoning"]
            else:
                assert delta["type"] == "tool-call-delta"
                msg["args"][data["index"]] = msg["args"].get(data["index"], "") + delta["args"]
        elif kind == "content-block-finish":
            msg["finishes"][data["index"]] = data["content"]
        elif kind == "message-finish":
            msg["usage"] = data.get("usage")
    return messages


def runs_of(events: list[Event]) -> list[list[Event]]:
    """The events split at each root running (every run's events)."""
    runs: list[list[Event]] = []
    for e in events:
        if e.method == "lifecycle" and not e.namespace and e.data["event"] == "running":
            runs.append([])
        runs[-1].append(e)
    return runs


def test_everything_but_the_failure() -> None:
    h = Harness()
    steps = h.run({})
    events = h.events
    assert not any(isinstance(s, Pause) for s in steps)
    assert {e.method for e in events} == {
        "lifecycle",
        "values",
        "updates",
        "messages",
        "tools",
        "custom",
        "input.requested",
    }
    assert "__interrupt__" not in json.dumps([e.data for e in events])
    # Two runs: interrupted at the question, then resumed to completion.
    first, second = runs_of(events)
    assert first[-1].data == {"event": "interrupted", "graph_name": DEMO_GRAPH}
    assert second[-1].data == {"event": "completed", "graph_name": DEMO_GRAPH}
    assert [r.status for r in h.client.runs.runs] == ["interrupted", "completed"]

    # The first message: reasoning, text and two tool calls; finishes together at the end.
    msg, answer = assemble(events, ())
    assert (msg["role"], msg["reasoning"], msg["text"]) == ("ai", DEMO_REASONING, DEMO_TEXT)
    assert msg["starts"] == {
        0: {"type": "reasoning", "reasoning": ""},
        1: {"type": "text", "text": ""},
        2: {
            "type": "tool_call_chunk",
            "id": DEMO_TOOL_CALL_ID,
            "name": DEMO_TOOL_NAME,
            "args": "",
            "index": 2,
        },
        3: {
            "type": "tool_call_chunk",
            "id": DEMO_SUBAGENT_CALL_ID,
            "name": "researcher",
            "args": "",
            "index": 3,
        },
    }
    assert json.loads(msg["args"][2]) == DEMO_TOOL_ARGS
    assert msg["finishes"][0] == {"type": "reasoning", "reasoning": DEMO_REASONING, "index": 0}
    assert msg["finishes"][1] == {"type": "text", "text": DEMO_TEXT, "index": 1}
    assert msg["finishes"][2] == {
        "type": "tool_call",
        "id": DEMO_TOOL_CALL_ID,
        "name": DEMO_TOOL_NAME,
        "args": DEMO_TOOL_ARGS,
    }
    assert msg["kinds"][-5:] == ["content-block-finish"] * 4 + ["message-finish"]
    assert "content-block-finish" not in msg["kinds"][:-5]
    assert msg["usage"] == DEMO_USAGE
    assert msg["id"].startswith("lc_run--")
    assert (answer["text"], answer["finishes"][0]["text"]) == (DEMO_ANSWER, DEMO_ANSWER)
    assert answer["id"] != msg["id"]

    # The tool runs on the tools channel.
    tools = of(events, "tools")
    assert [t["event"] for t in tools] == [
        "tool-started",
        "tool-output-delta",
        "tool-output-delta",
        "tool-finished",
    ]
    assert tools[0] == {
        "event": "tool-started",
        "tool_call_id": DEMO_TOOL_CALL_ID,
        "tool_name": DEMO_TOOL_NAME,
        "input": DEMO_TOOL_ARGS,
    }
    assert tuple(t["delta"] for t in tools[1:3]) == DEMO_TOOL_OUTPUT_DELTAS
    assert tools[3]["output"]["content"] == DEMO_TOOL_RESULT
    assert {e.node for e in events if e.method == "tools"} == {"tools"}

    # Subagents two levels deep: started before their first event, completed innermost first.
    researcher, searcher = IDS.researcher_ns, IDS.searcher_ns
    child_events = [e for e in events if e.namespace]
    assert child_events[0].data == {
        "event": "started",
        "namespace": list(researcher),
        "graph_name": "researcher",
        "trigger_call_id": researcher[0].partition(":")[2],
        "cause": {"type": "toolCall", "tool_call_id": DEMO_SUBAGENT_CALL_ID},
    }
    first_searcher = next(e for e in events if e.namespace == searcher)
    assert first_searcher.data == {
        "event": "started",
        "namespace": list(searcher),
        "graph_name": "searcher",
        "trigger_call_id": searcher[1].partition(":")[2],
    }
    assert [(e.namespace, e.data["event"]) for e in child_events if e.method == "lifecycle"] == [
        (researcher, "started"),
        (searcher, "started"),
        (searcher, "completed"),
        (researcher, "completed"),
    ]
    assert [m["text"] for m in assemble(events, researcher)] == [DEMO_RESEARCHER_TEXT]
    assert [m["text"] for m in assemble(events, searcher)] == [DEMO_SEARCHER_TEXT]

    # Named and plain custom events.
    custom = [e for e in events if e.method == "custom"]
    assert [(e.channel, e.data) for e in custom] == [
        ("custom:progress", {"name": "progress", "payload": DEMO_PROGRESS[0]}),
        ("custom", {"payload": DEMO_CUSTOM_STATUS}),
        ("custom:progress", {"name": "progress", "payload": DEMO_PROGRESS[1]}),
    ]

    # Values and updates; the interrupt and its answer.
    values = of(events, "values", ())
    assert values[0] == {"messages": [{"type": "human", "content": DEMO_QUESTION}]}
    assert values[-1]["approved"] == "yes"
    assert values[-1]["messages"][-1]["content"][0]["text"] == DEMO_ANSWER
    assert {"approve": {"approved": "yes"}} in of(events, "updates", ())
    [requested] = of(events, "input.requested")
    assert requested == {"interrupt_id": INTERRUPT_ID, "payload": DEMO_INTERRUPT_PAYLOAD}
    assert first[-2].method == "input.requested"


def test_failure() -> None:
    h = Harness()
    steps = h.run({"fail": True, "interrupt": False, "subagents": False})
    [run] = runs_of(h.events)
    assert run[-1].data == {"event": "failed", "graph_name": DEMO_GRAPH, "error": DEMO_ERROR}
    last = assemble(h.events, ())[-1]
    assert last["text"] == DEMO_PARTIAL
    assert "message-finish" not in last["kinds"]  # left open, as on the real server
    assert h.client.runs.runs[-1].error == DEMO_ERROR
    assert not any(isinstance(s, WaitForInput) for s in steps)


def test_minimal_and_long_run_with_pacing() -> None:
    h = Harness()
    opts = {
        "tools": False,
        "subagents": False,
        "custom": False,
        "interrupt": False,
        "tokens": 50,
        "delay": 0.01,
    }
    steps = h.run(opts)
    assert {e.method for e in h.events} == {"lifecycle", "values", "updates", "messages"}
    first, long, answer = assemble(h.events, ())
    assert 2 not in first["starts"]  # no tool calls
    assert long["text"] == demo_long_text(50)
    assert answer["text"] == DEMO_ANSWER
    pauses = [s for s in steps if isinstance(s, Pause)]
    deltas = [
        s
        for s in steps
        if isinstance(s, PushPart) and s.part.data.get("event") == "content-block-delta"
    ]
    assert len(pauses) == len(deltas) > 50
    assert {p.seconds for p in pauses} == {0.01}
    assert [r.status for r in h.client.runs.runs] == ["completed"]


def test_batch_interrupt_answered_at_once() -> None:
    h = Harness()
    h.run({"batch_interrupt": True, "subagents": False, "tools": False})
    requested = of(h.events, "input.requested")
    assert requested == [
        {"interrupt_id": INTERRUPT_ID, "payload": DEMO_BATCH_PAYLOADS[0]},
        {"interrupt_id": IDS.batch_interrupt_id, "payload": DEMO_BATCH_PAYLOADS[1]},
    ]
    assert [r.status for r in h.client.runs.runs] == ["interrupted", "completed"]
    assert of(h.events, "values", ())[-1]["answers"] == ["a='yes'", "b='yes'"]


def test_batch_interrupt_answered_one_at_a_time() -> None:
    h = Harness()
    order = iter([INTERRUPT_ID, IDS.batch_interrupt_id])

    def answer(ids: tuple[str, ...]) -> Mapping[str, Any]:
        h.pump()
        target = next(order)
        assert target in ids
        outcome = h.send(h.client.respond("ok", interrupt_id=target))
        assert outcome.ok
        return h.handler.answers

    h.run(
        {"batch_interrupt": True, "subagents": False, "tools": False, "custom": False},
        answer=answer,
    )
    requested = [d["interrupt_id"] for d in of(h.events, "input.requested")]
    # The unanswered one is raised again, with the same id, in the resumed run.
    assert requested == [INTERRUPT_ID, IDS.batch_interrupt_id, IDS.batch_interrupt_id]
    assert [r.status for r in h.client.runs.runs] == ["interrupted", "interrupted", "completed"]
    assert {"join": {"log": ["joined a='ok',b='ok'"]}} in of(h.events, "updates", ())
    assert of(h.events, "values", ())[-1]["answers"] == ["a='ok'", "b='ok'"]


def test_deterministic() -> None:
    def wire() -> list[Any]:
        h = Harness()
        h.run({"batch_interrupt": True})
        return [(e.seq, e.event_id, e.method, e.namespace, e.data) for e in h.events]

    assert wire() == wire()
    assert demo_ids(INTERRUPT_ID, batch_interrupt_id="x").batch_interrupt_id == "x"
    assert demo_long_text(3) == "t0 t1 t2"
    assert demo_long_text(1) == "t0"


def test_options() -> None:
    assert demo_options(None) == demo_options({}) == DemoOptions()
    assert demo_options({"messages": [{"role": "user", "content": "hi"}]}) == DemoOptions()
    opts = demo_options(
        {"tools": False, "tokens": 3, "delay": 1, "fail": True, "batch_interrupt": True}
    )
    assert (opts.tools, opts.tokens, opts.delay, opts.fail, opts.batch_interrupt) == (
        False,
        3,
        1.0,
        True,
        True,
    )


@pytest.mark.parametrize(
    ("input", "match"),
    [
        ([1], "must be an object"),
        ({"bogus": 1, "zzz": 2}, "unknown demo input keys: bogus, zzz"),
        ({"tools": 1}, "'tools' must be a boolean"),
        ({"tokens": -1}, "'tokens' must be an int"),
        ({"tokens": True}, "'tokens' must be an int"),
        ({"delay": -0.5}, "'delay' must be a number"),
        ({"delay": "1"}, "'delay' must be a number"),
        ({"delay": float("nan")}, "'delay' must be a number"),
    ],
)
def test_bad_options(input: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        demo_steps(input, interrupt_id=INTERRUPT_ID)


def test_protocol_of_the_generator() -> None:
    with pytest.raises(ValueError, match="interrupt_id"):
        demo_steps({}, interrupt_id="")
    steps = demo_steps(
        {"subagents": False, "tools": False, "custom": False}, interrupt_id=INTERRUPT_ID
    )
    step = next(steps)
    while not isinstance(step, WaitForInput):
        step = next(steps)
    with pytest.raises(ValueError, match="send the answers back"):
        next(steps)
