"""Typed views of an event's ``params.data``, one class per variant.

:func:`decode_payload` turns the raw JSON of one event into the class for its
method and variant. A known variant with a missing or mistyped required field
raises :class:`RemoteProtocolError` naming the field; an unknown method,
``event`` or delta ``type`` becomes an ``Unknown*`` value that keeps the raw
data, so a newer server never crashes an older client. Field names follow the
Python server (snake_case); the spec's camelCase spellings are accepted too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeAlias

import attrs

from . import _fields as f
from ._errors import RemoteProtocolError

__all__ = [
    "LIFECYCLE_STATUSES",
    "TERMINAL_STATUSES",
    "ToolCallCause",
    "SendCause",
    "EdgeCause",
    "UnknownCause",
    "Cause",
    "Lifecycle",
    "MessageStart",
    "ContentBlockStart",
    "ContentBlockDelta",
    "ContentBlockFinish",
    "MessageFinish",
    "MessageError",
    "UnknownMessageEvent",
    "TextDelta",
    "ReasoningDelta",
    "DataDelta",
    "BlockDelta",
    "ToolCallDelta",
    "ContentDelta",
    "UnknownDelta",
    "Delta",
    "ToolStarted",
    "ToolOutputDelta",
    "ToolFinished",
    "ToolError",
    "UnknownToolEvent",
    "InputRequested",
    "Custom",
    "Values",
    "Updates",
    "Checkpoint",
    "Task",
    "UnknownPayload",
    "Payload",
    "decode_payload",
    "decode_delta",
]

LIFECYCLE_STATUSES: Final = frozenset({"started", "running", "completed", "failed", "interrupted"})
TERMINAL_STATUSES: Final = frozenset({"completed", "failed", "interrupted"})

# -- lifecycle ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ToolCallCause:
    """The namespace was spawned by a tool call (a subagent)."""

    tool_call_id: str


@attrs.frozen(kw_only=True)
class SendCause:
    """The namespace was spawned by a ``Send`` from ``from_node``."""

    from_node: str


@attrs.frozen(kw_only=True)
class EdgeCause:
    """The namespace was entered through an edge from ``from_node``."""

    from_node: str


@attrs.frozen(kw_only=True)
class UnknownCause:
    """A cause of a type this version does not know; ``data`` is the raw object."""

    type: str
    data: dict[str, Any]


Cause: TypeAlias = ToolCallCause | SendCause | EdgeCause | UnknownCause


@attrs.frozen(kw_only=True)
class Lifecycle:
    """A ``lifecycle`` event: a namespace (``()`` = the root run) changed status."""

    event: str
    """One of :data:`LIFECYCLE_STATUSES`."""
    graph_name: str | None = None
    error: str | None = None
    """The failure's message, on ``failed``."""
    cause: Cause | None = None
    namespace: tuple[str, ...] | None = None
    """The copy of ``params.namespace`` the server puts on child ``started``."""
    trigger_call_id: str | None = None
    """The task id that started a child namespace."""
    checkpoint: dict[str, Any] | None = None

    @property
    def is_terminal(self) -> bool:
        return self.event in TERMINAL_STATUSES


def _cause(data: dict[str, Any]) -> Cause:
    kind = f.req_str(data, "type", "params.data.cause")
    if kind == "toolCall":
        return ToolCallCause(tool_call_id=f.req_str(data, "tool_call_id", "params.data.cause"))
    if kind == "send":
        return SendCause(from_node=f.req_str(data, "from_node", "params.data.cause"))
    if kind == "edge":
        return EdgeCause(from_node=f.req_str(data, "from_node", "params.data.cause"))
    return UnknownCause(type=kind, data=data)


def _lifecycle(data: dict[str, Any]) -> Lifecycle | UnknownPayload:
    where = "params.data"
    event = f.req_str(data, "event", where)
    if event not in LIFECYCLE_STATUSES:
        return UnknownPayload(method="lifecycle", data=data)
    cause = f.opt_dict(data, "cause", where)
    ns = f.get(data, "namespace")
    return Lifecycle(
        event=event,
        graph_name=f.opt_str(data, "graph_name", where),
        error=f.opt_str(data, "error", where),
        cause=_cause(cause) if cause is not None else None,
        namespace=None if ns is f.MISSING or ns is None else f.namespace(ns, f"{where}.namespace"),
        trigger_call_id=f.opt_str(data, "trigger_call_id", where),
        checkpoint=f.opt_dict(data, "checkpoint", where),
    )


# -- messages -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TextDelta:
    text: str


@attrs.frozen(kw_only=True)
class ReasoningDelta:
    reasoning: str


@attrs.frozen(kw_only=True)
class DataDelta:
    """A chunk of encoded binary data to append (``encoding`` is base64 by default)."""

    data: str
    encoding: str = "base64"


@attrs.frozen(kw_only=True)
class BlockDelta:
    """Fields to shallow-merge into the block."""

    fields: dict[str, Any]


@attrs.frozen(kw_only=True)
class ToolCallDelta:
    """A piece of a tool call's JSON arguments to append (and id/name when sent)."""

    args: str
    id: str | None = None
    name: str | None = None


