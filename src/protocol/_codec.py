"""JSON envelopes to typed messages and back, for both roles.

Receiving (client role): :func:`decode_message` takes the text of one SSE
``data`` field or one WebSocket text frame (bytes or str) and returns an
:class:`Event`, :class:`CommandSuccess`, :class:`CommandFailure` or
:class:`UnknownMessage`. Invalid JSON, a non-object, a missing ``type`` or
``method`` or a field of the wrong type raise :class:`RemoteProtocolError`
naming the field. The spec's camelCase spellings (``eventId``,
``appliedThroughSeq``) are accepted where the snake_case one is missing.

Sending: :func:`encode_command` (client), :func:`encode_event`,
:func:`encode_success` and :func:`encode_failure` (producer) write compact
JSON, as the server's orjson does. :func:`decode_command` reads a command in
the producer role.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import msgspec
import orjson

from . import _fields as f
from ._commands import Command, command_from_params
from ._errors import RemoteProtocolError
from ._events import (
    RENAMED_METHODS,
    CommandFailure,
    CommandSuccess,
    Event,
    Message,
    UnknownMessage,
    channel_of,
)
from ._sse import DataRun

__all__ = [
    "loads",
    "dumps",
    "decode_message",
    "decode_data_fields",
    "decode_object",
    "decode_event_object",
    "encode_command",
    "decode_command",
    "encode_event",
    "event_to_json",
    "encode_success",
    "encode_failure",
]

_KNOWN_PARAMS = frozenset({"namespace", "timestamp", "data", "node"})


def loads(raw: bytes | str) -> Any:
    """Parse JSON, raising :class:`RemoteProtocolError` for anything invalid."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        preview = raw[:80]
        raise RemoteProtocolError(f"message is not valid JSON ({exc}): {preview!r}") from None


def dumps(obj: Any) -> bytes:
    """Compact JSON; non-str dict keys and other non-JSON values are a caller error.

    The result has an allocation of its own size. orjson's own sits in about
    4 KB, shrunk in place: an encoding that is kept (an event in a replay
    log, a command awaiting its reply) would hold 4 KB and fault in fresh
    pages (measured: 2.1 us and 4 KB per kept result, against 0.5 us and its
    own size with this copy).
    """
    return memoryview(orjson.dumps(obj)).tobytes()


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# The methods the fast path takes. As a Literal, msgspec hands out one shared
# string per method rather than a new one per event, and checks it faster than
# a str: the session's dedup window keeps each event's channel (usually its
# method) for thousands of events, which would otherwise be as many copies of
# "messages" (measured: 11 KB per stream of 256 slots). Any other method goes
# the general way, and is an event all the same.
_FastMethod = Literal[
    "values",
    "updates",
    "messages",
    "tools",
    "lifecycle",
    "input.requested",
    "custom",
    "tasks",
    "checkpoints",
]


