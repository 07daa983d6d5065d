"""What the embedding server implements: the command handler interface.

:class:`ServerSession` parses and validates every command, answers the
subscription commands itself, and hands the rest to a :class:`CommandHandler`.
Handler methods are synchronous: they return the result (or raise
:class:`CommandRejected` with the error code to answer with) and schedule any
asynchronous work themselves; the run's events reach the connections through
the thread's :class:`EventLog`, not through the return value.

:class:`BaseHandler` answers every method with ``not_supported``; subclass it
and override what the server offers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from .._commands import (
    AgentGetTree,
    InputInject,
    InputRespond,
    InputRespondBatch,
    RunStart,
    StateFork,
    StateGet,
    StateListCheckpoints,
)
from .._errors import LocalProtocolError

__all__ = ["CommandRejected", "CommandHandler", "BaseHandler"]


class CommandRejected(Exception):
    """Answer the command with an error envelope.

    ``code`` is the wire's ``error`` (``invalid_argument``, ``no_such_run``,
    ``no_such_interrupt``, ``not_supported``, ...), ``message`` its text and
    ``extra`` further top-level fields (``resume_gap`` sends ``since`` and
    ``min_available_seq``).
    """

    def __init__(self, code: str, message: str, *, extra: Mapping[str, Any] | None = None) -> None:
        if not isinstance(code, str) or not code:
            raise LocalProtocolError(f"an error code must be a non-empty string, got {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.extra: dict[str, Any] = dict(extra or {})


class CommandHandler(Protocol):
    """The server side of the commands a session does not answer itself."""

    def start_run(self, command: RunStart) -> str:
        """Create (or, on an interrupted thread with ``input``, resume) a run; its id."""

    def respond(self, command: InputRespond | InputRespondBatch) -> None:
        """Answer interrupts (all or nothing; see :meth:`RunProducer.take_responses`)."""

    def get_tree(self, command: AgentGetTree) -> Mapping[str, Any]:
        """The agent tree (``{namespace, status, graph_name, children?}``; see
        :meth:`RunProducer.tree`). Sent as ``{"tree": ...}``."""

    def get_state(self, command: StateGet) -> Any:
        """``state.get``: the result object to send."""

    def list_checkpoints(self, command: StateListCheckpoints) -> Any:
        """``state.listCheckpoints``: the result object to send."""

    def fork(self, command: StateFork) -> Any:
        """``state.fork``: the result object to send."""

    def inject(self, command: InputInject) -> Any:
        """``input.inject``: the result object to send."""


def _unsupported(method: str) -> CommandRejected:
    return CommandRejected("not_supported", f"{method} is not supported by this server")


class BaseHandler:
    """A :class:`CommandHandler` that supports nothing; override what you serve."""

    def start_run(self, command: RunStart) -> str:
        raise _unsupported(command.method)

    def respond(self, command: InputRespond | InputRespondBatch) -> None:
        raise _unsupported(command.method)

    def get_tree(self, command: AgentGetTree) -> Mapping[str, Any]:
        raise _unsupported(command.method)

    def get_state(self, command: StateGet) -> Any:
        raise _unsupported(command.method)

    def list_checkpoints(self, command: StateListCheckpoints) -> Any:
        raise _unsupported(command.method)

    def fork(self, command: StateFork) -> Any:
        raise _unsupported(command.method)

    def inject(self, command: InputInject) -> Any:
        raise _unsupported(command.method)
