"""Server binding over HTTP/1.1: requests in, responses and event streams out.

:class:`ServerConnection` owns an ``h11.Connection`` in the server role. Feed it
bytes with :meth:`receive_data` (``b""`` at end of input); :meth:`next_request`
returns a whole :class:`HTTPRequest` (its body read, within ``max_body_size``),
:data:`NEED_DATA`, or None once the client closed. Answer with
:meth:`respond` (a complete response) or with :meth:`start_stream`,
:meth:`stream_data` and :meth:`end_stream` (a chunked ``text/event-stream``);
each returns the bytes to write. After a response the connection is ready for
the next request on the same socket (keep-alive) unless either side asked to
close.

A request that asks for a WebSocket upgrade is returned like any other with
``upgrade`` set; hand it to :class:`~threadwire.protocol._ws_server.WebSocketServer`
together with :attr:`ServerConnection.trailing_data`.

Malformed requests raise :class:`RemoteProtocolError` whose ``hint`` is the
status to answer with (400, 413, 431); :meth:`error_response` builds that
answer when the connection can still carry one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import unquote

import attrs
import h11
import orjson

from ._errors import LocalProtocolError, RemoteProtocolError
from ._limits import DEFAULT_LIMITS, Limits
from ._sse import NEED_DATA, Sentinel

__all__ = ["HTTPRequest", "ServerConnection", "split_path", "SERVER_NAME"]

SERVER_NAME: Final = b"threadwire"


@attrs.frozen(kw_only=True)
class HTTPRequest:
    """One request, its body complete."""

    method: str
    target: str
    """The raw request target (path and query)."""
    path: str
    """The target's path, still percent-encoded."""
    query: str
    headers: Mapping[str, str]
    """Lower-case names; repeated headers joined with ``, ``."""
    body: bytes
    upgrade: str | None = None
    """``websocket`` when the client asks for that upgrade."""
    raw_headers: tuple[tuple[bytes, bytes], ...] = ()

    def json(self) -> Any:
        """The body parsed as JSON (:class:`RemoteProtocolError` with hint 400 if it is not)."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise RemoteProtocolError("Invalid JSON body", hint="400") from None


def split_path(path: str) -> list[str]:
    """The path's segments, each percent-decoded (``%2F`` stays inside its segment)."""
    return [unquote(segment) for segment in path.strip("/").split("/")] if path.strip("/") else []