@attrs.frozen(kw_only=True)
class ContentDelta:
    """A delta that carries a ``content`` block instead of ``delta``.

    The server's mirrored tool-result messages (namespace ``tools:<id>``) send
    their text this way.
    """

    content: dict[str, Any]


@attrs.frozen(kw_only=True)
class UnknownDelta:
    type: str | None
    data: dict[str, Any]


Delta: TypeAlias = (
    TextDelta
    | ReasoningDelta
    | DataDelta
    | BlockDelta
    | ToolCallDelta
    | ContentDelta
    | UnknownDelta
)


def decode_delta(delta: dict[str, Any], where: str = "params.data.delta") -> Delta:
    """Decode one ``content-block-delta`` ``delta`` object."""
    kind = f.opt_str(delta, "type", where)
    if kind == "text-delta":
        return TextDelta(text=f.req_str(delta, "text", where))
    if kind == "reasoning-delta":
        return ReasoningDelta(reasoning=f.req_str(delta, "reasoning", where))
    if kind == "tool-call-delta":
        return ToolCallDelta(
            args=f.opt_str(delta, "args", where) or "",
            id=f.opt_str(delta, "id", where),
            name=f.opt_str(delta, "name", where),
        )
    if kind == "data-delta":
        return DataDelta(
            data=f.req_str(delta, "data", where),
            encoding=f.opt_str(delta, "encoding", where) or "base64",
        )
    if kind == "block-delta":
        return BlockDelta(fields=f.req_dict(delta, "fields", where))
    return UnknownDelta(type=kind, data=delta)


@attrs.frozen(kw_only=True)
class MessageStart:
    """A message begins; later events of the message carry no id on the real server."""

    id: str | None
    role: str | None
    metadata: dict[str, Any] | None = None
    tool_call_id: str | None = None
    """Set on the server's mirrored tool-result messages (role ``tool``)."""


@attrs.frozen(kw_only=True)
class ContentBlockStart:
    index: int
    content: dict[str, Any]
    message_id: str | None = None


@attrs.frozen(kw_only=True)
class ContentBlockDelta:
    index: int
    delta: Delta
    message_id: str | None = None


@attrs.frozen(kw_only=True)
class ContentBlockFinish:
    """The finalized block: authoritative over the deltas that came before."""

    index: int
    content: dict[str, Any]
    message_id: str | None = None


@attrs.frozen(kw_only=True)
class MessageFinish:
    message_id: str | None = None
    usage: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    additional_kwargs: dict[str, Any] | None = None
    finish_reason: str | None = None


@attrs.frozen(kw_only=True)
class MessageError:
    message: str
    code: str | None = None
    message_id: str | None = None


@attrs.frozen(kw_only=True)
class UnknownMessageEvent:
    event: str
    data: dict[str, Any]


def _message_id(data: dict[str, Any], where: str) -> str | None:
    value = f.opt_str(data, "message_id", where)
    return value if value is not None else f.opt_str(data, "id", where)


def _messages(data: dict[str, Any]) -> Any:
    where = "params.data"
    event = f.req_str(data, "event", where)
    if event == "content-block-delta":
        delta = f.opt_dict(data, "delta", where)
        if delta is None:
            content = f.opt_dict(data, "content", where)
            if content is None:
                content = f.opt_dict(data, "content_block", where)
            if content is None:
                raise RemoteProtocolError(f"{where}.delta is required but missing")
            decoded: Delta = ContentDelta(content=content)
        else:
            decoded = decode_delta(delta)
        return ContentBlockDelta(
            index=f.req_int(data, "index", where),
            delta=decoded,
            message_id=_message_id(data, where),
        )
    if event == "message-start":
        return MessageStart(
            id=f.opt_str(data, "id", where) or f.opt_str(data, "message_id", where),
            role=f.opt_str(data, "role", where),
            metadata=f.opt_dict(data, "metadata", where),
            tool_call_id=f.opt_str(data, "tool_call_id", where),
        )
    if event in ("content-block-start", "content-block-finish"):
        content = f.opt_dict(data, "content", where)
        if content is None:
            content = f.opt_dict(data, "content_block", where)
        if content is None:
            raise RemoteProtocolError(f"{where}.content is required but missing")
        cls = ContentBlockStart if event == "content-block-start" else ContentBlockFinish
        return cls(
            index=f.req_int(data, "index", where),
            content=content,
            message_id=_message_id(data, where),
        )
    if event == "message-finish":
        return MessageFinish(
            message_id=_message_id(data, where),
            usage=f.opt_dict(data, "usage", where),
            metadata=f.opt_dict(data, "metadata", where),
            additional_kwargs=f.opt_dict(data, "additional_kwargs", where),
            finish_reason=f.opt_str(data, "finish_reason", where),
        )
    if event == "error":
        return MessageError(
            message=f.req_str(data, "message", where),
            code=f.opt_str(data, "code", where),
            message_id=_message_id(data, where),
        )
    return UnknownMessageEvent(event=event, data=data)


