"""Server binding over WebSocket, taken over from an HTTP upgrade request.

:class:`WebSocketServer` owns a ``wsproto.WSConnection`` in the server role,
started from a request the HTTP binding already parsed (wsproto's
``initiate_upgrade_connection``). :meth:`accept` returns the 101 response
bytes; then :meth:`receive_data` (``b""`` at end of input) and
:meth:`messages` give the text messages received, :meth:`send_text` frames one
message, and pings and the client's close are answered through
:meth:`data_to_send`. :attr:`closed` holds the close code once the socket
closed. Bytes that are not WebSocket raise :class:`RemoteProtocolError`, a
message over ``limits.max_message_size`` its subclass :class:`LimitExceeded`:
close the socket (1002, 1009) rather than read on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
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

from ._errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from ._limits import DEFAULT_LIMITS, Limits
from ._ws_common import close_frame, text_frame

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
        self._binary: list[bytes] = []
        self._eof = False
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
        if not data:
            self._eof = True
        elif self._eof:
            raise LocalProtocolError("cannot receive more data after the end of input")
        if self.closed is not None:
            return  # nothing after the close is read (RFC 6455 section 5.5.1)
        self._ws.receive_data(data or None)
        # Bad frames come out of wsproto as a CloseConnection (1002, 1007, ...), the end
        # of input as one with 1006; before accept() the bytes wait in the handshake.
        for event in self._ws.events():
            self._on_event(event)
            if self.closed is not None:
                break  # nothing after the close is read (RFC 6455 section 5.5.1)
        if not data and self.closed is None:  # the client left before accept()
            self.closed = 1006

    def _on_event(self, event: object) -> None:
        if isinstance(event, TextMessage | BytesMessage):
            self._size += len(event.data)
            limit = self.limits.max_message_size
            if self._size > limit:
                raise LimitExceeded(
                    f"WebSocket message larger than max_message_size={limit}",
                    limit="max_message_size",
                    value=limit,
                )
            if isinstance(event, BytesMessage):
                # Binary frames are not part of the protocol: read their bytes as text
                # (once whole) so the session answers as it does for any bad command.
                self._binary.append(bytes(event.data))
                if event.message_finished:
                    self._messages.append(b"".join(self._binary).decode("utf-8", "replace"))
                    self._binary = []
                    self._size = 0
                return
            self._parts.append(event.data)
            if event.message_finished:
                self._messages.append("".join(self._parts))
                self._parts = []
                self._size = 0
        elif isinstance(event, Ping):
            if self._ws.state is ConnectionState.OPEN:  # nothing goes out after our close
                self._out += self._ws.send(event.response())
        elif isinstance(event, CloseConnection):
            self.closed = int(event.code)
            with contextlib.suppress(WSLocalError):  # already closed: nothing to answer
                self._out += self._ws.send(event.response())
        elif isinstance(event, Pong):
            pass

    def messages(self) -> list[str]:
        """Text messages received so far (each one command, if the client is honest)."""
        messages, self._messages = self._messages, []
        return messages

    def send_text(self, text: str | bytes) -> bytes:
        return text_frame(self._ws, text)

    def close(self, code: int = 1000, reason: str = "") -> bytes:
        return close_frame(self._ws, code, reason)

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out
