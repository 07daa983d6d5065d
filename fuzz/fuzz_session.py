"""Fuzz the client session: an SSE body -> decoded messages -> ClientSession.

The input is an event stream body. It is parsed, every ``data`` is decoded,
and each message goes to one ``ClientSession`` with a single all-channels
subscription and a few pending commands (ids 1..N, so replies can correlate):
events to ``receive_event``, replies to ``receive_reply``. Invariant:

* the only exception anywhere is ``RemoteProtocolError`` (or a subclass such as
  ``ReplayMismatch``); after one, feeding continues with the next message;
* the body fed whole, split at points derived from the input, and (when
  small) byte by byte leads to the same outcomes, message by message, and
  the same final session state.

Run: ``python fuzz/fuzz_session.py fuzz/corpus/fuzz_session -atheris_runs=100000``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from _fuzzlib import feedings, parse_sse, run_atheris

from threadwire.protocol import (
    ALL_CHANNELS,
    DEFAULT_LIMITS,
    AgentGetTree,
    ClientSession,
    CommandFailure,
    CommandSuccess,
    Event,
    InputRespond,
    RemoteProtocolError,
    RunStart,
    SSEComment,
    SSEMessage,
    StreamFilter,
    SubscriptionReconnect,
    SubscriptionSubscribe,
    decode_message,
)

COMMANDS = (
    RunStart(assistant_id="agent", input={"topic": "fuzz"}),
    InputRespond(interrupt_id="3a3b40fdac03fa214c8f90a69d2981b8", response="yes"),
    SubscriptionSubscribe(channels=["values"]),
    SubscriptionReconnect(channels=["lifecycle"], since=0),
    AgentGetTree(),
)
"""Sent before any input, with ids 1..5."""


def _outcome(session: ClientSession, item: SSEMessage | SSEComment) -> Any:
    if isinstance(item, SSEComment):
        return ("comment",)
    try:
        message = decode_message(item.data)
        if isinstance(message, Event):
            targets = session.receive_event(message)
            return ("event", message.seq, tuple(sub.id for sub in targets))
        if isinstance(message, CommandSuccess | CommandFailure):
            outcome = session.receive_reply(message)
            return ("reply", outcome.id, outcome.ok, repr(outcome.result))
        return ("unknown", message.type)
    except RemoteProtocolError as exc:
        return ("error", type(exc).__name__, exc.message)


def run(pieces: Sequence[bytes]) -> tuple[Any, ...]:
    session = ClientSession()
    session.subscribe(StreamFilter(channels=ALL_CHANNELS))
    session.stream_opened(session.stream_request())
    for command in COMMANDS:
        session.send(command)
    outcomes = parse_sse(pieces, DEFAULT_LIMITS, on_item=lambda item: _outcome(session, item))
    runs = session.runs
    state = (
        session.last_seq,
        session.applied_through_seq,
        sorted(session.pending_commands),
        session.stream_request(),
        runs.state,
        [(run.run_id, run.status) for run in runs.runs],
        [(i.interrupt_id, i.status) for i in runs.interrupts],
        repr(runs.last_values),
    )
    return outcomes, state


def check(data: bytes) -> None:
    whole, *others = (run(pieces) for pieces in feedings(data))
    for other in others:
        assert other == whole, (other, whole)


if __name__ == "__main__":
    run_atheris(check)
