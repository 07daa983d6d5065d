"""The error vocabulary: who broke the protocol, and what a failed command said.

Two classes say whose fault a protocol violation was, in the manner of h11:

* :class:`LocalProtocolError`: the caller asked the engine for something the
  protocol does not allow (a command with a bad argument, a respond with no
  pending interrupt, more pending commands than the limit).
* :class:`RemoteProtocolError`: the peer sent something the protocol does not
  allow (bytes that are not an event stream, an envelope without a method, a
  reply to a command that was never sent, a line longer than the limit).

:class:`CommandError` is not a protocol violation: the peer answered a command
with a well-formed error envelope. It carries the code and message verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "LimitExceeded",
    "StreamTruncated",
    "CommandError",
    "HTTPStatusError",
]


class ProtocolError(Exception):
    """Base class of the two protocol errors; ``message`` is for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LocalProtocolError(ProtocolError):
    """The caller asked for something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow.

    ``hint`` names the error code a server would answer with (for the producer
    role, ``invalid_argument`` for a malformed command); ``partial`` keeps any
    input the engine could not turn into an event (a truncated block), so
    nothing received is lost silently.
    """

    def __init__(
        self, message: str, *, hint: str = "invalid_argument", partial: str | None = None
    ) -> None:
        super().__init__(message)
        self.hint = hint
        self.partial = partial


class LimitExceeded(RemoteProtocolError):
    """A configured limit (line length, event size, ...) was exceeded by the peer.

    ``limit`` names the :class:`~threadwire.protocol.Limits` field and ``value``
    its configured value.
    """

    def __init__(self, message: str, *, limit: str, value: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value


class StreamTruncated(RemoteProtocolError):
    """The connection ended in the middle of a message (a chunk, a body, an event).

    Unlike other remote errors this is what a network failure looks like, so
    reconnect policies treat it as one. ``partial`` keeps what was cut off.
    """


class CommandError(Exception):
    """A command was answered with an error envelope.

    ``code`` is the wire's ``error`` string (``no_such_interrupt``,
    ``resume_gap``, ...), ``message`` its text, ``method`` the command's method,
    ``command_id`` its id, ``extra`` any further fields the server sent (for
    ``resume_gap``: ``since`` and ``min_available_seq``), and
    ``applied_through_seq`` the reply's watermark when it carried one.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        method: str | None = None,
        command_id: int | None = None,
        extra: Mapping[str, Any] | None = None,
        applied_through_seq: int | None = None,
    ) -> None:
        where = f"{method} (id {command_id})" if method else f"command id {command_id}"
        super().__init__(f"{where} failed with {code}: {message}")
        self.code = code
        self.message = message
        self.method = method
        self.command_id = command_id
        self.extra: Mapping[str, Any] = dict(extra or {})
        self.applied_through_seq = applied_through_seq


class HTTPStatusError(Exception):
    """The server answered a request with a status that is not success.

    ``status`` and ``body`` (at most ``Limits.max_error_body`` bytes) are as
    received; ``retryable`` follows the reconnect policy (5xx, 408 and 429 are
    worth another try, other 4xx are not). ``detail`` is the body's ``detail``
    or ``message`` text when it is JSON that has one.
    """

    def __init__(
        self,
        status: int,
        body: bytes,
        *,
        reason: str = "",
        headers: Mapping[str, str] | None = None,
        detail: str | None = None,
    ) -> None:
        text = detail if detail is not None else body[:200].decode("utf-8", "replace")
        super().__init__(f"HTTP {status}{' ' + reason if reason else ''}: {text}")
        self.status = status
        self.body = body
        self.reason = reason
        self.headers: Mapping[str, str] = dict(headers or {})
        self.detail = detail

    @property
    def retryable(self) -> bool:
        return self.status in (408, 429) or self.status >= 500
