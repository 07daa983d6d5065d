"""What every reducer shares: the outcome of a run, and small helpers.

A reducer is a plain class fed one :class:`~threadwire.protocol.Event` at a
time through ``apply(event)``, which returns what changed (or None). Two more
inputs settle what is still open:

* ``end_of_run(outcome)``: the root run ended (:class:`RunOutcome`); things
  still open take the run's outcome, so nothing waits forever;
* ``close(reason)``: the stream ended; things still open are closed as such.

Reducers never decode JSON (they read ``Event.data`` / ``Event.payload``), never
do I/O, and raise :class:`~threadwire.protocol.RemoteProtocolError` for data
that is malformed where the protocol requires a shape. Feed them deduplicated
events (see :meth:`threadwire.protocol.ClientSession.receive_event`): a reducer
applies what it is given.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from .._errors import LimitExceeded

__all__ = ["RunOutcome", "RUN_OUTCOMES", "segment_name", "check_limit"]

RUN_OUTCOMES: Final = frozenset({"completed", "failed", "interrupted"})


def _outcome(instance: Any, attribute: Any, value: str) -> None:
    if value not in RUN_OUTCOMES:
        raise ValueError(f"RunOutcome.status must be one of {sorted(RUN_OUTCOMES)}, got {value!r}")


@attrs.frozen(kw_only=True)
class RunOutcome:
    """How a root run ended: its terminal lifecycle status and error text."""

    status: str = attrs.field(validator=_outcome)
    """``completed``, ``failed`` or ``interrupted``."""
    error: str | None = None
    """The run's error message, for ``failed``."""
    run_id: str | None = None

    def reason(self, what: str) -> str:
        """A sentence saying that ``what`` was cut short by this outcome."""
        if self.status == "failed":
            return f"the run failed before {what}" + (f": {self.error}" if self.error else "")
        return f"the run was {self.status} before {what}"


def segment_name(segment: str) -> tuple[str, str | None]:
    """Split a namespace segment ``name:id`` into its name and id (None without ``:``)."""
    name, colon, rest = segment.partition(":")
    return name, (rest if colon else None)


def check_limit(count: int, limit: int, name: str, what: str) -> None:
    """Raise :class:`LimitExceeded` when ``count`` has reached ``limit``."""
    if count >= limit:
        raise LimitExceeded(f"more than {limit} {what} ({name})", limit=name, value=limit)
