"""Real server captures (tests/data/fixtures) through SSEParser and the codec.

Charter:

* Every 200 ``*.raw`` event stream parses cleanly (whole and split), and
  ``decode_message`` turns every ``data`` into an ``Event``: as many as
  ``meta.json`` counted, ``seq`` strictly increasing from ``seq_first`` to
  ``seq_last``, the SSE ``id`` equal to ``seq`` and the SSE ``event`` equal to
  the method, every ``.payload`` decodable, every channel and namespace
  allowed by the request's filter, and the root lifecycle of each run as
  :data:`CAPTURES` records it.
* The server's framing is reproduced byte for byte: re-serializing the parsed
  items with ``serialize_message``/``serialize_comment`` and re-encoding every
  event with ``encode_event`` gives back the capture.
* HTTP 400 bodies are JSON, not event streams: as SSE they give no items and a
  clean end; as messages they are not protocol envelopes.
* ``commands.jsonl``: every response decodes to the reply the server meant
  (id, code, ``applied_through_seq``), every request decodes in the producer
  role the way the server judged it (envelope errors with the server's exact
  message and echoed id).
* ``ws.jsonl``: every received frame decodes; the envelope errors our
  producer role raises for the sent frames are those the server answered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import FIXTURES, bytewise, chunk, load_meta, parse, random_cuts, read_jsonl, signature

from threadwire.protocol import (
    COMMAND_TYPES,
    AgentGetTree,
    AgentTreeNode,
    CommandFailure,
    CommandSuccess,
    ContentBlockDelta,
    ContentDelta,
    Event,
    InputRequested,
    MessageStart,
    RemoteProtocolError,
    RunStartResult,
    SSEComment,
    SSEMessage,
    StreamFilter,
    SubscribeResult,
    TextDelta,
    ToolOutputDelta,
    ToolStarted,
    UnknownCommand,
    decode_command,
    decode_message,
    encode_command,
    encode_event,
    serialize_comment,
    serialize_message,
)

HITL_RUNS = ["running", "interrupted", "running", "completed"]
TWO_RUNS = ["running", "completed", "running", "completed"]
ONE_RUN = ["running", "completed"]

CAPTURES: dict[str, tuple[list[str], set[str]]] = {
    # capture: (root lifecycle statuses in order, methods present)
    "bare/sse.raw": (ONE_RUN, {"lifecycle", "values"}),
    "chat_tools/sse.raw": (ONE_RUN, {"lifecycle", "values", "updates", "messages", "tools"}),
    "chat_tools/sse_last_event_id_header.raw": (
        ONE_RUN,
        {"lifecycle", "values", "updates", "messages", "tools"},
    ),
    "chat_tools/sse_only_messages_live.raw": ([], {"messages"}),
    "chat_tools/sse_only_tools_live.raw": ([], {"tools"}),
    "chat_tools/sse_replay_full.raw": (
        ONE_RUN,
        {"lifecycle", "values", "updates", "messages", "tools"},
    ),
    "chat_tools/sse_replay_since.raw": (
        ["completed"],
        {"lifecycle", "values", "updates", "messages", "tools"},
    ),
    "chat_tools/sse_root_only_depth0.raw": ([], {"messages"}),
    "errors/sse_depth_false.raw": (ONE_RUN, {"lifecycle"}),
    "errors/sse_lazy_thread.raw": (ONE_RUN, {"lifecycle", "values"}),
    "errors/sse_nonexistent_thread.raw": ([], set()),
    "errors/sse_since_huge.raw": ([], set()),
    "errors/sse_since_negative.raw": (ONE_RUN, {"lifecycle"}),
    "errors/sse_since_true_bool.raw": (ONE_RUN, {"lifecycle"}),
    "failing/sse.raw": (["running", "failed"], {"lifecycle", "values", "updates"}),
    "failing/sse_last_event_id_header.raw": (
        ["running", "failed"],
        {"lifecycle", "values", "updates"},
    ),
    "failing/sse_replay_full.raw": (["running", "failed"], {"lifecycle", "values", "updates"}),
    "failing/sse_replay_since.raw": (["failed"], {"lifecycle", "values"}),
    "hitl/sse.raw": (HITL_RUNS, {"lifecycle", "values", "updates", "input.requested"}),
    "hitl/sse_last_event_id_header.raw": (
        HITL_RUNS,
        {"lifecycle", "values", "updates", "input.requested"},
    ),
    "hitl/sse_replay_full.raw": (HITL_RUNS, {"lifecycle", "values", "updates", "input.requested"}),
    "hitl/sse_replay_since.raw": (ONE_RUN, {"lifecycle", "values", "updates"}),
    "hitl/sse_resume_via_run_start.raw": (
        HITL_RUNS,
        {"lifecycle", "values", "updates", "input.requested"},
    ),
    "values/sse.raw": (TWO_RUNS, {"lifecycle", "values", "updates"}),
    "values/sse_last_event_id_header.raw": (TWO_RUNS, {"lifecycle", "values", "updates"}),
    "values/sse_only_lifecycle.raw": (TWO_RUNS, {"lifecycle"}),
    "values/sse_only_updates.raw": ([], {"updates"}),
    "values/sse_only_values.raw": ([], {"values"}),
    "values/sse_replay_full.raw": (TWO_RUNS, {"lifecycle", "values", "updates"}),
    "values/sse_replay_since.raw": (
        ["completed", "running", "completed"],
        {"lifecycle", "values", "updates"},
    ),
    "values/sse_second_run.raw": (TWO_RUNS, {"lifecycle", "values", "updates"}),
}


def _capture_meta(path: Path) -> dict[str, Any]:
    (info,) = [s for s in load_meta(path.parent.name)["sse"].values() if s["file"] == path.name]
    return info  # type: ignore[no-any-return]


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


RAW = sorted(FIXTURES.glob("*/*.raw"))
STREAMS = [p for p in RAW if _capture_meta(p)["status"] == 200]
BODIES_400 = [p for p in RAW if _capture_meta(p)["status"] == 400]


def test_every_capture_is_classified() -> None:
    assert len(RAW) == 36
    assert sorted(_name(p) for p in STREAMS) == sorted(CAPTURES)
    assert len(BODIES_400) == 5


def _events(path: Path) -> tuple[list[SSEMessage | SSEComment], list[Event]]:
    wire = path.read_bytes()
    result = parse(chunk(wire, []))
    assert result.error is None
    messages = result.messages
    events = [decode_message(m.data) for m in messages]
    assert all(type(e) is Event for e in events)
    return result.items, events


def _server_filter(body: dict[str, Any]) -> StreamFilter:
    """The request body's filter, read with the server's leniency (PROTOCOL.md 1.1)."""
    depth = body.get("depth")
    return StreamFilter(
        channels=body["channels"],
        namespaces=body.get("namespaces") if isinstance(body.get("namespaces"), list) else None,
        depth=depth if type(depth) is int and depth >= 0 else None,
    )


@pytest.mark.parametrize("path", STREAMS, ids=_name)
def test_stream_decodes_to_what_meta_counted(path: Path) -> None:
    meta = _capture_meta(path)
    items, events = _events(path)
    assert len(events) == meta["events"]
    seqs = [e.seq for e in events]
    assert all(type(s) is int for s in seqs)
    assert seqs == sorted(set(seqs)), "seq must strictly increase"
    if events:
        assert (seqs[0], seqs[-1]) == (meta["seq_first"], meta["seq_last"])
    messages = [m for m in items if isinstance(m, SSEMessage)]
    for message, event in zip(messages, events, strict=True):
        assert message.id == str(event.seq)
        assert message.event == event.method
        assert event.event_id
        event.payload  # noqa: B018 - must not raise
    assert {c.text for c in items if isinstance(c, SSEComment)} <= {"heartbeat"}


@pytest.mark.parametrize("path", STREAMS, ids=_name)
def test_stream_matches_its_request_and_runs(path: Path) -> None:
    request_filter = _server_filter(_capture_meta(path)["request_body"])
    _, events = _events(path)
    for event in events:
        assert request_filter.matches(event.channel, event.namespace), event
    statuses, methods = CAPTURES[_name(path)]
    assert [e.payload.event for e in events if e.method == "lifecycle" and e.is_root] == statuses
    assert {e.method for e in events} == methods


@pytest.mark.parametrize("path", STREAMS, ids=_name)
def test_server_framing_is_reproduced_byte_for_byte(path: Path) -> None:
    items, _ = _events(path)
    rebuilt = b"".join(
        serialize_comment(item.text)
        if isinstance(item, SSEComment)
        else serialize_message(item.data, event=item.event, id=item.id)
        for item in items
    )
    assert rebuilt == path.read_bytes()
    for message in items:
        if isinstance(message, SSEMessage):
            assert encode_event(decode_message(message.data)) == message.data.encode()


@pytest.mark.parametrize("path", STREAMS, ids=_name)
def test_stream_splits(path: Path) -> None:
    wire = path.read_bytes()
    expected = signature(parse(chunk(wire, [])))
    for seed in range(3):
        assert signature(parse(chunk(wire, random_cuts(wire, seed, max_pieces=64)))) == expected
    if len(wire) < 4000:
        assert signature(parse(bytewise(wire))) == expected


@pytest.mark.parametrize("path", BODIES_400, ids=_name)
def test_http_400_bodies_are_not_event_streams(path: Path) -> None:
    body = path.read_bytes()
    assert not body.endswith(b"\n")
    result = parse([body])
    assert (result.items, result.error) == ([], None)  # a field named '{"detail"', ignored
    assert set(json.loads(body)) == {"detail"}
    with pytest.raises(RemoteProtocolError, match=r"^message has no 'type' field$"):
        decode_message(body)


# -- scenario facts (PROTOCOL.md Appendix B and C) ---------------------------------------------


def _payloads(capture: str, method: str) -> list[tuple[tuple[str, ...], Any]]:
    _, events = _events(FIXTURES / capture)
    return [(e.namespace, e.payload) for e in events if e.method == method]


def test_chat_tools_tool_call() -> None:
    tools = [p for _, p in _payloads("chat_tools/sse.raw", "tools")]
    started = tools[0]
    assert isinstance(started, ToolStarted)
    assert (started.tool_name, started.input) == ("get_weather", {"city": "Paris"})
    deltas = [p.delta for p in tools if isinstance(p, ToolOutputDelta)]
    assert deltas == ["looking up ", "Paris"]


def test_chat_tools_messages() -> None:
    messages = _payloads("chat_tools/sse.raw", "messages")
    root_text: list[str] = []
    for ns, payload in messages:
        if not ns and isinstance(payload, MessageStart):
            root_text.append("")
        elif (
            not ns
            and isinstance(payload, ContentBlockDelta)
            and isinstance(payload.delta, TextDelta)
        ):
            root_text[-1] += payload.delta.text
    assert root_text == [
        "Let me check the weather for you.",
        "The weather in Paris is sunny and 21 degrees.",
    ]
    mirrored = [(ns, p) for ns, p in messages if ns]
    assert {ns for ns, _ in mirrored} == {("tools:call_weather_1",)}
    start = mirrored[0][1]
    assert isinstance(start, MessageStart)
    assert (start.role, start.tool_call_id) == ("tool", "call_weather_1")
    assert any(
        isinstance(p, ContentBlockDelta) and isinstance(p.delta, ContentDelta) for _, p in mirrored
    )


def test_hitl_interrupt() -> None:
    meta = load_meta("hitl")
    (interrupt,) = [p for _, p in _payloads("hitl/sse.raw", "input.requested")]
    assert isinstance(interrupt, InputRequested)
    assert interrupt.interrupt_id == meta["interrupt_id"]
    assert interrupt.payload["question"] == "Approve the request?"


def test_failing_run_error() -> None:
    lifecycle = [p for _, p in _payloads("failing/sse.raw", "lifecycle")]
    assert lifecycle[-1].event == "failed"
    assert lifecycle[-1].error == "boom: deliberate failure for the corpus"


# -- commands ------------------------------------------------------------------------------------

COMMAND_ROWS = [
    pytest.param(row, id=f"{scenario}:{row['label']}")
    for scenario in sorted(p.name for p in FIXTURES.iterdir())
    if (FIXTURES / scenario / "commands.jsonl").exists()
    for row in read_jsonl(FIXTURES / scenario / "commands.jsonl")
    if row["kind"] == "command"
]

# Requests whose params our producer role rejects (invalid_argument). The server
# rejected them too; over HTTP it answers a param-less subscription.reconnect with
# no_such_run, because it looks for a bound session first. (The server also rejects
# unsupported channel names and non-UUID checkpoint ids; the producer role leaves
# those checks to the application serving the command.)
PARAM_ERRORS = {
    "run.start missing assistant_id",
    "input.respond missing interrupt_id",
    "input.respond namespace not a list",
    "input.respond empty responses batch",
    "subscription.unsubscribe missing id",
    "subscription.reconnect over HTTP",
}


@pytest.mark.parametrize("row", COMMAND_ROWS)
def test_command_response_decodes(row: dict[str, Any]) -> None:
    response = row["response"]
    if "detail" in response:
        with pytest.raises(RemoteProtocolError, match=r"^message has no 'type' field$"):
            decode_message(orjson.dumps(response))
        return
    reply = decode_message(orjson.dumps(response))
    request_id = response["id"]
    assert reply.id == (request_id if type(request_id) is int else None)
    assert reply.applied_through_seq == response.get("meta", {}).get("applied_through_seq")
    if response["type"] == "success":
        assert isinstance(reply, CommandSuccess)
        assert reply.result == response["result"]
    else:
        assert isinstance(reply, CommandFailure)
        assert (reply.code, reply.message) == (response["error"], response["message"])


@pytest.mark.parametrize("row", COMMAND_ROWS)
def test_command_request_decodes_as_the_server_judged(row: dict[str, Any]) -> None:
    response = row["response"]
    if row["status"] == 400:
        with pytest.raises(RemoteProtocolError) as info:
            decode_command(row["request"])
        if "detail" in response:
            assert info.value.message == "Protocol commands must be valid JSON."
        else:
            assert info.value.message == response["message"]
            assert info.value.command_id == response["id"]  # type: ignore[attr-defined]
        return
    if row["label"] in PARAM_ERRORS:
        assert response["type"] == "error"
        with pytest.raises(RemoteProtocolError) as info:
            decode_command(row["request"])
        assert info.value.hint == "invalid_argument"
        assert info.value.command_id == response["id"]  # type: ignore[attr-defined]
        return
    command_id, command = decode_command(row["request"])
    request = json.loads(row["request"])
    assert command_id == request["id"]
    assert command.method == request["method"]
    assert isinstance(command, UnknownCommand) == (request["method"] not in COMMAND_TYPES)
    assert decode_command(encode_command(command_id, command)) == (command_id, command)
    if response["type"] == "success":
        result = command.parse_result(response["result"])
        assert isinstance(result, RunStartResult | SubscribeResult | dict)


# -- WebSocket transcripts -------------------------------------------------------------------------

WS_TRANSCRIPTS = sorted(FIXTURES.glob("*/ws.jsonl"))


def _sent_id(text: str) -> Any:
    """The id a sent command carried, as the producer role reads it."""
    try:
        return decode_command(text)[0]
    except RemoteProtocolError as exc:
        return exc.command_id  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", WS_TRANSCRIPTS, ids=_name)
def test_ws_frames_decode(path: Path) -> None:
    frames = list(read_jsonl(path))
    received = [f for f in frames if f["dir"] == "recv"]
    assert received
    last_seq: dict[str, int] = {}
    sent_ids: dict[str, set[int]] = {}
    for frame in frames:
        conn = frame["conn"]
        if frame["dir"] == "send":
            sent_ids.setdefault(conn, set()).add(_sent_id(frame["text"]))
            continue
        if frame["dir"] != "recv":
            continue
        message = decode_message(frame["text"])
        if isinstance(message, Event):
            assert message.seq is not None and message.seq > last_seq.get(conn, 0)
            last_seq[conn] = message.seq
            message.payload  # noqa: B018 - must not raise
        else:
            assert isinstance(message, CommandSuccess | CommandFailure)
            assert message.id is None or message.id in sent_ids[conn]


@pytest.mark.parametrize("path", WS_TRANSCRIPTS, ids=_name)
def test_ws_envelope_errors_match_the_server(path: Path) -> None:
    ours = []
    for frame in read_jsonl(path):
        if frame["dir"] == "send":
            try:
                decode_command(frame["text"])
            except RemoteProtocolError as exc:
                if exc.message.startswith("Protocol commands"):
                    ours.append((exc.message, exc.command_id))  # type: ignore[attr-defined]
    theirs = [
        (reply["message"], reply["id"])
        for frame in read_jsonl(path)
        if frame["dir"] == "recv"
        for reply in [json.loads(frame["text"])]
        if reply["type"] == "error" and reply["message"].startswith("Protocol commands")
    ]
    assert ours == theirs
    assert len(ours) == 3


def test_ws_agent_tree() -> None:
    trees = [
        AgentGetTree().parse_result(reply.result)
        for frame in read_jsonl(FIXTURES / "websocket" / "ws.jsonl")
        if frame["dir"] == "recv"
        for reply in [decode_message(frame["text"])]
        if isinstance(reply, CommandSuccess)
        and isinstance(reply.result, dict)
        and "tree" in reply.result
    ]
    assert trees == [
        AgentTreeNode(namespace=(), status="interrupted", graph_name="hitl"),
        AgentTreeNode(namespace=(), status="completed", graph_name="hitl"),
    ]
