"""Client bindings over HTTP/1.1: the event stream POST and the command POSTs.

Both own an ``h11.Connection`` and compose it with the layers above, so an
adapter only moves bytes: it writes what :meth:`EventStreamExchange.request_data`
or :meth:`CommandConnection.request` return, feeds what it reads to
``receive_data`` (``b""`` at end of input, h11's convention), and takes typed
items out.

* :class:`EventStreamExchange`: ``POST /threads/{id}/stream/events`` with a
  filter body; items are :class:`ResponseHead` (the stream is open), decoded
  messages (:class:`Event`, or a reply/unknown message a peer may interleave),
  and :class:`SSEComment` (the server's heartbeat: a sign of life). A status
  that is not 2xx raises :class:`HTTPStatusError` with the (bounded) body.
* :class:`CommandConnection`: sequential ``POST /threads/{id}/commands`` on one
  keep-alive connection; each request yields one reply. 202, 204 and empty
  bodies count as success with an empty result; a protocol error envelope is a
  :class:`CommandFailure` whatever the status (the server answers malformed
  commands with 400 and an envelope); any other non-2xx is
  :class:`HTTPStatusError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs
import h11
import orjson

from ._chunked import ChunkedBody
from ._codec import decode_object, dumps
from ._errors import (
    HTTPStatusError,
    LimitExceeded,
    LocalProtocolError,
    RemoteProtocolError,
    StreamTruncated,
)
from ._events import CommandFailure, CommandSuccess, Message
from ._http import JSON_HEADERS, STREAM_HEADERS, Endpoint, build_headers, thread_path
from ._limits import DEFAULT_LIMITS, Limits
from ._sse import END_OF_STREAM, NEED_DATA, Sentinel, SSEComment
from ._stream_decoder import EventStreamDecoder

__all__ = [
    "ResponseHead",
    "EventStreamExchange",
    "CommandConnection",
    "StreamItem",
]

_SUCCESS_STATUS: Final = range(200, 300)


@attrs.frozen(kw_only=True)
class ResponseHead:
    """The stream's response status and headers (lower-case names)."""

    status: int
    headers: Mapping[str, str]


StreamItem = ResponseHead | Message | SSEComment


def _headers_dict(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in headers}


def _detail(body: bytes) -> str | None:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is dict:
        for key in ("detail", "message"):
            if type(obj.get(key)) is str:
                return str(obj[key])
    return None


class _ErrorBody:
    """Collects (a bounded prefix of) an error response's body."""

    def __init__(self, status: int, reason: str, headers: dict[str, str], limit: int) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> None:
        room = self.limit - self.size
        if room > 0:
            self.parts.append(data[:room])
            self.size += min(len(data), room)

    def error(self) -> HTTPStatusError:
        body = b"".join(self.parts)
        return HTTPStatusError(
            self.status, body, reason=self.reason, headers=self.headers, detail=_detail(body)
        )


def _h11_receive(conn: h11.Connection, data: bytes) -> None:
    try:
        conn.receive_data(data)
    except RuntimeError as exc:  # h11 refuses data after it saw the end
        raise LocalProtocolError(f"cannot receive more data: {exc}") from None


def _next_h11(conn: h11.Connection, *, eof: bool) -> Any:
    """h11's next event. ``eof``: the end of input was handed to h11 after every byte
    before it had been parsed, so an error now means the response was cut off (in
    the head or the body), not that it was malformed."""
    state = conn.their_state
    try:
        return conn.next_event()
    except h11.RemoteProtocolError as exc:
        if eof and state is not h11.ERROR:
            where = (
                "before the response head arrived"
                if state is h11.SEND_RESPONSE
                else "in the middle of the response"
            )
            raise StreamTruncated(f"connection closed {where}: {exc}") from None
        raise RemoteProtocolError(f"malformed HTTP response: {exc}") from None


