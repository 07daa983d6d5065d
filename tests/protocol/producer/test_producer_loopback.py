"""Loopback: the producer wired to the client core, in memory.

Charter: what the producer produces is exactly what the client core sees,
through SSE bytes (whole, byte by byte, any split) and through WebSocket
frames; a client that drops and resumes with its own ``since`` gets every
event exactly once and never a ReplayMismatch (seq and ids are durable); the
client's run tracker, command correlation and ``caught_up`` agree with the
server session.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from producer_helpers import Clock, chunkings, sse_events, sse_items, ws_messages

from threadwire.protocol import (
    ALL_CHANNELS,
    AgentGetTree,
    AgentTreeNode,
    ClientSession,
    CommandFailure,
    CommandSuccess,
    Event,
    InputRespond,
    InputRespondBatch,
    RunStart,
    RunState,
    StreamFilter,
    SubscriptionSubscribe,
)
from threadwire.protocol.producer import (
    BaseHandler,
    EventLog,
    Part,
    RunProducer,
    ServerSession,
    Transport,
    parse_stream_request,
)

EVERYTHING = StreamFilter(channels=[*ALL_CHANNELS, "custom:progress"])


def scenario(p: RunProducer, clock: Clock, run_id: str = "run-1") -> None:
    """One run with every kind of event the producer makes."""
    p.start_run(run_id, "agent", timestamp=clock())
    p.push(Part("values", (), {"messages": [], "note": "é \u2028 ✓"}), timestamp=clock())
    p.push(
        Part("messages", (), {"event": "message-start", "role": "ai", "id": "m1"}),
        timestamp=clock(),
    )
    p.push(Part("messages", (), {"event": "message-finish"}), timestamp=clock())
    p.push(Part("custom:progress", (), {"step": 1}), timestamp=clock())
    p.push(Part("custom", (), "plain"), timestamp=clock())
    p.push(
        Part(
            "tools",
            (),
            {"event": "tool-started", "tool_call_id": "c", "tool_name": "t", "__node": "tools"},
        ),
        timestamp=clock(),
    )
    p.push(Part("values", ["child:1", "grand:2"], {"x": 1}), timestamp=clock())
    p.push(Part("updates", ["child:1"], {"n": {"x": 2}}), timestamp=clock())
    p.push(
        Part("values", (), {"x": 3}, interrupts=[{"id": "int-1", "value": {"q": "ok?"}}]),
        timestamp=clock(),
    )
    p.finish(timestamp=clock())


def test_sse_bytes_give_exactly_what_was_produced() -> None:
    log = EventLog("t")
    scenario(RunProducer(log), Clock())
    produced = log.replay()
    session = ServerSession(log, transport=Transport.SSE)
    session.open_stream(parse_stream_request(orjson.dumps(EVERYTHING.to_json())))
    body = b"".join(session.data_to_send())
    for _name, chunks in chunkings(body):
        assert sse_events(chunks) == produced


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_any_split_of_the_stream(data: st.DataObject) -> None:
    log = EventLog("t")
    scenario(RunProducer(log), Clock())
    session = ServerSession(log, transport=Transport.SSE)
    session.open_stream(parse_stream_request({"channels": ["values", "lifecycle", "custom"]}))
    session.heartbeat()
    body = b"".join(session.data_to_send())
    cuts = sorted(data.draw(st.sets(st.integers(1, len(body) - 1), max_size=30)))
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    events = sse_events(chunks)
    assert events == log.replay(None, StreamFilter(channels=["values", "lifecycle", "custom"]))


def feed(client: ClientSession, frames: list[bytes]) -> list[tuple[Event, tuple[Any, ...]]]:
    return [(e, client.receive_event(e)) for e in sse_events(frames)]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 40), st.integers(1, 60))
def test_client_resumes_with_its_own_since(drop_after: int, queue_limit: int) -> None:
    """Drop the SSE after some events, produce more, resume from the client's cursor."""
    log = EventLog("t", buffer_size=100)
    p, clock = RunProducer(log), Clock()
    client = ClientSession()
    sub = client.subscribe(EVERYTHING)
    request = client.stream_request()
    server = ServerSession(log, transport=Transport.SSE, max_queued_events=queue_limit)
    server.open_stream(parse_stream_request(orjson.dumps(request.to_json())))
    client.stream_opened(request)
    scenario(p, clock, "run-1")
    frames = server.data_to_send()  # everything, or the cut-off notice if it fell behind
    events = [e for e in sse_items(frames) if isinstance(e, Event)][:drop_after]
    delivered = [e for e in events if sub in client.receive_event(e)]
    server.close()
    scenario(p, clock, "run-2")  # produced while the client is away
    request = client.stream_request()
    again = ServerSession(log, transport=Transport.SSE)
    again.open_stream(parse_stream_request(orjson.dumps(request.to_json())))
    client.stream_opened(request)
    for event, targets in feed(client, again.data_to_send()):
        if sub in targets:
            delivered.append(event)
    assert delivered == log.replay()
    assert [r.run_id for r in client.runs.runs] == ["run-1", "run-2"]


