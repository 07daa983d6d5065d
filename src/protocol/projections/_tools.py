"""The tool-calls projection: one :class:`ToolCall` per ``tool-started`` event.

Each call has its name, input, output deltas, and its output or error, in
whatever namespace it ran. When a :class:`MessagesReducer` is given, a call is
linked to the tool-call block of the message that asked for it
(:attr:`ToolCall.source`). A call still running when its run ends is marked
``error`` with the reason (the run's outcome); one still running when the
stream ends keeps status ``running`` with ``closed`` set. Nothing waits forever.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from .._events import Event
from .._payloads import ToolError, ToolFinished, ToolOutputDelta, ToolStarted
from ._blocks import ToolCallSource
from ._common import RunOutcome, check_limit
from ._messages import MessagesReducer

__all__ = ["ToolCall", "ToolCallUpdate", "ToolCallsReducer", "TOOL_CALL_UPDATE_KINDS"]

STARTED: Final = "started"
DELTA: Final = "delta"
FINISHED: Final = "finished"
ERROR: Final = "error"
CLOSED: Final = "closed"

TOOL_CALL_UPDATE_KINDS: Final = (STARTED, DELTA, FINISHED, ERROR, CLOSED)


class ToolCall:
    """One tool execution. ``status`` is ``running``, ``finished`` or ``error``."""

    __slots__ = (
        "closed",
        "deltas",
        "error",
        "error_code",
        "input",
        "namespace",
        "output",
        "source",
        "start_seq",
        "status",
        "tool_call_id",
        "tool_name",
    )

    def __init__(
        self,
        *,
        tool_call_id: str,
        tool_name: str,
        namespace: tuple[str, ...],
        input: Any = None,
        source: ToolCallSource | None = None,
        start_seq: int | None = None,
    ) -> None:
        self.tool_call_id = tool_call_id
        self.tool_name = tool_name
        self.namespace = namespace
        self.input = input
        self.deltas: list[str] = []
        """``tool-output-delta`` chunks, in order."""
        self.output: Any = None
        """``tool-finished`` output as sent (the server sends a serialized ToolMessage)."""
        self.status = "running"
        self.error: str | None = None
        """The ``tool-error`` message, or why the call was cut short."""
        self.error_code: str | None = None
        self.closed: str | None = None
        """Why a call that never finished was settled (its run or the stream ended)."""
        self.source = source
        """The message block that asked for this call, when known."""
        self.start_seq = start_seq

    @property
    def done(self) -> bool:
        return self.status != "running" or self.closed is not None

    def __repr__(self) -> str:
        return (
            f"ToolCall(tool_call_id={self.tool_call_id!r}, tool_name={self.tool_name!r}, "
            f"namespace={self.namespace!r}, status={self.status!r})"
        )


class ToolCallUpdate(NamedTuple):
    """What one event changed: ``kind`` (:data:`TOOL_CALL_UPDATE_KINDS`), the call, and the delta.

    ``delta`` is the output chunk (``delta``), the output (``finished``), or the
    error text (``error``, ``closed``).
    """

    kind: str
    call: ToolCall
    delta: Any = None


class ToolCallsReducer:
    """Follows ``tools`` events in every namespace (see the module docstring).

    ``history`` keeps every call in :attr:`calls` (in order of ``tool-started``);
    without it only running calls are held. ``messages`` links calls to the
    message blocks that asked for them.
    """

    def __init__(
        self,
        *,
        history: bool = False,
        messages: MessagesReducer | None = None,
        max_running: int = 10_000,
    ) -> None:
        self.history = history
        self.calls: list[ToolCall] = []
        """Every call, in order of ``tool-started`` (only with ``history``)."""
        self._messages = messages
        self._running: dict[tuple[tuple[str, ...], str], ToolCall] = {}
        self._max_running = max_running

    @property
    def running(self) -> list[ToolCall]:
        """Calls that have not finished, in order of ``tool-started``."""
        return list(self._running.values())

    def apply(self, event: Event) -> ToolCallUpdate | None:
        """Apply one event; return what changed, or None."""
        if event[0] != "tools":
            return None
        payload = event.payload
        namespace = event.namespace
        kind = type(payload)
        if kind is ToolStarted:
            return self._started(event, payload)
        if kind is ToolOutputDelta or kind is ToolFinished or kind is ToolError:
            call = self._running.get((namespace, payload.tool_call_id))
            if call is None:
                return None  # a call this stream did not see start
            if kind is ToolOutputDelta:
                call.deltas.append(payload.delta)
                return ToolCallUpdate(DELTA, call, payload.delta)
            del self._running[(namespace, payload.tool_call_id)]
            self._link(call)
            if kind is ToolFinished:
                call.output = payload.output
                call.status = "finished"
                return ToolCallUpdate(FINISHED, call, payload.output)
            call.status = "error"
            call.error = payload.message
            call.error_code = payload.code
            return ToolCallUpdate(ERROR, call, payload.message)
        return None  # an unknown tools event

    def _started(self, event: Event, payload: ToolStarted) -> ToolCallUpdate:
        key = (event.namespace, payload.tool_call_id)
        previous = self._running.pop(key, None)
        if previous is not None:
            self._cut(previous, "tool-started came again for the same tool_call_id")
        check_limit(len(self._running), self._max_running, "max_running", "running tool calls")
        call = ToolCall(
            tool_call_id=payload.tool_call_id,
            tool_name=payload.tool_name,
            namespace=event.namespace,
            input=payload.input,
            start_seq=event.seq,
        )
        self._link(call)
        self._running[key] = call
        if self.history:
            self.calls.append(call)
        return ToolCallUpdate(STARTED, call, None)

    def _link(self, call: ToolCall) -> None:
        if call.source is None and self._messages is not None:
            call.source = self._messages.tool_call_source(call.tool_call_id)

    @staticmethod
    def _cut(call: ToolCall, reason: str) -> None:
        call.status = "error"
        call.error = reason
        call.closed = reason

    def end_of_run(self, outcome: RunOutcome) -> list[ToolCallUpdate]:
        """Fail every running call with the run's outcome as the reason."""
        reason = outcome.reason("the tool call finished")
        updates = []
        for call in self._running.values():
            self._link(call)
            self._cut(call, reason)
            updates.append(ToolCallUpdate(CLOSED, call, reason))
        self._running.clear()
        return updates

    def close(
        self, reason: str = "the stream ended before the tool call finished"
    ) -> list[ToolCallUpdate]:
        """Settle every running call: it stays ``running``, with ``closed`` saying why."""
        updates = []
        for call in self._running.values():
            self._link(call)
            call.closed = reason
            updates.append(ToolCallUpdate(CLOSED, call, reason))
        self._running.clear()
        return updates
