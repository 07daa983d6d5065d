"""Client binding over WebSocket: one socket for commands, replies and events.

:class:`WebSocketClient` owns a ``wsproto.WSConnection`` and decodes every text
message with the codec. It answers pings and the peer's close on its own: those
bytes wait in :meth:`WebSocketClient.data_to_send`, which the adapter must
flush after each :meth:`WebSocketClient.receive_data` (h2's pattern). End of
input is ``receive_data(b"")``.

Items: :class:`Opened` (the handshake succeeded), decoded messages
(:class:`Event`, :class:`CommandSuccess`, :class:`CommandFailure`,
:class:`UnknownMessage`) and finally :class:`Closed` with the close code and
whether a reconnect is worth it (1011 "thread stream ended" and 4000 + 5xx
are, 4000 + 4xx are not). A rejected handshake raises
:class:`HTTPStatusError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError as WSLocalError
from wsproto.utilities import RemoteProtocolError as WSRemoteError

from ._codec import decode_message
from ._errors import (
    HTTPStatusError,
    LimitExceeded,
    LocalProtocolError,
    RemoteProtocolError,
    StreamTruncated,
)
from ._events import Message
from ._http import Endpoint, build_headers, thread_path
from ._limits import DEFAULT_LIMITS, Limits
from ._reconnect import classify_ws_close
from ._sse import NEED_DATA, Sentinel
from ._ws_common import close_frame, text_frame

__all__ = ["Opened", "Closed", "WebSocketClient", "WSItem"]


@attrs.frozen(kw_only=True)
class Opened:
    """The WebSocket handshake succeeded."""


@attrs.frozen(kw_only=True)
class Closed:
    """The socket closed: ``code`` and ``reason`` as sent (1006 if it just dropped)."""

    code: int
    reason: str = ""

    @property
    def retryable(self) -> bool:
        return classify_ws_close(self.code)


WSItem = Opened | Closed | Message


class WebSocketClient:
    """See the module docstring."""

    def __init__(
        self,
        endpoint: Endpoint,
        thread_id: str,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        api_key: str | None = None,
        path: str = "stream/events",
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.limits = limits
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._target = thread_path(endpoint, thread_id, *path.split("/"))
        all_headers = build_headers(endpoint, headers, (), api_key=api_key)
        self._host = all_headers[0][1].decode()
        self._extra = [(k, v) for k, v in all_headers[1:]]
        self._out = bytearray()
        self._items: list[WSItem] = []
        self._parts: list[str] = []
        self._size = 0
        self._reject: tuple[int, dict[str, str], list[bytes]] | None = None
        self._closed: Closed | None = None
        self._started = False
        self._opened = False
        self._eof = False

    def connect_data(self) -> bytes:
        """The handshake request's bytes: send them once, first."""
        if self._started:
            raise LocalProtocolError("the WebSocket handshake was already sent")
        self._started = True
        return self._ws.send(
            Request(host=self._host, target=self._target, extra_headers=self._extra)
        )

    def send_text(self, text: str | bytes) -> bytes:
        """The frame bytes carrying one message (an encoded command)."""
        if self._closed is not None:
            raise LocalProtocolError(f"the WebSocket is closed ({self._closed.code})")
        return text_frame(self._ws, text)

    def close(self, code: int = 1000, reason: str = "") -> bytes:
        """Bytes of our close frame (empty if closing is already under way)."""
        return close_frame(self._ws, code, reason)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket; ``b""`` means the peer closed it."""
        if not data:
            self._eof = True
        elif self._eof:
            raise LocalProtocolError("cannot receive more data after the end of input")
        if self._closed is not None:
            return  # nothing after the close is read (RFC 6455 section 5.5.1); no 2nd Closed
        if not data and not self._opened:
            # (wsproto would call this a "Bad HTTP message".)
            if self._reject is not None:
                self._raise_reject()  # with the part of the body that arrived
            raise StreamTruncated("connection closed during the WebSocket handshake")
        try:
            self._ws.receive_data(data or None)
        except WSRemoteError as exc:
            raise RemoteProtocolError(f"malformed WebSocket data: {exc}") from None
        self._pump()

    def _pump(self) -> None:
        # Bad frames come out of wsproto as a CloseConnection (1002, 1007, ...) and the
        # end of input as one with 1006; its RemoteProtocolError is the handshake's only.
        try:
            for event in self._ws.events():
                self._on_event(event)
                if self._closed is not None:
                    break  # nothing after the close is read (RFC 6455 section 5.5.1)
        except WSRemoteError as exc:  # pragma: no cover - defensive, see above
            raise RemoteProtocolError(f"malformed WebSocket data: {exc}") from None

    def _on_event(self, event: Any) -> None:
        if isinstance(event, TextMessage):
            self._size += len(event.data)
            limit = self.limits.max_message_size
            if self._size > limit:
                raise LimitExceeded(
                    f"WebSocket message larger than max_message_size={limit}",
                    limit="max_message_size",
                    value=limit,
                )
            self._parts.append(event.data)
            if event.message_finished:
                text = self._parts[0] if len(self._parts) == 1 else "".join(self._parts)
                self._parts = []
                self._size = 0
                self._items.append(decode_message(text))
        elif isinstance(event, AcceptConnection):
            self._opened = True
            self._items.append(Opened())
        elif isinstance(event, Ping):
            if self._ws.state is ConnectionState.OPEN:  # nothing goes out after our close
                self._out += self._ws.send(event.response())
        elif isinstance(event, CloseConnection):
            if self._ws.state.name != "CLOSED":
                with contextlib.suppress(WSLocalError):
                    self._out += self._ws.send(event.response())
            code = int(event.code)
            dropped = "connection dropped without a close frame" if code == 1006 else ""
            self._closed = Closed(code=code, reason=event.reason or dropped)
            self._items.append(self._closed)
        elif isinstance(event, Pong):
            pass  # any bytes are a sign of life; the adapter tracks that
        elif isinstance(event, RejectConnection):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers}
            self._reject = (event.status_code, headers, [])
            if not event.has_body:
                self._raise_reject()
        elif isinstance(event, RejectData):
            assert self._reject is not None
            self._reject[2].append(event.data)
            if event.body_finished:
                self._raise_reject()
        else:
            raise RemoteProtocolError(
                f"binary or unexpected WebSocket data: {type(event).__name__}"
            )

    def _raise_reject(self) -> None:
        assert self._reject is not None
        status, headers, parts = self._reject
        body = b"".join(parts)[: self.limits.max_error_body]
        raise HTTPStatusError(status, body, headers=headers)

    def ping(self, payload: bytes = b"") -> bytes:
        """Bytes of a ping frame (the adapter's keepalive)."""
        try:
            return self._ws.send(Ping(payload=payload))
        except WSLocalError as exc:
            raise LocalProtocolError(f"cannot ping now: {exc}") from None

    def data_to_send(self) -> bytes:
        """Bytes the binding must send on its own (pongs, the close reply)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def events(self) -> list[WSItem]:
        items = self._items
        self._items = []
        return items

    def next_event(self) -> WSItem | Sentinel:
        if self._items:
            return self._items.pop(0)
        return NEED_DATA

    @property
    def closed(self) -> Closed | None:
        return self._closed
