"""A readable transcript of a replay summary, for people.

:func:`render_transcript` turns the object of
:meth:`ReplaySummary.to_json` into lines of text: the runs, each message as
text (with its reasoning and tool calls), the tool executions, the subagent /
subgraph tree, the interrupts and the final status. Long JSON values are cut
to keep lines readable; ``--json`` has everything.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

__all__ = ["render_transcript"]

_MAX_JSON: Final = 240


def _json(value: Any, limit: int = _MAX_JSON) -> str:
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ns(namespace: list[str]) -> str:
    return "/".join(namespace) if namespace else "root"


def _block(label: str, text: str, indent: str) -> list[str]:
    lines = text.split("\n")
    pad = " " * (len(label) + 2)
    return [f"{indent}{label}: {lines[0]}"] + [f"{indent}{pad}{line}" for line in lines[1:]]


def render_transcript(summary: dict[str, Any], *, source: str | None = None) -> str:
    """The summary as text (see the module docstring); ends with a newline."""
    out: list[str] = []
    seq = f", last seq {summary['last_seq']}" if summary["last_seq"] is not None else ""
    head = f"{summary['events']} events{seq}"
    out.append(f"replay of {source}: {head}" if source else f"replay: {head}")
    if summary["channels"]:
        out.append(
            "channels: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["channels"].items()))
        )
    for number, run in enumerate(summary["runs"], 1):
        error = f": {run['error']}" if run["error"] else ""
        out.append(f"run {number} ({run['run_id'] or 'id unknown'}): {run['status']}{error}")

    if summary["messages"]:
        out.append("")
        out.append("messages:")
    for message in summary["messages"]:
        status = message["status"]
        usage = f", usage {_json(message['usage'])}" if message["usage"] else ""
        out.append(f"  [{_ns(message['namespace'])}] {message['role'] or '?'} ({status}{usage})")
        if message["reasoning"]:
            out.extend(_block("reasoning", message["reasoning"], "    "))
        if message["text"]:
            out.extend(_block("text", message["text"], "    "))
        for call in message["tool_calls"]:
            out.append(f"    asks for {call['name']}({_json(call['args'])}) [{call['id']}]")

    if summary["tool_calls"]:
        out.append("")
        out.append("tool calls:")
    for call in summary["tool_calls"]:
        out.append(
            f"  [{_ns(call['namespace'])}] {call['tool_name']}({_json(call['input'])}) "
            f"[{call['tool_call_id']}]: {call['status']}"
        )
        if call["deltas"]:
            out.append("    streamed: " + " ".join(_json(d) for d in call["deltas"]))
        if call["status"] == "finished":
            output = call["output"]
            if type(output) is dict and type(output.get("content")) is str:
                out.extend(_block("output", output["content"], "    "))
            else:
                out.append(f"    output: {_json(output)}")
        if call["error"]:
            out.append(f"    error: {call['error']}")

    if summary["subgraphs"]:
        out.append("")
        out.append("subgraphs and subagents:")
    for node in summary["subgraphs"]:
        indent = "  " * len(node["namespace"])
        out.append(f"{indent}{node['namespace'][-1]} ({node['graph_name']}): {node['status']}")

    if summary["interrupts"]:
        out.append("")
        out.append("interrupts:")
    for interrupt in summary["interrupts"]:
        out.append(
            f"  [{_ns(interrupt['namespace'])}] {interrupt['interrupt_id']}: "
            f"{interrupt['status']}, payload {_json(interrupt['payload'])}"
        )

    if summary["extensions"] or summary["custom"]:
        out.append("")
        out.append("custom events:")
    for name, payloads in summary["extensions"].items():
        out.append(f"  {name}: " + ", ".join(_json(p, 80) for p in payloads))
    if summary["custom"]:
        out.append("  (unnamed): " + ", ".join(_json(p, 80) for p in summary["custom"]))

    out.append("")
    if summary["values"] is not None:
        out.append(f"values: {_json(summary['values'])}")
    error = f": {summary['error']}" if summary["error"] else ""
    out.append(f"status: {summary['status'] or 'no run seen'}{error}")
    return "\n".join(out) + "\n"
