"""Run lifecycle and interrupts of one thread, as the client sees them.

All transitions of a run live in :data:`RUN_TRANSITIONS`, one table in one
place (h11's rule). This file does not know which role we play: the producer
checks its own output with the same table, restricted to its strict part
(:data:`STRICT_RUN_TRANSITIONS`: no duplicates, no terminal without a start),
which is also what it uses for child namespaces (``started`` -> terminal).
Inputs are the root ``lifecycle`` statuses; a root status not in the table for
the current state is a :class:`RemoteProtocolError`.

Several runs follow each other on one thread: a ``running`` after a terminal
status starts the next run. Events after a terminal status are still accepted
(the real server sends a ``values`` after ``interrupted``), and a terminal
status repeated for the same run changes nothing.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Final

import attrs

from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import Event

__all__ = [
    "RunState",
    "RUN_TRANSITIONS",
    "STRICT_RUN_TRANSITIONS",
    "Run",
    "Interrupt",
    "RunTracker",
    "RUN_STATE_METHODS",
    "run_id_from_event_id",
]

RUN_STATE_METHODS: Final = frozenset({"lifecycle", "input.requested", "values"})
"""The methods whose events :meth:`RunTracker.observe` reads; no other event
changes a session's run state."""


class RunState(Enum):
    """The status of the thread's current run."""

    IDLE = "idle"
    """No run seen yet."""
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    COMPLETED = "completed"
    FAILED = "failed"


_TERMINALS: Final = (RunState.INTERRUPTED, RunState.COMPLETED, RunState.FAILED)

STRICT_RUN_TRANSITIONS: Final[dict[tuple[RunState, str], RunState]] = {
    # A run starts: from nothing, or after the previous run ended.
    (RunState.IDLE, "running"): RunState.RUNNING,
    (RunState.IDLE, "started"): RunState.RUNNING,
    **{(state, "running"): RunState.RUNNING for state in _TERMINALS},
    **{(state, "started"): RunState.RUNNING for state in _TERMINALS},
    # A run ends, exactly once.
    (RunState.RUNNING, "completed"): RunState.COMPLETED,
    (RunState.RUNNING, "failed"): RunState.FAILED,
    (RunState.RUNNING, "interrupted"): RunState.INTERRUPTED,
}
"""The transitions a well-formed stream makes; a producer emits nothing else."""

RUN_TRANSITIONS: Final[dict[tuple[RunState, str], RunState]] = {
    **STRICT_RUN_TRANSITIONS,
    # What a reader must tolerate besides:
    # A repeated running/started of the current run is no change.
    (RunState.RUNNING, "running"): RunState.RUNNING,
    (RunState.RUNNING, "started"): RunState.RUNNING,
    # A stream resumed with ``since`` may begin after the run's ``running``.
    (RunState.IDLE, "completed"): RunState.COMPLETED,
    (RunState.IDLE, "failed"): RunState.FAILED,
    (RunState.IDLE, "interrupted"): RunState.INTERRUPTED,
    # The same terminal again (a replayed duplicate) changes nothing.
    **{(state, state.value): state for state in _TERMINALS},
}
"""(state, root lifecycle status) -> next state. Anything else is a protocol error."""


def run_id_from_event_id(event_id: str | None) -> str | None:
    """The run id inside a server-synthesized event id (``synth:<run_id>:...``)."""
    if event_id is None or not event_id.startswith("synth:"):
        return None
    run_id = event_id[6:].partition(":")[0]
    return run_id or None


@attrs.define(kw_only=True)
class Run:
    """One root run of the thread, in the order seen."""

    run_id: str | None
    status: str = "running"
    """``running``, ``interrupted``, ``completed`` or ``failed``."""
    error: str | None = None
    graph_name: str | None = None
    started_seq: int | None = None
    ended_seq: int | None = None


@attrs.define(kw_only=True)
class Interrupt:
    """A request for input (``input.requested``) and whether it was answered."""

    interrupt_id: str
    namespace: tuple[str, ...]
    payload: Any
    """The interrupt value as the server sent it (the SDK loses it: it reads ``value``)."""
    run_id: str | None = None
    status: str = "pending"
    """``pending`` until answered or until the run moves on, then ``resumed``."""


