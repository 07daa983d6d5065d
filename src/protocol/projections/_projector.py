"""All projections of one event stream, settled together when a run ends.

:class:`Projector` feeds each event to the values, messages, tool-calls, tree
and extensions reducers, follows runs and interrupts with a
:class:`~threadwire.protocol.RunTracker`, and when a root run ends (its
terminal lifecycle event) calls every reducer's ``end_of_run`` with the
:class:`RunOutcome`, so open messages, running tool calls and open subgraphs
take the run's outcome. It holds state, not deltas: a client that streams
per-item updates calls the reducers it needs itself.
"""

from __future__ import annotations

from typing import Final

from .._events import Event
from .._payloads import Lifecycle
from .._runs import Interrupt, RunTracker, run_id_from_event_id
from ._common import RunOutcome
from ._extensions import ExtensionsReducer
from ._messages import MessagesReducer
from ._tools import ToolCallsReducer
from ._tree import TreeReducer
from ._values import ValuesReducer

__all__ = ["Projector"]

_RUN_METHODS: Final = frozenset({"lifecycle", "input.requested", "values"})


class Projector:
    """Every projection of one thread's event stream (see the module docstring).

    ``history`` is passed to the reducers that can keep finished items.
    ``runs``: a tracker that someone else feeds first (e.g.
    :attr:`ClientSession.runs <threadwire.protocol.ClientSession.runs>`, fed by
    ``receive_event`` before the event reaches here); by default the projector
    has and feeds its own.
    """

    def __init__(self, *, history: bool = False, runs: RunTracker | None = None) -> None:
        self._own_runs = runs is None
        self.runs = runs if runs is not None else RunTracker()
        self.values = ValuesReducer(history=history)
        self.messages = MessagesReducer(history=history)
        self.tool_calls = ToolCallsReducer(history=history, messages=self.messages)
        self.tree = TreeReducer()
        self.extensions = ExtensionsReducer(history=history)
        self.closed: str | None = None
        """Why the stream ended, once :meth:`close` was called."""

    @property
    def interrupts(self) -> list[Interrupt]:
        """Every interrupt seen, with its payload, namespace and status."""
        return self.runs.interrupts

    def apply(self, event: Event) -> RunOutcome | None:
        """Apply one event everywhere; return the run's outcome if it ended a run."""
        method = event[0]
        if self._own_runs and method in _RUN_METHODS:
            self.runs.observe(event)
        if method == "messages":
            self.messages.apply(event)
        elif method == "values":
            self.values.apply(event)
        elif method == "tools":
            self.tool_calls.apply(event)
        elif method == "custom":
            self.extensions.apply(event)
        self.tree.apply(event)
        if method == "lifecycle" and not event[2]:
            payload = event.payload
            if type(payload) is Lifecycle and payload.is_terminal:
                run = self.runs.current
                run_id = run_id_from_event_id(event.event_id) or (run.run_id if run else None)
                outcome = RunOutcome(status=payload.event, error=payload.error, run_id=run_id)
                return self.end_of_run(outcome)
        return None

    def end_of_run(self, outcome: RunOutcome) -> RunOutcome:
        """Settle every reducer: the root run ended with ``outcome``."""
        self.values.end_of_run(outcome)
        self.messages.end_of_run(outcome)
        self.tool_calls.end_of_run(outcome)
        self.tree.end_of_run(outcome)
        self.extensions.end_of_run(outcome)
        return outcome

    def close(self, reason: str = "the stream ended") -> None:
        """The stream ended: close what is still open (see each reducer's ``close``)."""
        self.closed = reason
        self.messages.close(f"{reason} before the message finished")
        self.tool_calls.close(f"{reason} before the tool call finished")
        self.tree.close(reason)
        self.values.close(reason)
        self.extensions.close(reason)
