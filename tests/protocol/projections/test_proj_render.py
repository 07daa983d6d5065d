"""The readable transcript of a replay.

Charter: ``render_transcript`` shows the runs, messages as text (reasoning,
text, tool calls asked for), tool executions (streamed chunks, output or
error), the subgraph tree indented by depth, interrupts with payloads, custom
events, the final values and status; long JSON is cut, full text is not.
"""

from __future__ import annotations

from typing import Any

from projection_helpers import summary_of

from threadwire.protocol.projections import render_transcript

CHAT_TOOLS = """\
replay of chat_tools: 59 events, last seq 59
channels: lifecycle 2, messages 46, tools 4, updates 3, values 4
run 1 (01a1fc7a-27d4-76d4-be9f-c1e90e8e4453): completed

messages:
  [root] ai (finished)
    reasoning: The user asks about weather so I should call the tool
    text: Let me check the weather for you.
    asks for get_weather({"city":"Paris"}) [call_weather_1]
  [tools:call_weather_1] tool (finished)
    text: It is sunny in Paris, 21C
  [root] ai (finished)
    text: The weather in Paris is sunny and 21 degrees.

tool calls:
  [root] get_weather({"city":"Paris"}) [call_weather_1]: finished
    streamed: "looking up " "Paris"
    output: It is sunny in Paris, 21C

subgraphs and subagents:
  tools:call_weather_1 (tools): completed

"""


def test_chat_tools_transcript() -> None:
    out = render_transcript(summary_of("shared/chat_tools/sse.raw"), source="chat_tools")
    assert out.startswith(CHAT_TOOLS)
    values_line, status_line = out.splitlines()[-2:]
    assert values_line.startswith('values: {"messages":[{"type":"human"')
    assert values_line.endswith("…") and len(values_line) == len("values: ") + 240
    assert status_line == "status: completed"


def test_every_section() -> None:
    summary: dict[str, Any] = {
        "events": 0,
        "channels": {},
        "last_seq": None,
        "runs": [{"run_id": None, "status": "failed", "error": "boom"}],
        "status": "failed",
        "error": "boom",
        "values": None,
        "messages": [
            {
                "id": "m",
                "namespace": ["a:1", "b:2"],
                "role": None,
                "text": "line 1\nline 2",
                "reasoning": "",
                "tool_calls": [],
                "usage": {"total_tokens": 3},
                "status": "open",
            },
            {
                "id": "n",
                "namespace": [],
                "role": "ai",
                "text": "",
                "reasoning": "hmm",
                "tool_calls": [],
                "usage": None,
                "status": "error",
            },
        ],
        "tool_calls": [
            {
                "tool_call_id": "c",
                "tool_name": "t",
                "namespace": [],
                "input": None,
                "deltas": [],
                "output": [1, 2],
                "status": "finished",
                "error": None,
            },
            {
                "tool_call_id": "d",
                "tool_name": "u",
                "namespace": [],
                "input": {},
                "deltas": [],
                "output": None,
                "status": "error",
                "error": "bad",
            },
        ],
        "interrupts": [
            {"interrupt_id": "i", "namespace": ["a:1"], "payload": {"q": "?"}, "status": "pending"}
        ],
        "subgraphs": [
            {"namespace": ["a:1"], "graph_name": "a", "status": "failed"},
            {"namespace": ["a:1", "b:2"], "graph_name": "b", "status": "failed"},
        ],
        "extensions": {"progress": [{"step": 1}]},
        "custom": ["plain"],
    }
    assert (
        render_transcript(summary)
        == """\
replay: 0 events
run 1 (id unknown): failed: boom

messages:
  [a:1/b:2] ? (open, usage {"total_tokens":3})
    text: line 1
          line 2
  [root] ai (error)
    reasoning: hmm

tool calls:
  [root] t(null) [c]: finished
    output: [1,2]
  [root] u({}) [d]: error
    error: bad

subgraphs and subagents:
  a:1 (a): failed
    b:2 (b): failed

interrupts:
  [a:1] i: pending, payload {"q":"?"}

custom events:
  progress: {"step":1}
  (unnamed): "plain"

status: failed: boom
"""
    )


def test_nothing_at_all() -> None:
    summary = summary_of("shared/errors/sse_since_huge.raw")
    assert render_transcript(summary) == "replay: 0 events\n\nstatus: no run seen\n"
    custom = summary_of("captures/custom.replay.sse.raw")
    assert "  (unnamed): " in render_transcript(custom)