class EventStreamExchange:
    """One event-stream request and its response (see the module docstring)."""

    def __init__(
        self,
        endpoint: Endpoint,
        thread_id: str,
        body: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        api_key: str | None = None,
        path: str = "stream/events",
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.limits = limits
        self._conn: h11.Connection | None = h11.Connection(
            h11.CLIENT, max_incomplete_event_size=limits.max_header_size
        )
        self._decoder = EventStreamDecoder(limits=limits)
        self._body = dumps(dict(body))
        self._target = thread_path(endpoint, thread_id, *path.split("/"))
        self._headers = build_headers(endpoint, headers, STREAM_HEADERS, api_key=api_key)
        self._headers.append((b"content-length", str(len(self._body)).encode()))
        self._items: list[StreamItem] = []
        self._head: ResponseHead | None = None
        self._error_body: _ErrorBody | None = None
        self._ended = False
        self._sent = False
        self._chunks: ChunkedBody | None = None
        self._input_closed = False  # b"" was fed (checked once the body is ours)

    @property
    def head(self) -> ResponseHead | None:
        """The response head once it arrived."""
        return self._head

    def request_data(self) -> bytes:
        """The request's bytes: send them once, first."""
        if self._sent:
            raise LocalProtocolError("the event-stream request was already sent")
        self._sent = True
        conn = self._conn
        assert conn is not None  # let go only once the response head arrived
        request = h11.Request(method="POST", target=self._target, headers=self._headers)
        return (
            (conn.send(request) or b"")
            + (conn.send(h11.Data(data=self._body)) or b"")
            + (conn.send(h11.EndOfMessage()) or b"")
        )

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket; ``b""`` means the peer closed it."""
        conn = self._conn
        if conn is None:  # a chunked body, which is ours to decode
            self._receive_chunked(data)
            return
        _h11_receive(conn, data)
        self._pump(conn, eof=not data)

    def _receive_chunked(self, data: bytes) -> None:
        chunks = self._chunks
        assert chunks is not None
        if self._input_closed:
            raise LocalProtocolError("cannot receive more data: the end of input was fed")
        self._input_closed = not data
        if not self._ended:
            body = chunks.feed(data)
            if body:
                self._items.extend(self._decoder.feed(body))
            if chunks.done:
                self._on_end()

    def _pump(self, conn: h11.Connection, *, eof: bool) -> None:
        while True:
            event = _next_h11(conn, eof=eof)
            kind = type(event)
            if kind is h11.Data:
                if self._error_body is not None:
                    self._error_body.add(event.data)
                else:
                    self._items.extend(self._decoder.feed(bytes(event.data)))
            elif event is h11.NEED_DATA:
                return
            elif kind is h11.Response:
                self._on_head(event)
                if self._head is not None and "transfer-encoding" in self._head.headers:
                    # A chunked event stream: the body is ours from here (see _chunked).
                    self._chunks = ChunkedBody(max_line=self.limits.max_header_size)
                    rest, closed = conn.trailing_data
                    # h11 parses a head in the call that completes it: no end of
                    # input can have come after it yet.
                    assert not closed
                    # Let h11 go: it would keep those bytes (a read's worth) as long
                    # as the stream lasts.
                    self._conn = None
                    if rest:
                        self._receive_chunked(bytes(rest))
                    return
            elif kind is h11.EndOfMessage:
                self._on_end()
                return
            elif kind is h11.InformationalResponse:
                continue
            else:  # PAUSED (bytes after the end) or ConnectionClosed: h11 has no other
                self._on_end()
                return

    def _on_head(self, event: h11.Response) -> None:
        headers = _headers_dict(event.headers)
        reason = event.reason.decode("latin-1")
        if event.status_code not in _SUCCESS_STATUS:
            self._error_body = _ErrorBody(
                event.status_code, reason, headers, self.limits.max_error_body
            )
            return
        content_type = headers.get("content-type", "")
        # RFC 9110 section 8.3.1: type and subtype are case-insensitive.
        if content_type.partition(";")[0].strip().lower() != "text/event-stream":
            raise RemoteProtocolError(
                f"event stream answered with content-type {content_type!r}, not text/event-stream"
            )
        self._head = ResponseHead(status=event.status_code, headers=headers)
        self._items.append(self._head)

    def _on_end(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self._error_body is not None:
            raise self._error_body.error()
        if self._head is None:
            raise StreamTruncated("connection closed before the response head arrived")
        self._items.extend(self._decoder.feed(b""))

    def events(self) -> list[StreamItem]:
        """Every item decoded so far (and afterwards the items of later data)."""
        items = self._items
        self._items = []
        return items

    def next_event(self) -> StreamItem | Sentinel:
        """One item, or :data:`NEED_DATA`, or :data:`END_OF_STREAM` after a clean end."""
        if self._items:
            return self._items.pop(0)
        return END_OF_STREAM if self._ended else NEED_DATA

    @property
    def ended(self) -> bool:
        """True once the response ended (cleanly: errors are raised)."""
        return self._ended


class CommandConnection:
    """Sequential command POSTs on one keep-alive HTTP/1.1 connection.

    The connection is not tied to a thread: each :meth:`request` names the
    thread its command is for.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        api_key: str | None = None,
        path: str = "commands",
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.limits = limits
        self._endpoint = endpoint
        self._path = path.split("/")
        self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=limits.max_header_size)
        self._headers = build_headers(endpoint, headers, JSON_HEADERS, api_key=api_key)
        self._command_id: int | None = None
        self._status = 0
        self._reason = ""
        self._resp_headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._reply: CommandSuccess | CommandFailure | None = None
        self._eof = False  # the peer closed; h11 hears it once the bytes before are parsed
        self._eof_fed = False

    @property
    def idle(self) -> bool:
        """True when the connection can take the next request."""
        return self._command_id is None and self._conn.our_state is h11.IDLE and not self._eof

    @property
    def closed(self) -> bool:
        """True when the server will not take another request on this connection."""
        return (
            self._eof
            or h11.MUST_CLOSE in (self._conn.our_state, self._conn.their_state)
            or (h11.CLOSED in (self._conn.our_state, self._conn.their_state))
        )

    def request(self, thread_id: str, command_id: int, data: bytes) -> bytes:
        """Bytes of the POST carrying one encoded command (``data``) with id ``command_id``."""
        if self.closed:
            raise LocalProtocolError("this connection is closed: send the command on a new one")
        if not self.idle:
            raise LocalProtocolError("a command request is already in flight on this connection")
        target = thread_path(self._endpoint, thread_id, *self._path)
        self._command_id = command_id
        headers = [*self._headers, (b"content-length", str(len(data)).encode())]
        request = h11.Request(method="POST", target=target, headers=headers)
        return (
            (self._conn.send(request) or b"")
            + (self._conn.send(h11.Data(data=data)) or b"")
            + (self._conn.send(h11.EndOfMessage()) or b"")
        )

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket; ``b""`` means the peer closed it."""
        if self._command_id is None:
            raise LocalProtocolError("no command request is in flight")
        if self._eof:
            raise LocalProtocolError("cannot receive more data: the connection was closed")
        if data:
            _h11_receive(self._conn, data)
        else:
            # Held back until next_reply has parsed what came before, so that a
            # malformed reply is told apart from one the close cut off.
            self._eof = True

    def next_reply(self) -> CommandSuccess | CommandFailure | Sentinel:
        """The reply once it is complete, else :data:`NEED_DATA`."""
        if self._command_id is None:
            raise LocalProtocolError("no command request is in flight")
        while self._reply is None:
            event = _next_h11(self._conn, eof=self._eof_fed)
            kind = type(event)
            if event is h11.NEED_DATA:
                if self._eof and not self._eof_fed:
                    self._eof_fed = True
                    _h11_receive(self._conn, b"")
                    continue
                return NEED_DATA
            if kind is h11.Response:
                self._status = event.status_code
                self._reason = event.reason.decode("latin-1")
                self._resp_headers = _headers_dict(event.headers)
            elif kind is h11.Data:
                self._size += len(event.data)
                if self._size > self.limits.max_body_size:
                    raise LimitExceeded(
                        f"command reply larger than max_body_size={self.limits.max_body_size}",
                        limit="max_body_size",
                        value=self.limits.max_body_size,
                    )
                self._body.append(bytes(event.data))
            elif kind is h11.EndOfMessage:
                self._reply = self._finish()
            elif kind is h11.ConnectionClosed:  # pragma: no cover
                # Defensive: with a request sent, h11 refuses a close before the reply
                # ends (an error, StreamTruncated above); never loop on this event.
                raise StreamTruncated("connection closed before the command reply arrived")
            # InformationalResponse: keep reading
        reply, self._reply = self._reply, None
        self._command_id = None
        if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
            self._conn.start_next_cycle()
        return reply

    def _finish(self) -> CommandSuccess | CommandFailure:
        body = b"".join(self._body)
        self._body = []
        self._size = 0
        status = self._status
        assert self._command_id is not None
        if status in _SUCCESS_STATUS and not body.strip():
            return CommandSuccess(id=self._command_id, result={})
        obj: Any = None
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            if status in _SUCCESS_STATUS:
                raise RemoteProtocolError(
                    f"command reply is not valid JSON: {body[:80]!r}"
                ) from None
        if type(obj) is dict and obj.get("type") in ("success", "error"):
            reply = decode_object(obj)  # a CommandSuccess or CommandFailure for these types
            assert isinstance(reply, CommandSuccess | CommandFailure)
            if isinstance(reply, CommandFailure) and reply.id is None:
                # The server echoes no id for a malformed command: it answers ours.
                reply = attrs.evolve(reply, id=self._command_id)
            return reply
        if status not in _SUCCESS_STATUS:
            raise HTTPStatusError(
                status,
                body[: self.limits.max_error_body],
                reason=self._reason,
                headers=self._resp_headers,
                detail=_detail(body),
            )
        raise RemoteProtocolError(f"command reply is not a protocol reply: {body[:80]!r}")