# Fields in the server's wire order: msgspec tries the next declared field first
# (measured: 1.3% faster than another order).
class _Params(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    namespace: tuple[str, ...] = ()
    timestamp: int | float | None = None
    data: Any = None
    node: str | None = None


class _Envelope(msgspec.Struct, frozen=True, gc=False, tag="event", tag_field="type", kw_only=True):
    event_id: str  # absent or null: perhaps spelled eventId, for the general way
    seq: int | None = None
    method: _FastMethod
    params: _Params


# msgspec parses JSON straight into these typed structs and checks every type in C,
# faster than parsing into dicts and checking them in Python (measured: 0.55 us per
# event against 1.2 us for orjson.loads plus the checks). Anything it refuses (a
# reply, an unknown type, a missing or mistyped field, camelCase names) goes the
# general way, which accepts what the protocol allows (and keeps unknown params)
# and names what is wrong.
_decode_envelope = msgspec.json.Decoder(_Envelope).decode
_FastPathMiss = (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError)


def decode_message(raw: bytes | str) -> Message:
    """Decode one message (see the module docstring)."""
    out: list[Message] = []
    _decode_data(raw, out)
    return out[0]


def decode_data_fields(items: Iterable[object], out: list[Any]) -> None:
    """Append to ``out`` the message decoded from each SSE message among ``items``.

    This is the per-event hot path of every SSE stream. An item that is a
    :class:`DataRun` holds the data of several messages: the usual case, a
    read's worth of the server's blocks, decoded by one ``map`` and turned
    into events by one loop (a Python call per event costs as much as building
    the event). A plain ``tuple`` is one message as the SSE parser hands it
    over, ``(event type, data, last id)``; any other item (a comment) is
    appended as it is. On a bad message :class:`RemoteProtocolError` is raised
    with everything before it already in ``out``.
    """
    for item in items:
        kind = type(item)
        if kind is DataRun:
            try:
                envelopes = list(map(_decode_envelope, item))  # type: ignore[call-overload]
            except _FastPathMiss:
                # Not all of them are plain events: one at a time, the general way
                # for those the fast path refuses.
                for raw in item:  # type: ignore[attr-defined]
                    _decode_data(raw, out)
            else:
                _append_events(envelopes, out)
        elif kind is tuple:
            _decode_data(item[1], out)  # type: ignore[index]
        else:
            out.append(item)


def _decode_data(raw: bytes | str, out: list[Any]) -> None:
    try:
        envelope = _decode_envelope(raw)
    except _FastPathMiss:
        out.append(_decode_message_general(raw))
    else:
        _append_events((envelope,), out)


def _append_events(envelopes: Iterable[_Envelope], out: list[Any]) -> None:
    append = out.append
    renamed = RENAMED_METHODS
    for envelope in envelopes:
        params = envelope.params
        method = envelope.method
        data = params.data
        append(
            _new_tuple(
                Event,
                (
                    method,
                    channel_of(method, data) if method in renamed else method,
                    params.namespace,
                    data,
                    envelope.seq,
                    envelope.event_id,
                    params.timestamp,
                    params.node,
                    None,
                ),
            )
        )


def _decode_message_general(raw: bytes | str) -> Message:
    obj = loads(raw)
    if type(obj) is not dict:
        raise RemoteProtocolError(f"message must be a JSON object, got {_type_name(obj)}")
    return decode_object(obj)


_new_tuple = tuple.__new__
_INT_OR_NONE = frozenset({int, type(None)})
_STR_OR_NONE = frozenset({str, type(None)})
_NUMBER_OR_NONE = frozenset({int, float, type(None)})


def decode_object(obj: dict[str, Any]) -> Message:
    """Decode an already-parsed message object. This is the per-event hot path.

    Its first lines take the server's usual event envelope (every field
    present and well typed, as orjson wrote it) with nothing but lookups and
    type checks; anything else goes the general way: replies, unknown types,
    and events with optional fields, camelCase names or a problem to name.
    """
    try:
        method = obj["method"]
        params = obj["params"]
        seq = obj["seq"]
        event_id = obj["event_id"]
        ns = params["namespace"]
        data = params["data"]
        timestamp = params["timestamp"]
        kind = obj["type"]
    except (KeyError, TypeError):
        return _decode_general(obj)
    if (
        kind != "event"
        or type(method) is not str
        or type(seq) is not int
        or type(event_id) is not str
        or type(ns) is not list
        or type(timestamp) is not int
        or len(params) != 3
    ):
        return _decode_general(obj)
    if ns:
        for segment in ns:
            if type(segment) is not str:
                return _bad_event(obj)
        namespace: tuple[str, ...] = tuple(ns)
    else:
        namespace = ()
    channel = channel_of(method, data) if method in RENAMED_METHODS else method
    return _new_tuple(
        Event, (method, channel, namespace, data, seq, event_id, timestamp, None, None)
    )


def _decode_general(obj: dict[str, Any]) -> Message:
    kind = obj.get("type")
    if kind == "event":
        return _decode_event_general(obj)
    if kind == "success":
        return _success(obj)
    if kind == "error":
        return _failure(obj)
    if kind is None:
        raise RemoteProtocolError("message has no 'type' field")
    if type(kind) is not str:
        raise RemoteProtocolError(f"message 'type' must be a string, got {_type_name(kind)}")
    return UnknownMessage(type=kind, data=obj)


def decode_event_object(obj: dict[str, Any]) -> Event:
    """Decode an object that must be an event (``{"type": "event", ...}``)."""
    message = decode_object(obj) if obj.get("type") == "event" else None
    if not isinstance(message, Event):
        raise RemoteProtocolError(f"expected an event, got a message of type {obj.get('type')!r}")
    return message


def _decode_event_general(obj: dict[str, Any]) -> Event:
    method = obj.get("method")
    params = obj.get("params")
    if type(method) is not str or type(params) is not dict:
        return _bad_event(obj)
    seq = obj.get("seq")
    event_id = obj.get("event_id")
    if event_id is None:
        event_id = obj.get("eventId")
    ns = params.get("namespace")
    data = params.get("data")
    node = params.get("node")
    timestamp = params.get("timestamp")
    if (
        type(seq) not in _INT_OR_NONE
        or type(event_id) not in _STR_OR_NONE
        or type(node) not in _STR_OR_NONE
        or type(timestamp) not in _NUMBER_OR_NONE
    ):
        return _bad_event(obj)
    if ns:
        if type(ns) is not list:
            return _bad_event(obj)
        for segment in ns:
            if type(segment) is not str:
                return _bad_event(obj)
        namespace: tuple[str, ...] = tuple(ns)
    elif ns is None or type(ns) is list:
        namespace = ()
    else:
        return _bad_event(obj)
    channel = channel_of(method, data) if method in RENAMED_METHODS else method
    extra = {k: v for k, v in params.items() if k not in _KNOWN_PARAMS} or None
    return _new_tuple(
        Event, (method, channel, namespace, data, seq, event_id, timestamp, node, extra)
    )


def _bad_event(obj: dict[str, Any]) -> Event:
    """Raise the error that names what is wrong with an event object."""
    method = obj.get("method")
    if method is None:
        raise RemoteProtocolError("event has no 'method' field")
    if type(method) is not str:
        raise RemoteProtocolError(f"event 'method' must be a string, got {_type_name(method)}")
    params = obj.get("params")
    if params is None:
        raise RemoteProtocolError(f"{method} event has no 'params' field")
    if type(params) is not dict:
        raise RemoteProtocolError(f"{method} event 'params' must be an object")
    f.opt_int(obj, "seq", "")
    # Read as the hot path reads it: a null event_id falls back to eventId.
    event_id = obj.get("event_id")
    if event_id is None:
        event_id = obj.get("eventId")
    f.opt_str({"event_id": event_id}, "event_id", "")
    f.opt_str(params, "node", "params")
    timestamp = params.get("timestamp")
    if timestamp is not None and type(timestamp) not in (int, float):
        raise RemoteProtocolError(f"params.timestamp must be a number, got {_type_name(timestamp)}")
    namespace = params.get("namespace")
    if namespace is not None:
        f.namespace(namespace, "params.namespace")
    raise AssertionError("unreachable: _bad_event found nothing wrong")  # pragma: no cover


def _meta_seq(obj: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    meta = obj.get("meta")
    if meta is None:
        return {}, None
    if type(meta) is not dict:
        raise RemoteProtocolError(f"reply 'meta' must be an object, got {_type_name(meta)}")
    return meta, f.opt_int(meta, "applied_through_seq", "meta")


def _reply_id(obj: dict[str, Any], kind: str) -> int:
    value = obj.get("id")
    if value is None:
        raise RemoteProtocolError(f"{kind} reply has no 'id' field")
    if type(value) is not int:
        raise RemoteProtocolError(f"{kind} reply 'id' must be an integer, got {_type_name(value)}")
    return value


def _success(obj: dict[str, Any]) -> CommandSuccess:
    command_id = _reply_id(obj, "success")
    meta, seq = _meta_seq(obj)
    return CommandSuccess(
        id=command_id, result=obj.get("result"), applied_through_seq=seq, meta=meta
    )


_FAILURE_FIELDS = frozenset({"type", "id", "error", "message", "meta", "stacktrace"})


def _failure(obj: dict[str, Any]) -> CommandFailure:
    raw_id = obj.get("id")
    if raw_id is not None and type(raw_id) is not int:
        # The real server echoes a malformed command's id (even a string); keep it out
        # of correlation but do not fail the whole stream over it.
        raw_id = None
    _meta, seq = _meta_seq(obj)
    return CommandFailure(
        id=raw_id,
        code=f.req_str(obj, "error", ""),
        message=f.opt_str(obj, "message", "") or "",
        extra={k: v for k, v in obj.items() if k not in _FAILURE_FIELDS},
        applied_through_seq=seq,
        stacktrace=f.opt_str(obj, "stacktrace", ""),
    )


# -- sending ------------------------------------------------------------------------------


def encode_command(command_id: int, command: Command) -> bytes:
    """The JSON text of one command."""
    return dumps({"id": command_id, "method": command.method, "params": command.params()})


def decode_command(raw: bytes | str | Mapping[str, Any]) -> tuple[int, Command]:
    """Read one command (producer role).

    Raises :class:`RemoteProtocolError` whose ``hint`` is the error code to
    answer with and whose ``command_id`` attribute is the id to echo (None when
    the envelope itself is malformed), with the real server's messages.
    """
    if isinstance(raw, bytes | str):
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _command_error("Protocol commands must be valid JSON.", None) from None
    else:
        obj = raw
    if type(obj) is not dict:
        raise _command_error(
            "Protocol commands must include an integer id and string method.", None
        )
    command_id = obj.get("id")
    method = obj.get("method")
    if type(command_id) is not int or type(method) is not str:
        raise _command_error(
            "Protocol commands must include an integer id and string method.", command_id
        )
    params = obj.get("params")
    if params is None:
        params = {}
    if type(params) is not dict:
        raise _command_error(f"{method}: params must be an object.", command_id)
    try:
        return command_id, command_from_params(method, params)
    except RemoteProtocolError as exc:
        exc.command_id = command_id  # type: ignore[attr-defined]
        raise


def _command_error(message: str, command_id: Any) -> RemoteProtocolError:
    exc = RemoteProtocolError(message, hint="invalid_argument")
    exc.command_id = command_id  # type: ignore[attr-defined]
    return exc


def event_to_json(event: Event) -> dict[str, Any]:
    """The envelope object of one event, in the server's field order."""
    obj: dict[str, Any] = {"type": "event"}
    if event.event_id is not None:
        obj["event_id"] = event.event_id
    if event.seq is not None:
        obj["seq"] = event.seq
    obj["method"] = event.method
    params: dict[str, Any] = {"namespace": list(event.namespace)}
    if event.timestamp is not None:
        params["timestamp"] = event.timestamp
    params["data"] = event.data
    if event.node is not None:
        params["node"] = event.node
    if event.extra:
        params.update(event.extra)
    obj["params"] = params
    return obj


def encode_event(event: Event) -> bytes:
    """The JSON text of one event envelope."""
    return dumps(event_to_json(event))


def encode_success(command_id: int, result: Any, applied_through_seq: int | None) -> bytes:
    obj: dict[str, Any] = {"type": "success", "id": command_id, "result": result}
    if applied_through_seq is not None:
        obj["meta"] = {"applied_through_seq": applied_through_seq}
    return dumps(obj)


def encode_failure(
    command_id: Any,
    code: str,
    message: str,
    *,
    applied_through_seq: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    obj: dict[str, Any] = {"type": "error", "id": command_id, "error": code, "message": message}
    if extra:
        obj.update(extra)
    if applied_through_seq is not None:
        obj["meta"] = {"applied_through_seq": applied_through_seq}
    return dumps(obj)
