"""A realistic, deterministic event corpus for the benchmarks.

It imitates a long-lived thread of an agent chat as the Agent Server streams
it: each run opens with a root ``lifecycle running``, has a values snapshot of
the conversation so far (which grows run by run, up to a conversation of
``max_turns`` turns, then starts over), streams an AI message token by token
(``messages`` content-block deltas; sometimes reasoning first and a tool call
with streamed args), runs the tool (``tools`` events and the mirrored tool
message in ``tools:<id>``), sometimes a subagent one or two namespaces deep
with messages of its own, more values snapshots, and the root terminal event.
Heartbeat comments are sprinkled in. Seq increases across the whole corpus
(one connection). Framing is the server's: ``event``, ``data``, ``id`` lines,
CRLF or LF.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import orjson

WORDS = [
    "the",
    "weather",
    "in",
    "paris",
    "is",
    "sunny",
    "and",
    "warm",
    "today",
    "so",
    "we",
    "should",
    "plan",
    "a",
    "walk",
    "along",
    "the",
    "river",
    "then",
    "visit",
    "the",
    "museum",
    "before",
    "dinner",
    "at",
    "a",
    "small",
    "place",
    "near",
    "the",
    "station",
    "where",
    "they",
    "serve",
    "fresh",
    "bread",
    "cheese",
    "and",
    "a",
    "glass",
    "of",
    "wine",
]


def _envelope(seq: int, method: str, namespace: list[str], data: Any, ts: int) -> dict[str, Any]:
    return {
        "type": "event",
        "event_id": f"{1795236837000 + seq}-0",
        "seq": seq,
        "method": method,
        "params": {"namespace": namespace, "timestamp": ts, "data": data},
    }


def events(count: int, *, seed: int = 7, max_turns: int = 12) -> Iterator[dict[str, Any]]:
    """Yield ``count`` event envelopes (dicts), deterministically for ``seed``."""
    rng = random.Random(seed)
    seq = 0
    ts = 1795236837000
    conversation: list[dict[str, Any]] = []
    run = 0

    def emit(method: str, namespace: list[str], data: Any) -> dict[str, Any]:
        nonlocal seq, ts
        seq += 1
        ts += 1
        return _envelope(seq, method, namespace, data, ts)

    while True:
        run += 1
        if len(conversation) >= 2 * max_turns:
            conversation = []
        run_id = f"run-{run}"
        ns: list[str] = []
        yield emit("lifecycle", ns, {"event": "running", "graph_name": "agent"})
        conversation.append({"type": "human", "content": f"question {run}", "id": f"h{run}"})
        yield emit("values", ns, {"messages": list(conversation)})
        # The assistant's message, token by token.
        tokens = rng.randint(80, 300)
        message_id = f"lc_run--{run_id}"
        yield emit("messages", ns, {"event": "message-start", "role": "ai", "id": message_id})
        index = 0
        if rng.random() < 0.3:
            yield emit(
                "messages",
                ns,
                {
                    "event": "content-block-start",
                    "index": 0,
                    "content": {"type": "reasoning", "reasoning": ""},
                },
            )
            for _ in range(rng.randint(10, 40)):
                word = " " + rng.choice(WORDS)
                yield emit(
                    "messages",
                    ns,
                    {
                        "event": "content-block-delta",
                        "index": 0,
                        "delta": {"type": "reasoning-delta", "reasoning": word},
                    },
                )
            index = 1
        yield emit(
            "messages",
            ns,
            {
                "event": "content-block-start",
                "index": index,
                "content": {"type": "text", "text": ""},
            },
        )
        words = []
        for _ in range(tokens):
            word = " " + rng.choice(WORDS)
            words.append(word)
            yield emit(
                "messages",
                ns,
                {
                    "event": "content-block-delta",
                    "index": index,
                    "delta": {"type": "text-delta", "text": word},
                },
            )
        text = "".join(words)
        use_tool = rng.random() < 0.4
        if use_tool:
            call_id = f"call_{run}"
            yield emit(
                "messages",
                ns,
                {
                    "event": "content-block-start",
                    "index": index + 1,
                    "content": {
                        "type": "tool_call_chunk",
                        "id": call_id,
                        "name": "search",
                        "args": "",
                        "index": index + 1,
                    },
                },
            )
            for piece in ('{"query":', ' "weather', ' in paris"}'):
                yield emit(
                    "messages",
                    ns,
                    {
                        "event": "content-block-delta",
                        "index": index + 1,
                        "delta": {"type": "tool-call-delta", "args": piece},
                    },
                )
        yield emit(
            "messages",
            ns,
            {
                "event": "content-block-finish",
                "index": index,
                "content": {"type": "text", "text": text},
            },
        )
        yield emit(
            "messages",
            ns,
            {
                "event": "message-finish",
                "usage": {"input_tokens": 20, "output_tokens": tokens, "total_tokens": tokens + 20},
            },
        )
        content: list[dict[str, Any]] = [{"type": "text", "text": text, "index": index}]
        ai_message: dict[str, Any] = {
            "type": "ai",
            "content": content,
            "id": message_id,
            "response_metadata": {"output_version": "v1", "model_name": "fake-chat"},
            "usage_metadata": {
                "input_tokens": 20,
                "output_tokens": tokens,
                "total_tokens": tokens + 20,
            },
        }
        if use_tool:
            call = {
                "type": "tool_call",
                "name": "search",
                "args": {"query": "weather in paris"},
                "id": call_id,
            }
            content.append(call)
            ai_message["tool_calls"] = [call]
        conversation.append(ai_message)
        yield emit("updates", ns, {"agent": {"messages": [ai_message]}})
        yield emit("values", ns, {"messages": list(conversation)})
        if use_tool:
            tool_ns = [f"tools:{call_id}"]
            yield emit(
                "tools",
                ns,
                {
                    "event": "tool-started",
                    "tool_call_id": call_id,
                    "tool_name": "search",
                    "input": {"query": "weather"},
                },
            )
            for piece in ("looking up ", "paris"):
                yield emit(
                    "tools",
                    ns,
                    {"event": "tool-output-delta", "tool_call_id": call_id, "delta": piece},
                )
            if rng.random() < 0.5:
                # A subagent, one or two levels deep, with its own message.
                depth = rng.randint(1, 2)
                sub_ns = ["researcher:" + call_id] + (["searcher:" + call_id] if depth == 2 else [])
                yield emit(
                    "lifecycle",
                    sub_ns,
                    {
                        "event": "started",
                        "graph_name": "researcher",
                        "namespace": sub_ns,
                        "trigger_call_id": call_id,
                    },
                )
                yield emit(
                    "messages",
                    sub_ns,
                    {"event": "message-start", "role": "ai", "id": f"sub-{call_id}"},
                )
                yield emit(
                    "messages",
                    sub_ns,
                    {
                        "event": "content-block-start",
                        "index": 0,
                        "content": {"type": "text", "text": ""},
                    },
                )
                for _ in range(rng.randint(10, 60)):
                    yield emit(
                        "messages",
                        sub_ns,
                        {
                            "event": "content-block-delta",
                            "index": 0,
                            "delta": {"type": "text-delta", "text": " " + rng.choice(WORDS)},
                        },
                    )
                yield emit("messages", sub_ns, {"event": "message-finish"})
                yield emit("lifecycle", sub_ns, {"event": "completed", "graph_name": "researcher"})
            output = "sunny, 21C"
            yield emit(
                "tools",
                ns,
                {
                    "event": "tool-finished",
                    "tool_call_id": call_id,
                    "output": {"type": "tool", "content": output, "tool_call_id": call_id},
                },
            )
            yield emit(
                "messages",
                tool_ns,
                {
                    "event": "message-start",
                    "role": "tool",
                    "id": f"tool-{call_id}",
                    "tool_call_id": call_id,
                },
            )
            yield emit(
                "messages",
                tool_ns,
                {
                    "event": "content-block-delta",
                    "index": 0,
                    "content": {"type": "text", "text": output},
                },
            )
            yield emit("messages", tool_ns, {"event": "message-finish", "metadata": {}})
            tool_message = {
                "type": "tool",
                "content": output,
                "id": f"tm-{call_id}",
                "name": "search",
                "tool_call_id": call_id,
                "status": "success",
                "artifact": None,
            }
            conversation.append(tool_message)
            yield emit("updates", ns, {"tools": {"messages": [tool_message]}})
            yield emit("values", ns, {"messages": list(conversation)})
        yield emit("lifecycle", ns, {"event": "completed", "graph_name": "agent"})
        if seq >= count:
            return


def sse_body(
    count: int, *, newline: bytes = b"\r\n", seed: int = 7, heartbeat_every: int = 5000
) -> bytes:
    """The corpus as one SSE body in the server's framing (CRLF by default)."""
    parts = []
    for n, envelope in enumerate(events(count, seed=seed), start=1):
        if n > count:
            break
        parts.append(
            b"event: "
            + envelope["method"].encode()
            + newline
            + b"data: "
            + orjson.dumps(envelope)
            + newline
            + b"id: "
            + str(envelope["seq"]).encode()
            + newline
            + newline
        )
        if heartbeat_every and n % heartbeat_every == 0:
            parts.append(b": heartbeat" + newline + newline)
    return b"".join(parts)


def chunks(body: bytes, size: int) -> list[bytes]:
    """``body`` cut into pieces of ``size`` bytes, as a socket would deliver it."""
    return [body[i : i + size] for i in range(0, len(body), size)]
