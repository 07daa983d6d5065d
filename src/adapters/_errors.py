"""Errors the adapters add to the core's: what went wrong on the network.

The core's errors (:class:`~threadwire.protocol.LocalProtocolError`,
:class:`~threadwire.protocol.RemoteProtocolError`,
:class:`~threadwire.protocol.CommandError`,
:class:`~threadwire.protocol.HTTPStatusError`) pass through unchanged. The
adapters map the I/O library's exceptions (``OSError``, anyio's and ssl's) to
:class:`TransportError` subclasses at one place each, so a caller never has to
catch a backend-specific exception.
"""

from __future__ import annotations

__all__ = [
    "TransportError",
    "ConnectError",
    "ConnectTimeout",
    "NetworkError",
    "StreamIdle",
    "CommandTimeout",
    "RetriesExhausted",
    "ThreadClosed",
    "RunFailed",
    "RunInterrupted",
    "QueueOverflow",
]


class TransportError(Exception):
    """Base class: the connection to the server failed."""


class ConnectError(TransportError):
    """The TCP or TLS connection could not be established."""


class ConnectTimeout(ConnectError):
    """Connecting took longer than the connect timeout."""


class NetworkError(TransportError):
    """An established connection broke (reset, closed mid-message, TLS error)."""


class StreamIdle(TransportError):
    """The event stream sent nothing, not even a heartbeat, for the idle timeout."""


class CommandTimeout(TransportError):
    """A command's reply did not arrive within the command timeout."""


class RetriesExhausted(TransportError):
    """Reconnecting failed as often as the policy allows; ``__cause__`` is the last failure."""


class ThreadClosed(Exception):
    """The thread stream was closed; nothing more will arrive."""


class RunFailed(Exception):
    """The run ended with ``lifecycle failed``; ``error`` is the server's message."""

    def __init__(self, error: str | None, *, run_id: str | None = None) -> None:
        super().__init__(f"run {run_id or ''} failed: {error}".replace("run  ", "run "))
        self.error = error
        self.run_id = run_id


class RunInterrupted(Exception):
    """The run stopped at an interrupt; answer it with ``thread.run.respond``.

    ``interrupts`` lists the pending :class:`~threadwire.protocol.Interrupt`s.
    """

    def __init__(self, interrupts: list[object], *, run_id: str | None = None) -> None:
        ids = ", ".join(getattr(i, "interrupt_id", "?") for i in interrupts)
        super().__init__(
            f"run {run_id or ''} is waiting for input ({ids})".replace("run  ", "run ")
        )
        self.interrupts = interrupts
        self.run_id = run_id


class QueueOverflow(Exception):
    """A consumer fell behind by more than ``max_queue_size`` items and the policy is to raise."""
