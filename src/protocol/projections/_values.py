"""The values projection: state snapshots, and the run's output from the stream.

:class:`ValuesReducer` keeps the latest ``values`` snapshot of every namespace
and, with ``history``, every root snapshot in order. The output of a run is
the root's latest snapshot when the run's terminal lifecycle event arrives
(:meth:`ValuesReducer.end_of_run`): no extra request is needed (the official
SDK fetches ``GET /threads/{id}/state`` instead, and yields an empty ``{}``
before the first snapshot; this projection does neither).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .._events import Event
from ._common import RunOutcome, check_limit

__all__ = ["ValuesUpdate", "RunOutput", "ValuesReducer"]


class ValuesUpdate(NamedTuple):
    """A new snapshot of ``namespace``."""

    namespace: tuple[str, ...]
    values: Any


class RunOutput(NamedTuple):
    """A run's outcome with the root snapshot it ended on (None if there was none)."""

    outcome: RunOutcome
    values: Any


class ValuesReducer:
    """Follows ``values`` events (see the module docstring).

    ``history`` keeps :attr:`history` (root snapshots) and :attr:`outputs` (one
    per run); without it only the latest of each is held. ``max_namespaces``
    bounds :attr:`latest`.
    """

    def __init__(self, *, history: bool = False, max_namespaces: int = 100_000) -> None:
        self.history_enabled = history
        self.latest: dict[tuple[str, ...], Any] = {}
        """The latest snapshot of each namespace that sent one."""
        self.history: list[Any] = []
        """Every root snapshot, in order (only with ``history``)."""
        self.output: RunOutput | None = None
        """The latest run's output, once a run has ended."""
        self.outputs: list[RunOutput] = []
        """Every run's output, in order (only with ``history``)."""
        self._max = max_namespaces

    @property
    def values(self) -> Any:
        """The latest root snapshot, or None before the first."""
        return self.latest.get(())

    def apply(self, event: Event) -> ValuesUpdate | None:
        """Apply one event; return the new snapshot, or None for other channels."""
        if event[0] != "values":
            return None
        namespace = event[2]
        if namespace not in self.latest:
            check_limit(len(self.latest), self._max, "max_namespaces", "namespaces with values")
        self.latest[namespace] = event[3]
        if not namespace and self.history_enabled:
            self.history.append(event[3])
        return ValuesUpdate(namespace, event[3])

    def end_of_run(self, outcome: RunOutcome) -> RunOutput:
        """Record the run's output: the root's latest snapshot now."""
        output = RunOutput(outcome, self.latest.get(()))
        self.output = output
        if self.history_enabled:
            self.outputs.append(output)
        return output

    def close(self, reason: str = "the stream ended") -> None:
        """Nothing to settle: snapshots are complete when they arrive."""
