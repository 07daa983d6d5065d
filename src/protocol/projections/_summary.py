"""The replay summary: a captured stream, deduplicated and projected, as one JSON object.

:func:`replay` reads a captured SSE body or WebSocket transcript (any
chunking; see :class:`TranscriptReader`), drops repeated events exactly as a
live client does (one :class:`~threadwire.protocol.ClientSession` per thread,
subscribed to every channel), feeds the rest to a :class:`Projector` with
history, and returns a :class:`ReplayResult`. Its ``to_json()`` is the object
``threadwire replay --json`` prints; the keys are documented in
``docs/replay.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Any, Final

import attrs

from .._errors import RemoteProtocolError
from .._events import Event
from .._filters import ALL_CHANNELS, StreamFilter
from .._limits import DEFAULT_LIMITS, Limits
from .._session import ClientSession
from ._message import Message
from ._projector import Projector
from ._tools import ToolCall
from ._transcript import StreamStart, TranscriptItem, TranscriptReader

__all__ = ["ReplaySummary", "ReplayResult", "replay", "SUMMARY_KEYS"]

SUMMARY_KEYS: Final = (
    "events",
    "channels",
    "last_seq",
    "runs",
    "status",
    "error",
    "values",
    "messages",
    "tool_calls",
    "interrupts",
    "subgraphs",
    "extensions",
    "custom",
)
"""The keys of :meth:`ReplaySummary.to_json`, in order."""

_EVERYTHING: Final = StreamFilter(channels=ALL_CHANNELS)


class ReplaySummary:
    """Deduplicates events per thread and projects them (see the module docstring)."""

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.projector = Projector(history=True)
        self.events = 0
        """Events that were new (duplicates are not counted)."""
        self.duplicates = 0
        self.channels: dict[str, int] = {}
        """New events by wire method."""
        self.last_seq: int | None = None
        self._sessions: dict[str | None, ClientSession] = {}
        self._session = self._open(None)
        self._fresh = True

    def _open(self, key: str | None) -> ClientSession:
        session = ClientSession(limits=self.limits)
        session.subscribe(_EVERYTHING)
        session.stream_opened(session.stream_request())
        self._sessions[key] = session
        return session

    def stream(self, key: str | None) -> None:
        """Another connection starts; ``key`` names its thread (None: the current one)."""
        if self._fresh:  # nothing read yet: this is the first connection
            self._fresh = False
            if key is not None:
                self._sessions[key] = self._sessions.pop(None)
            return
        session = self._sessions.get(key) if key is not None else self._session
        if session is None:
            self._session = self._open(key)
            return
        self._session = session
        session.stream_opened(session.stream_request())

    def apply(self, item: TranscriptItem) -> bool:
        """Take one transcript item; return True if it was a new event."""
        if type(item) is StreamStart:
            self.stream(item.key)
            return False
        if type(item) is not Event:
            return False  # command replies and unknown messages are not events
        return self.feed(item)

    def feed(self, event: Event) -> bool:
        """Take one event; project it and return True unless it is a repeat."""
        self._fresh = False
        session = self._session
        before = session.last_seq
        if not session.receive_event(event) and session.last_seq <= before:
            self.duplicates += 1
            return False
        self.events += 1
        self.channels[event.method] = self.channels.get(event.method, 0) + 1
        if event.seq is not None and (self.last_seq is None or event.seq > self.last_seq):
            self.last_seq = event.seq
        self.projector.apply(event)
        return True

    def close(self, reason: str = "the input ended") -> None:
        """The input ended: close what is still open."""
        self.projector.close(reason)

    @property
    def problems(self) -> list[RemoteProtocolError]:
        """Events that could be read but not placed (see ``MessagesReducer.problems``)."""
        return self.projector.messages.problems

    def to_json(self) -> dict[str, Any]:
        """The summary object (keys :data:`SUMMARY_KEYS`)."""
        projector = self.projector
        runs = [
            {"run_id": run.run_id, "status": run.status, "error": run.error}
            for run in projector.runs.runs
        ]
        last = runs[-1] if runs else None
        return {
            "events": self.events,
            "channels": dict(self.channels),
            "last_seq": self.last_seq,
            "runs": runs,
            "status": last["status"] if last else None,
            "error": last["error"] if last else None,
            "values": projector.values.values,
            "messages": [message_json(m) for m in projector.messages.messages],
            "tool_calls": [tool_call_json(c) for c in projector.tool_calls.calls],
            "interrupts": [
                {
                    "interrupt_id": i.interrupt_id,
                    "namespace": list(i.namespace),
                    "payload": i.payload,
                    "status": i.status,
                }
                for i in projector.interrupts
            ],
            "subgraphs": [
                {"namespace": list(n.namespace), "graph_name": n.graph_name, "status": n.status}
                for n in projector.tree.nodes
            ],
            "extensions": {name: list(items) for name, items in projector.extensions.named.items()},
            "custom": list(projector.extensions.unnamed),
        }


def message_json(message: Message) -> dict[str, Any]:
    """One message as it appears in the summary's ``messages``."""
    return {
        "id": message.id,
        "namespace": list(message.namespace),
        "role": message.role,
        "text": message.text,
        "reasoning": message.reasoning,
        "tool_calls": [{"id": c.id, "name": c.name, "args": c.args} for c in message.tool_calls],
        "usage": message.usage,
        "status": message.status,
    }


def tool_call_json(call: ToolCall) -> dict[str, Any]:
    """One tool call as it appears in the summary's ``tool_calls``."""
    return {
        "tool_call_id": call.tool_call_id,
        "tool_name": call.tool_name,
        "namespace": list(call.namespace),
        "input": call.input,
        "deltas": list(call.deltas),
        "output": call.output,
        "status": call.status,
        "error": call.error,
    }


@attrs.frozen(kw_only=True)
class ReplayResult:
    """What :func:`replay` made of the input."""

    summary: ReplaySummary
    format: str | None
    """``"sse"``, ``"jsonl"``, or None for empty input."""
    error: RemoteProtocolError | None = None
    """Why the input could not be read to the end (bad or truncated input)."""

    @property
    def warnings(self) -> list[str]:
        """Problems with events that were read (e.g. messages that could not be told apart)."""
        return [problem.message for problem in self.summary.problems]

    def to_json(self) -> dict[str, Any]:
        return self.summary.to_json()


def replay(chunks: Iterable[bytes], *, limits: Limits = DEFAULT_LIMITS) -> ReplayResult:
    """Read a captured stream (see the module docstring); never raises for bad input."""
    reader = TranscriptReader(limits=limits)
    summary = ReplaySummary(limits=limits)
    error: RemoteProtocolError | None = None
    # Empty chunks from the caller are skipped: ``b""`` tells the reader the input ended.
    for chunk in chain((c for c in chunks if c), (b"",)):
        for item in reader.feed(chunk):
            try:
                summary.apply(item)
            except RemoteProtocolError as exc:
                where = f"event seq {item.seq}: " if type(item) is Event else ""
                error = RemoteProtocolError(where + exc.message)
                break
        if error is None:
            error = reader.error
        if error is not None:
            break
    summary.close()
    return ReplayResult(summary=summary, format=reader.format, error=error)
