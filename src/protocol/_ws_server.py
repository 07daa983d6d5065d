"""Server binding over WebSocket, taken over from an HTTP upgrade request.

:class:`WebSocketServer` owns a ``wsproto.WSConnection`` in the server role,
started from a request the HTTP binding already parsed (wsproto's
``initiate_upgrade_connection``). :meth:`accept` returns the 101 response
bytes; then :meth:`receive_data` (``b""`` at end of input) and
:meth:`messages` give the text messages received, :meth:`send_text` frames one
message, and pings and the client's close are answered through
:meth:`data_to_send`. :attr:`closed` holds the close code once the socket
closed.
"""

from __future__ import annotations

from collections.abc import Iterable

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError as WSLocalError
from wsproto.utilities import RemoteProtocolError as WSRemoteError

from ._errors import LocalProtocolError, RemoteProtocolError
from ._limits import DEFAULT_LIMITS, Limits

__all__ = ["WebSocketServer"]


class WebSocketServer:
    """See the module docstring."""

    def __init__(
        self,
        headers: Iterable[tuple[bytes, bytes]],
        path: str,
        *,
        trailing_data: bytes = b"",
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.limits = limits
        self._ws = WSConnection(ConnectionType.SERVER)
        try:
            self._ws.initiate_upgrade_connection(list(headers), path)
        except WSRemoteError as exc:
            raise RemoteProtocolError(f"bad WebSocket upgrade: {exc}", hint="400") from None
        self._trailing = trailing_data
        self._out = bytearray()
        self._messages: list[str] = []
        self._parts: list[str] = []
        self._size = 0
        self.closed: int | None = None
        """The close code once the socket closed (1006 when it dropped)."""

    def accept(self) -> bytes:
        """The 101 response; afterwards feed any bytes that came with the request."""
        out = self._ws.send(AcceptConnection())
        if self._trailing:
            trailing, self._trailing = self._trailing, b""
            self.receive_data(trailing)
        return out

    def receive_data(self, data: bytes) -> None:
        try:
            self._ws.receive_data(data or None)
            for event in self._ws.events():
                self._on_event(event)
        except WSRemoteError as exc:
            raise RemoteProtocolError(f"malformed WebSocket data: {exc}") from None
        if not data and self.closed is None:
            self.closed = 1006

    def _on_event(self, event: object) -> None:
        if isinstance(event, TextMessage):
            self._size += len(event.data)
            if self._size > self.limits.max_message_size:
                raise RemoteProtocolError(
                    f"WebSocket message larger than max_message_size={self.limits.max_message_size}"
                )
            self._parts.append(event.data)
            if event.message_finished:
                self._messages.append("".join(self._parts))
                self._parts = []
                self._size = 0
        elif isinstance(event, BytesMessage):
            # Binary frames are not part of the protocol: treat their bytes as text so
            # the session answers with its usual "must be valid JSON" error.
            if event.message_finished:
                self._messages.append(bytes(event.data).decode("utf-8", "replace"))
        elif isinstance(event, Ping):
            self._out += self._ws.send(event.response())
        elif isinstance(event, CloseConnection):
            self.closed = int(event.code)
            try:
                self._out += self._ws.send(event.response())
            except WSLocalError:
                pass
        elif isinstance(event, Pong):
            pass

    def messages(self) -> list[str]:
        """Text messages received so far (each one command, if the client is honest)."""
        messages, self._messages = self._messages, []
        return messages

    def send_text(self, text: str | bytes) -> bytes:
        if isinstance(text, bytes):
            text = text.decode()
        try:
            return self._ws.send(TextMessage(data=text))
        except WSLocalError as exc:
            raise LocalProtocolError(f"cannot send on the WebSocket now: {exc}") from None

    def close(self, code: int = 1000, reason: str = "") -> bytes:
        try:
            return self._ws.send(CloseConnection(code=code, reason=reason))
        except WSLocalError:
            return b""

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out