class ThreadServer(BaseHandler):
    """A tiny embedding server: runs the scenario synchronously on run.start."""

    def __init__(self, log: EventLog) -> None:
        self.producer = RunProducer(log)
        self.clock = Clock()
        self.runs = 0

    def start_run(self, command: RunStart) -> str:
        self.runs += 1
        run_id = f"run-{self.runs}"
        scenario(self.producer, self.clock, run_id)
        return run_id

    def respond(self, command: InputRespond | InputRespondBatch) -> None:
        answers = self.producer.take_responses(command)
        self.runs += 1
        p = self.producer
        p.start_run(f"run-{self.runs}", "agent", timestamp=self.clock())
        p.push(Part("values", (), {"answer": answers}), timestamp=self.clock())
        p.finish(timestamp=self.clock())

    def get_tree(self, command: AgentGetTree) -> dict[str, Any]:
        return self.producer.tree()


def exchange(client: ClientSession, server: ServerSession, command: Any) -> Any:
    """Send one command over the 'socket'; feed every frame back; return the outcome."""
    outgoing = client.send(command)
    server.receive_command(outgoing.data)
    outcome = None
    for message in ws_messages(server.data_to_send()):
        if isinstance(message, Event):
            client.receive_event(message)
        else:
            assert isinstance(message, CommandSuccess | CommandFailure)
            outcome = client.receive_reply(message)
            assert client.caught_up(outcome.applied_through_seq)
    return outcome


def test_websocket_loopback() -> None:
    log = EventLog("t")
    handler = ThreadServer(log)
    server = ServerSession(log, handler)
    client = ClientSession()
    client.subscribe(EVERYTHING)
    outcome = exchange(client, server, SubscriptionSubscribe(channels=sorted(EVERYTHING.channels)))
    assert outcome.result.subscription_id == "sub-1"
    outcome = exchange(client, server, RunStart(assistant_id="agent", input={}))
    assert outcome.result.run_id == "run-1"
    assert outcome.applied_through_seq == log.high_seq == client.last_seq
    assert client.runs.state is RunState.INTERRUPTED
    [pending] = client.runs.pending_interrupts
    assert (pending.interrupt_id, pending.payload) == ("int-1", {"q": "ok?"})
    tree = exchange(client, server, AgentGetTree())
    assert isinstance(tree.result, AgentTreeNode)
    assert tree.result.status == "interrupted"
    assert tree.result.children[0].children[0].namespace == ("child:1", "grand:2")
    outcome = exchange(client, server, client.respond("yes"))
    assert outcome.ok
    assert client.runs.state.value == "completed"
    assert [r.status for r in client.runs.runs] == ["interrupted", "completed"]
    assert client.runs.last_values == {"answer": {"int-1": "yes"}}
    # Answering again: the interrupt is consumed.
    again = exchange(client, server, InputRespond(interrupt_id="int-1", response="no"))
    assert again.error is not None and again.error.code == "no_such_interrupt"