def _joined(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, value in headers:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        result[key] = f"{result[key]}, {text}" if key in result else text
    return result


class ServerConnection:
    """See the module docstring."""

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header_size)
        self._request: h11.Request | None = None
        self._body: list[bytes] = []
        self._size = 0
        self._streaming = False

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket; ``b""`` means the client closed it."""
        try:
            self._conn.receive_data(data)
        except RuntimeError as exc:
            raise LocalProtocolError(f"cannot receive more data: {exc}") from None

    def next_request(self) -> HTTPRequest | Sentinel | None:
        """The next complete request, :data:`NEED_DATA`, or None when the client is gone."""
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint
                raise RemoteProtocolError(
                    f"malformed HTTP request: {exc}", hint=str(status)
                ) from None
            if event is h11.NEED_DATA:
                return NEED_DATA
            if event is h11.PAUSED:
                return NEED_DATA  # a response is still being written
            if isinstance(event, h11.Request):
                self._request = event
                self._body = []
                self._size = 0
                length = _joined(event.headers).get("content-length")
                declared = int(length) if length is not None and length.isdigit() else 0
                if declared > self.limits.max_body_size:
                    raise RemoteProtocolError(
                        f"request body of {length} bytes exceeds max_body_size="
                        f"{self.limits.max_body_size}",
                        hint="413",
                    )
            elif isinstance(event, h11.Data):
                self._size += len(event.data)
                if self._size > self.limits.max_body_size:
                    raise RemoteProtocolError(
                        f"request body exceeds max_body_size={self.limits.max_body_size}",
                        hint="413",
                    )
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return self._finish_request()
            else:  # h11.ConnectionClosed, the only event left: the client is gone
                return None

    def _finish_request(self) -> HTTPRequest:
        request = self._request
        assert request is not None
        headers = _joined(request.headers)
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        upgrade = None
        if "upgrade" in headers.get("connection", "").lower():
            upgrade = headers.get("upgrade", "").lower() or None
        return HTTPRequest(
            method=request.method.decode("latin-1"),
            target=target,
            path=path,
            query=query,
            headers=headers,
            body=b"".join(self._body),
            upgrade=upgrade,
            raw_headers=tuple((bytes(k), bytes(v)) for k, v in request.headers),
        )

    @property
    def trailing_data(self) -> bytes:
        """Bytes received after the request (for a WebSocket upgrade)."""
        return bytes(self._conn.trailing_data[0])

    @property
    def keep_alive(self) -> bool:
        """True when the connection can carry another request after this response."""
        return self._conn.our_state is not h11.MUST_CLOSE and self._conn.their_state not in (
            h11.MUST_CLOSE,
            h11.CLOSED,
        )

    def _send(self, event: Any) -> bytes:
        try:
            return self._conn.send(event) or b""
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"cannot send that response now: {exc}") from None

    def _headers(
        self, content_type: str | None, extra: Mapping[str, str] | None
    ) -> list[tuple[bytes, bytes]]:
        headers = [(b"server", SERVER_NAME)]
        if content_type is not None:
            headers.append((b"content-type", content_type.encode()))
        for name, value in (extra or {}).items():
            headers.append((name.lower().encode(), value.encode()))
        return headers

    def respond(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str | None = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """A complete response; afterwards the connection waits for the next request."""
        all_headers = self._headers(content_type if body else None, headers)
        all_headers.append((b"content-length", str(len(body)).encode()))
        out = self._send(h11.Response(status_code=status, headers=all_headers))
        if body:
            out += self._send(h11.Data(data=body))
        out += self._send(h11.EndOfMessage())
        self._next_cycle()
        return out

    def respond_json(
        self, status: int, obj: Any, *, headers: Mapping[str, str] | None = None
    ) -> bytes:
        return self.respond(status, orjson.dumps(obj), headers=headers)

    def error_response(self, error: RemoteProtocolError) -> bytes:
        """A JSON ``{"detail": ...}`` answer to a malformed request, if one can still be sent."""
        status = int(error.hint) if error.hint.isdigit() else 400
        if self._conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return b""
        body = orjson.dumps({"detail": error.message})
        headers = [
            (b"server", SERVER_NAME),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        try:
            return (
                self._send(h11.Response(status_code=status, headers=headers))
                + self._send(h11.Data(data=body))
                + self._send(h11.EndOfMessage())
            )
        except LocalProtocolError:
            return b""

    def start_stream(self, *, headers: Mapping[str, str] | None = None) -> bytes:
        """The head of a chunked ``text/event-stream`` response (the server's headers)."""
        base = {
            "cache-control": "no-store",
            "x-accel-buffering": "no",
            **(headers or {}),
        }
        self._streaming = True
        return self._send(
            h11.Response(
                status_code=200,
                headers=self._headers("text/event-stream; charset=utf-8", base),
            )
        )

    def stream_data(self, data: bytes) -> bytes:
        """One chunk of the stream (an SSE block or several)."""
        if not self._streaming:
            raise LocalProtocolError("no stream was started")
        return self._send(h11.Data(data=data)) if data else b""

    def end_stream(self) -> bytes:
        """The end of the chunked stream."""
        if not self._streaming:
            raise LocalProtocolError("no stream was started")
        self._streaming = False
        out = self._send(h11.EndOfMessage())
        self._next_cycle()
        return out

    def _next_cycle(self) -> None:
        if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
            self._conn.start_next_cycle()