class RunTracker:
    """Follows root lifecycle events and interrupts across the thread's runs."""

    def __init__(self, *, max_pending_interrupts: int = 4096) -> None:
        self.state = RunState.IDLE
        self.runs: list[Run] = []
        self.interrupts: list[Interrupt] = []
        """Every interrupt seen, in order (answered ones stay, marked ``resumed``)."""
        self._pending: dict[str, Interrupt] = {}
        self._max_pending = max_pending_interrupts
        self.last_values: Any = None
        """The latest root ``values`` snapshot."""

    @property
    def current(self) -> Run | None:
        return self.runs[-1] if self.runs else None

    @property
    def pending_interrupts(self) -> list[Interrupt]:
        return list(self._pending.values())

    @property
    def interrupted(self) -> bool:
        return bool(self._pending)

    def observe(self, event: Event) -> None:
        """Feed one delivered event; only root lifecycle, input and values matter."""
        method = event.method
        if method == "lifecycle":
            if not event.namespace:
                self._lifecycle(event)
        elif method == "input.requested":
            self._input(event)
        elif method == "values" and not event.namespace:
            self.last_values = event.data

    def _lifecycle(self, event: Event) -> None:
        data = event.data if type(event.data) is dict else {}
        status = data.get("event")
        if type(status) is not str:
            raise RemoteProtocolError("lifecycle event without a string data.event")
        run_id = run_id_from_event_id(event.event_id)
        current = self.current
        state = self.state
        if (
            status in ("completed", "failed", "interrupted")
            and current is not None
            and run_id is not None
            and current.run_id is not None
            and run_id != current.run_id
        ):
            # A terminal of a run whose ``running`` we never saw.
            state = RunState.IDLE
        nxt = RUN_TRANSITIONS.get((state, status))
        if nxt is None:
            if status not in ("running", "started", "completed", "failed", "interrupted"):
                return  # an unknown status is not ours to judge
            raise RemoteProtocolError(
                f"root lifecycle {status!r} is not allowed while the run is {state.value}"
                + (f" (run {current.run_id})" if current and current.run_id else "")
            )
        if nxt is state and nxt in _TERMINALS:
            return  # the same terminal again: a duplicate, not a second ending
        starts_run = nxt is RunState.RUNNING and (
            state is not RunState.RUNNING
            or (run_id is not None and current is not None and run_id != current.run_id)
        )
        if starts_run or (state is RunState.IDLE and nxt is not RunState.RUNNING):
            self._resume_pending()
            self.runs.append(Run(run_id=run_id, started_seq=event.seq))
        run = self.runs[-1]
        if run.run_id is None:
            run.run_id = run_id
        graph_name = data.get("graph_name")
        if type(graph_name) is str:
            run.graph_name = graph_name
        run.status = nxt.value
        if nxt in _TERMINALS:
            run.ended_seq = event.seq
            error = data.get("error")
            if nxt is RunState.FAILED and type(error) is str:
                run.error = error
            if nxt is not RunState.INTERRUPTED:
                self._resume_pending()
        self.state = nxt

    def _input(self, event: Event) -> None:
        data = event.data
        if type(data) is not dict or type(data.get("interrupt_id")) is not str:
            raise RemoteProtocolError("input.requested without a string data.interrupt_id")
        interrupt_id = data["interrupt_id"]
        if interrupt_id in self._pending:
            return
        if len(self._pending) >= self._max_pending:
            raise RemoteProtocolError(
                f"more than {self._max_pending} interrupts pending (max_pending_interrupts)"
            )
        payload = data.get("payload", data.get("value"))
        current = self.current
        run_id = run_id_from_event_id(event.event_id) or (current.run_id if current else None)
        interrupt = Interrupt(
            interrupt_id=interrupt_id,
            namespace=event.namespace,
            payload=payload,
            run_id=run_id,
        )
        self._pending[interrupt_id] = interrupt
        self.interrupts.append(interrupt)

    def _resume_pending(self) -> None:
        for interrupt in self._pending.values():
            interrupt.status = "resumed"
        self._pending.clear()

    def answered(self, interrupt_ids: list[str]) -> None:
        """Mark interrupts answered (after ``input.respond`` succeeded)."""
        for interrupt_id in interrupt_ids:
            interrupt = self._pending.pop(interrupt_id, None)
            if interrupt is not None:
                interrupt.status = "resumed"

    def choose(self, interrupt_id: str | None) -> Interrupt:
        """The interrupt a respond is for: the given id, or the only pending one."""
        if interrupt_id is not None:
            interrupt = self._pending.get(interrupt_id)
            if interrupt is None:
                known = ", ".join(self._pending) or "none"
                raise LocalProtocolError(
                    f"no pending interrupt {interrupt_id!r} (pending: {known})"
                )
            return interrupt
        if not self._pending:
            raise LocalProtocolError("there is no pending interrupt to respond to")
        if len(self._pending) > 1:
            raise LocalProtocolError(
                f"{len(self._pending)} interrupts are pending "
                f"({', '.join(self._pending)}); say which one with interrupt_id"
            )
        return next(iter(self._pending.values()))
