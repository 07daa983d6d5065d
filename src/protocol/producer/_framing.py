"""Transports, framing constants and the event-stream request validator.

Framing is the server's (PROTOCOL.md sections 1.1, 1.3 and 2.1): an SSE block
per event (``event: <method>``, one ``data:`` line with the compact JSON
envelope, ``id: <seq>``, CRLF line ends; see :attr:`LogEntry.sse`), the same
JSON as one WebSocket text frame, and ``: heartbeat`` comments on idle SSE
streams.

:func:`parse_stream_request` validates the JSON body of
``POST /threads/{thread_id}/stream/events`` like the server does (channels
required, non-empty and supported; ``custom:NAME`` with a name), except that
what the server silently ignores (a malformed ``namespaces``, ``depth`` or
``since``) is a clear 400 here rather than an unfiltered stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, Final

import orjson

from .._errors import RemoteProtocolError
from .._events import CHANNELS
from .._filters import ALL_CHANNELS, StreamFilter
from .._session import StreamRequest
from .._sse import serialize_comment

__all__ = [
    "Transport",
    "HEARTBEAT",
    "SSE_HEADERS",
    "WS_CLOSE_FELL_BEHIND",
    "StreamRequestError",
    "unsupported_channels",
    "channels_error",
    "parse_stream_request",
]


class Transport(Enum):
    """What one :class:`ServerSession` serves."""

    WEBSOCKET = "websocket"
    """Commands in; replies and events out, interleaved, one JSON text frame each."""
    SSE = "sse"
    """One event stream (``POST .../stream/events``): SSE blocks out, no commands."""
    HTTP = "http"
    """One or more ``POST .../commands`` requests: replies out, no events."""


HEARTBEAT: Final = serialize_comment("heartbeat")
"""``: heartbeat`` CRLF CRLF: the server writes one every 5 s on an SSE stream."""

SSE_HEADERS: Final = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
)
"""Response headers of an event stream, as the server sends them."""

WS_CLOSE_FELL_BEHIND: Final = 1013
"""WebSocket close code for a subscriber cut off for falling behind ("try again
later": clients treat it as retryable and resume)."""

_ALLOWED_TEXT: Final = ", ".join(ALL_CHANNELS) + ", or any `custom:<name>`"


class StreamRequestError(RemoteProtocolError):
    """An event-stream request to answer with an HTTP error instead of a stream.

    ``status`` is the HTTP status (400 for a malformed body, 410 when ``since``
    is older than the replay buffer), :attr:`body` the JSON to send:
    ``{"detail": ...}`` plus ``extra`` (``error``, ``since`` and
    ``min_available_seq`` for a gap).
    """

    def __init__(
        self,
        detail: str,
        *,
        status: int = 400,
        hint: str = "invalid_argument",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail, hint=hint)
        self.status = status
        self.detail = detail
        self.extra: dict[str, Any] = dict(extra or {})

    @property
    def body(self) -> bytes:
        return orjson.dumps({"detail": self.detail, **self.extra})


def _show(value: Any) -> str:
    return orjson.dumps(value, default=repr).decode()


def unsupported_channels(channels: list[Any]) -> list[Any]:
    """The entries of ``channels`` that are not channel names the protocol has."""
    bad = []
    for channel in channels:
        if type(channel) is str and (
            channel in CHANNELS or (channel.startswith("custom:") and len(channel) > 7)
        ):
            continue
        bad.append(channel)
    return bad


def channels_error(channels: Any) -> str | None:
    """Why ``channels`` (as received) is not acceptable, in the server's words; None if it is."""
    if type(channels) is not list or not channels:
        return "channels is required and must be a non-empty array"
    bad = unsupported_channels(channels)
    if bad:
        shown = ", ".join(c if type(c) is str else _show(c) for c in bad[:5])
        return f"channels contains unsupported entries: {shown}. Allowed: {_ALLOWED_TEXT}."
    return None


def _uint(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise StreamRequestError(f"{name} must be a non-negative integer, got {_show(value)}")
    return value


def _namespaces(value: Any) -> list[list[str]] | None:
    if value is None:
        return None
    problem = "namespaces must be an array of namespaces (arrays of strings)"
    if type(value) is not list:
        raise StreamRequestError(problem)
    for ns in value:
        if type(ns) is not list or not all(type(s) is str for s in ns):
            raise StreamRequestError(f"{problem}, got {_show(ns)}")
    return value


def parse_stream_request(body: bytes | str | Mapping[str, Any]) -> StreamRequest:
    """The filter and ``since`` of an event-stream request body, or StreamRequestError (400)."""
    if isinstance(body, bytes | str):
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise StreamRequestError("Invalid JSON body") from None
    else:
        obj = body
    if not isinstance(obj, Mapping):
        raise StreamRequestError("the request body must be a JSON object")
    channels = obj.get("channels")
    problem = channels_error(channels)
    if problem is not None:
        raise StreamRequestError(problem)
    assert type(channels) is list  # channels_error checked it
    stream_filter = StreamFilter(
        channels=channels,
        namespaces=_namespaces(obj.get("namespaces")),
        depth=_uint(obj, "depth"),
    )
    return StreamRequest(filter=stream_filter, since=_uint(obj, "since"))