# -- tools --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ToolStarted:
    tool_call_id: str
    tool_name: str
    input: Any = None


@attrs.frozen(kw_only=True)
class ToolOutputDelta:
    tool_call_id: str
    delta: str


@attrs.frozen(kw_only=True)
class ToolFinished:
    tool_call_id: str
    output: Any


@attrs.frozen(kw_only=True)
class ToolError:
    tool_call_id: str
    message: str
    code: str | None = None


@attrs.frozen(kw_only=True)
class UnknownToolEvent:
    event: str
    data: dict[str, Any]


def _tools(data: dict[str, Any]) -> Any:
    where = "params.data"
    event = f.req_str(data, "event", where)
    if event == "tool-output-delta":
        return ToolOutputDelta(
            tool_call_id=f.req_str(data, "tool_call_id", where),
            delta=f.req_str(data, "delta", where),
        )
    if event == "tool-started":
        value = f.get(data, "input")
        return ToolStarted(
            tool_call_id=f.req_str(data, "tool_call_id", where),
            tool_name=f.req_str(data, "tool_name", where),
            input=None if value is f.MISSING else value,
        )
    if event == "tool-finished":
        value = f.get(data, "output")
        return ToolFinished(
            tool_call_id=f.req_str(data, "tool_call_id", where),
            output=None if value is f.MISSING else value,
        )
    if event == "tool-error":
        return ToolError(
            tool_call_id=f.req_str(data, "tool_call_id", where),
            message=f.req_str(data, "message", where),
            code=f.opt_str(data, "code", where),
        )
    return UnknownToolEvent(event=event, data=data)


# -- the other channels ---------------------------------------------------------


@attrs.frozen(kw_only=True)
class InputRequested:
    """An interrupt: the run waits for ``input.respond`` with this id."""

    interrupt_id: str
    payload: Any


@attrs.frozen(kw_only=True)
class Custom:
    """A custom event; ``name`` is set for named ones (channel ``custom:NAME``)."""

    name: str | None
    payload: Any


@attrs.frozen(kw_only=True)
class Values:
    """A full state snapshot of the event's namespace."""

    values: Any


@attrs.frozen(kw_only=True)
class Updates:
    """A state delta. The server sends ``{node: delta}``, or the delta with ``node``."""

    data: Any
    node: str | None = None


@attrs.frozen(kw_only=True)
class Checkpoint:
    id: str
    step: int | None = None
    source: str | None = None
    parent_id: str | None = None


@attrs.frozen(kw_only=True)
class Task:
    """An opaque Pregel task payload (start: ``input``/``triggers``; result: ``result``)."""

    id: str | None
    name: str | None
    data: dict[str, Any]


@attrs.frozen(kw_only=True)
class UnknownPayload:
    """The data of a method or variant this version does not know, kept as sent."""

    method: str
    data: Any


Payload: TypeAlias = Any  # one of the classes above; see decode_payload


def _input(data: dict[str, Any]) -> InputRequested:
    value = f.get(data, "payload")
    if value is f.MISSING:
        value = f.get(data, "value")  # older producers
    return InputRequested(
        interrupt_id=f.req_str(data, "interrupt_id", "params.data"),
        payload=None if value is f.MISSING else value,
    )


def _custom(data: dict[str, Any]) -> Custom:
    value = data.get("payload", f.MISSING)
    return Custom(
        name=f.opt_str(data, "name", "params.data") or None,
        payload=data if value is f.MISSING else value,
    )


def _checkpoint(data: dict[str, Any]) -> Checkpoint:
    where = "params.data"
    return Checkpoint(
        id=f.req_str(data, "id", where),
        step=f.opt_int(data, "step", where),
        source=f.opt_str(data, "source", where),
        parent_id=f.opt_str(data, "parent_id", where),
    )


def _task(data: dict[str, Any]) -> Task:
    return Task(
        id=f.opt_str(data, "id", "params.data"),
        name=f.opt_str(data, "name", "params.data"),
        data=data,
    )


_OBJECT_DECODERS: Final[dict[str, Callable[[dict[str, Any]], Any]]] = {
    "messages": _messages,
    "lifecycle": _lifecycle,
    "tools": _tools,
    "input.requested": _input,
    "custom": _custom,
    "checkpoints": _checkpoint,
    "tasks": _task,
}


def decode_payload(method: str, data: Any, node: str | None = None) -> Payload:
    """Return the typed view of one event's data (see the module docstring)."""
    if method == "values":
        return Values(values=data)
    if method == "updates":
        return Updates(data=data, node=node)
    if method == "custom" and type(data) is not dict:
        return Custom(name=None, payload=data)  # a bare value a graph wrote to the stream
    decoder = _OBJECT_DECODERS.get(method)
    if decoder is None:
        return UnknownPayload(method=method, data=data)
    if type(data) is not dict:
        kind = "null" if data is None else type(data).__name__
        raise RemoteProtocolError(
            f"params.data of a {method!r} event must be an object, got {kind}"
        )
    return decoder(data)
