"""Live objects a projection hands out: messages, tool calls, subgraphs.

Each wraps the pure reducer's object (:class:`~threadwire.protocol.projections.Message`,
:class:`~threadwire.protocol.projections.ToolCall`,
:class:`~threadwire.protocol.projections.SubgraphNode`) and is updated by the
thread's pump, not by whoever iterates the projection that yielded it. So
awaiting a message, or iterating its text, inside the loop over
``thread.messages`` cannot deadlock (the official SDK's pitfall): the pump
keeps feeding it.

Deltas are kept in lists bounded by the object itself (a message's text), and
each reader keeps its own position, so any number of readers can follow one
object and nobody slows the pump.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Any, Generic, TypeVar

import anyio

from threadwire.protocol import Event
from threadwire.protocol.projections import Message, SubgraphNode, ToolCall

__all__ = [
    "MessageFailed",
    "ToolCallFailed",
    "DeltaStream",
    "MessageStream",
    "ToolCallHandle",
    "Signal",
]

T = TypeVar("T")


class MessageFailed(Exception):
    """The message ended with an ``error`` event; ``message`` is what was assembled."""

    def __init__(self, message: Message) -> None:
        super().__init__(f"message {message.id} failed: {message.error}")
        self.message = message


class ToolCallFailed(Exception):
    """The tool call ended with ``tool-error`` (or was cut short); ``call`` says more."""

    def __init__(self, call: ToolCall) -> None:
        super().__init__(
            f"tool call {call.tool_call_id} ({call.tool_name}) failed: {call.error or call.closed}"
        )
        self.call = call


class Signal:
    """Wakes every waiter on each change; cheap to set many times.

    The backend event is made by the first waiter, not before: setting a signal
    nobody waits on costs nothing, and an idle one holds no objects.
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    def set(self) -> None:
        event = self._event
        if event is not None:
            self._event = None
            event.set()

    async def wait(self) -> None:
        event = self._event
        if event is None:
            self._event = event = anyio.Event()
        await event.wait()


class DeltaStream(Generic[T]):
    """A growing list of deltas: ``async for`` yields them, ``await`` gives the whole."""

    def __init__(self, owner: _Finishable, whole: Any) -> None:
        self._owner = owner
        self._whole = whole
        self.items: list[T] = []

    def __aiter__(self) -> AsyncIterator[T]:
        return self._follow()

    async def _follow(self) -> AsyncIterator[T]:
        position = 0
        while True:
            while position < len(self.items):
                position += 1
                yield self.items[position - 1]
            if self._owner.finished:
                return
            await self._owner.changed.wait()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._result().__await__()

    async def _result(self) -> Any:
        await self._owner.wait_finished()
        return self._whole()


class _Finishable:
    def __init__(self) -> None:
        self.changed = Signal()
        self.finished = False
        self._closed = False

    def _notify(self) -> None:
        self.changed.set()

    def _finish(self) -> None:
        self.finished = True
        self.changed.set()

    async def wait_finished(self) -> None:
        while not self.finished:
            await self.changed.wait()

    async def aclose(self) -> None:
        """Stop following this object (idempotent); readers waiting on it end."""
        if not self._closed:
            self._closed = True
            self._finish()


class MessageStream(_Finishable):
    """One message as it streams (see the module docstring).

    ``await message`` (or ``await message.output``) gives the assembled
    :class:`~threadwire.protocol.projections.Message` once it is finished, with
    its usage; it raises :class:`MessageFailed` for a message that failed.
    ``message.text``, ``message.reasoning`` and ``message.tool_calls`` iterate
    deltas (text pieces, reasoning pieces, ``(index, args_piece)``) or, awaited,
    give the whole (text, reasoning, the parsed tool calls). ``async for`` over
    the message itself yields its raw content-block events.
    """

    def __init__(self, message: Message) -> None:
        super().__init__()
        self.message = message
        self.events: list[Event] = []
        self.text: DeltaStream[str] = DeltaStream(self, lambda: self.message.text)
        self.reasoning: DeltaStream[str] = DeltaStream(self, lambda: self.message.reasoning)
        self.tool_calls: DeltaStream[tuple[int, str]] = DeltaStream(
            self, lambda: self.message.tool_calls
        )

    @property
    def id(self) -> str | None:
        return self.message.id

    @property
    def namespace(self) -> tuple[str, ...]:
        return self.message.namespace

    @property
    def role(self) -> str | None:
        return self.message.role

    @property
    def status(self) -> str:
        return self.message.status

    @property
    def output(self) -> Any:
        """Awaitable: the assembled message (same as awaiting the stream itself)."""
        return self._assembled()

    def __await__(self) -> Generator[Any, None, Message]:
        return self._assembled().__await__()

    async def _assembled(self) -> Message:
        await self.wait_finished()
        if self.message.status == "error":
            raise MessageFailed(self.message)
        return self.message

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._raw()

    async def _raw(self) -> AsyncIterator[Event]:
        position = 0
        while True:
            while position < len(self.events):
                position += 1
                yield self.events[position - 1]
            if self.finished:
                return
            await self.changed.wait()

    # -- fed by the pump ---------------------------------------------------------

    def update(self, kind: str, event: Event | None, block_index: int | None, delta: Any) -> None:
        if self._closed:
            return
        if event is not None:
            self.events.append(event)
        if kind == "text":
            self.text.items.append(delta)
        elif kind == "reasoning":
            self.reasoning.items.append(delta)
        elif kind == "args":
            self.tool_calls.items.append((block_index if block_index is not None else -1, delta))
        if self.message.done:
            self._finish()
        else:
            self._notify()

    def __repr__(self) -> str:
        return f"MessageStream({self.message!r})"


class ToolCallHandle(_Finishable):
    """One tool execution as it runs.

    ``await call.output`` (or ``await call``) gives the output once finished
    and raises :class:`ToolCallFailed` on ``tool-error`` or when the run ended
    first; ``async for piece in call.deltas`` follows the output deltas.
    """

    def __init__(self, call: ToolCall) -> None:
        super().__init__()
        self.call = call
        self.deltas: DeltaStream[str] = DeltaStream(self, lambda: list(self.call.deltas))

    @property
    def tool_call_id(self) -> str:
        return self.call.tool_call_id

    @property
    def name(self) -> str:
        return self.call.tool_name

    @property
    def input(self) -> Any:
        return self.call.input

    @property
    def namespace(self) -> tuple[str, ...]:
        return self.call.namespace

    @property
    def status(self) -> str:
        return self.call.status

    @property
    def error(self) -> str | None:
        return self.call.error or self.call.closed

    @property
    def output(self) -> Any:
        return self._result()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._result().__await__()

    async def _result(self) -> Any:
        await self.wait_finished()
        if self.call.status != "finished":
            raise ToolCallFailed(self.call)
        return self.call.output

    def update(self, kind: str, delta: Any) -> None:
        if self._closed:
            return
        if kind == "delta":
            self.deltas.items.append(delta)
        if self.call.done:
            self._finish()
        else:
            self._notify()

    def __repr__(self) -> str:
        return f"ToolCallHandle({self.call!r})"


class NodeWatch(_Finishable):
    """Follows one :class:`SubgraphNode`'s status (used by subgraph handles)."""

    def __init__(self, node: SubgraphNode) -> None:
        super().__init__()
        self.node = node

    def update(self) -> None:
        if self.node.done:
            self._finish()
        else:
            self._notify()
