"""What both WebSocket bindings do the same way with their ``wsproto`` connection."""

from __future__ import annotations

from wsproto import WSConnection
from wsproto.events import CloseConnection, TextMessage
from wsproto.utilities import LocalProtocolError as WSLocalError

from ._errors import LocalProtocolError

__all__ = ["text_frame", "close_frame"]


def text_frame(ws: WSConnection, text: str | bytes) -> bytes:
    """The frame bytes of one text message; LocalProtocolError when sending is over."""
    if isinstance(text, bytes):
        text = text.decode()
    try:
        return ws.send(TextMessage(data=text))
    except WSLocalError as exc:
        raise LocalProtocolError(f"cannot send on the WebSocket now: {exc}") from None


def close_frame(ws: WSConnection, code: int, reason: str) -> bytes:
    """The bytes of a close frame, or nothing when closing is already under way."""
    try:
        return ws.send(CloseConnection(code=code, reason=reason))
    except WSLocalError:
        return b""
