"""Runs, child namespaces and interrupts on the producer side.

:class:`RunProducer` wraps a thread's :class:`EventLog` and guarantees what a
client relies on (PROTOCOL.md sections 3.6 and 7), in some places more than
the real server does:

* each run opens with root ``lifecycle`` ``running`` and ends with exactly one
  root terminal, ``completed``, ``failed`` (with the error text) or
  ``interrupted``, as its last event. Nothing of the run comes after the
  terminal (unlike B6/E2, where a ``values`` or a second ``input.requested``
  trails it); a push after the terminal, or a second terminal, is a
  :class:`LocalProtocolError`. A run that ends ``completed`` while interrupts
  it raised are unanswered ends ``interrupted``, as on the server;
* a child namespace gets ``started`` (``namespace``, ``graph_name`` = the
  segment before ``:``, ``trigger_call_id`` = the part after it, optional
  ``cause``) **before** its first event (unlike B7), its ancestors first, and a
  terminal status at its end: when the graph says so (a child ``lifecycle``
  part, or :meth:`RunProducer.close_namespace`), else when the run ends,
  innermost first, with the run's outcome;
* every interrupt (``part.interrupts``, ``__interrupt__`` in ``values`` /
  ``updates`` data, or an ``input`` part) becomes one ``input.requested``
  ``{interrupt_id, payload}`` in its namespace, once per run, after the event
  that carried it. ``__interrupt__`` is stripped; an ``updates`` event that
  carried nothing else is not sent. Interrupt ids come from the caller; one
  without an id gets a deterministic one (a hash of run id, namespace and
  count).

State changes of the root run and of each child use the strict part of the one
run table, :data:`threadwire.protocol._runs.STRICT_RUN_TRANSITIONS`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from .._commands import InputRespond, InputRespondBatch
from .._errors import LocalProtocolError
from .._events import Event
from .._runs import STRICT_RUN_TRANSITIONS, RunState
from ._handler import CommandRejected
from ._log import EventLog
from ._parts import InterruptSpec, Part, coerce_part, interrupt_specs, wire_shape

__all__ = ["RunProducer", "PendingInterrupt", "OUTCOMES"]

OUTCOMES: Final = ("completed", "failed", "interrupted")
"""The terminal statuses of a run or a child namespace."""


@attrs.frozen(kw_only=True)
class PendingInterrupt:
    """An ``input.requested`` that was sent and not answered yet."""

    interrupt_id: str
    namespace: tuple[str, ...]
    payload: Any
    run_id: str


@attrs.define(eq=False)
class _Node:
    """One child namespace seen in the current run (for the tree)."""

    namespace: tuple[str, ...]
    graph_name: str
    state: RunState = RunState.IDLE
    children: list[_Node] = attrs.field(factory=list)

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "namespace": list(self.namespace),
            "status": self.state.value,
            "graph_name": self.graph_name,
        }
        if self.children:
            obj["children"] = [child.to_json() for child in self.children]
        return obj


def _namespace(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise LocalProtocolError(f"a namespace must be a sequence of strings, got {value!r}")
    result = tuple(value)
    if not result or not all(isinstance(s, str) and s for s in result):
        raise LocalProtocolError(
            f"a child namespace must be a non-empty sequence of non-empty strings, got {value!r}"
        )
    return result


class RunProducer:
    """See the module docstring. One per thread; runs follow each other."""

    def __init__(
        self,
        log: EventLog,
        *,
        max_pending_interrupts: int = 4096,
        max_namespaces: int = 100_000,
    ) -> None:
        self.log = log
        self.max_pending_interrupts = max_pending_interrupts
        self.max_namespaces = max_namespaces
        self.state = RunState.IDLE
        """The current (or last) run's state: ``IDLE`` before the first run."""
        self.run_id: str | None = None
        self.graph_name: str | None = None
        self.error: str | None = None
        """The last run's error text when it failed."""
        self._nodes: dict[tuple[str, ...], _Node] = {}
        self._top: list[_Node] = []
        self._open: dict[tuple[str, ...], None] = {}
        self._raised: set[str] = set()
        self._pending: dict[str, PendingInterrupt] = {}

    # -- views -------------------------------------------------------------

    @property
    def pending_interrupts(self) -> dict[str, PendingInterrupt]:
        """Interrupts sent and not answered, by id (a copy)."""
        return dict(self._pending)

    @property
    def open_namespaces(self) -> list[tuple[str, ...]]:
        """Child namespaces started and not ended, in the order they started."""
        return list(self._open)

    def tree(self) -> dict[str, Any]:
        """The ``agent.getTree`` tree of the current (or last) run.

        Raises :class:`CommandRejected` ``no_such_run`` before the first run.
        """
        if self.run_id is None:
            raise CommandRejected("no_such_run", "No run has started on this thread.")
        tree: dict[str, Any] = {
            "namespace": [],
            "status": self.state.value,
            "graph_name": self.graph_name,
        }
        if self._top:
            tree["children"] = [node.to_json() for node in self._top]
        return tree

    # -- runs ----------------------------------------------------------------

    def _step(self, state: RunState, status: str, what: str) -> RunState:
        nxt = STRICT_RUN_TRANSITIONS.get((state, status))
        if nxt is None:
            raise LocalProtocolError(
                f"lifecycle {status!r} is not allowed for {what} while it is {state.value}"
            )
        return nxt

    def _require_running(self, action: str) -> None:
        if self.state is not RunState.RUNNING:
            if self.run_id is None:
                raise LocalProtocolError(f"{action}: no run has started (call start_run first)")
            raise LocalProtocolError(
                f"{action}: run {self.run_id} already ended {self.state.value}; "
                "nothing of a run may follow its terminal event"
            )

    def _emit(
        self,
        method: str,
        namespace: tuple[str, ...],
        data: Any,
        timestamp: int,
        node: str | None = None,
    ) -> Event:
        return self.log.emit(
            method, namespace, data, timestamp=timestamp, node=node, run_id=self.run_id
        )

    def start_run(self, run_id: str, graph_name: str, *, timestamp: int) -> list[Event]:
        """Begin a run: root ``lifecycle`` ``running``. The previous run must have ended."""
        if not isinstance(graph_name, str) or not graph_name:
            raise LocalProtocolError(f"graph_name must be a non-empty string, got {graph_name!r}")
        state = self._step(self.state, "running", "the root run")
        previous = self.run_id
        self.run_id = run_id
        try:
            event = self._emit(
                "lifecycle", (), {"event": "running", "graph_name": graph_name}, timestamp
            )
        except LocalProtocolError:
            self.run_id = previous
            raise
        self.state = state
        self.graph_name = graph_name
        self.error = None
        self._nodes.clear()
        self._top.clear()
        self._open.clear()
        self._raised.clear()
        self._pending.clear()
        return [event]

    def finish(
        self, outcome: str = "completed", *, timestamp: int, error: str | None = None
    ) -> list[Event]:
        """End the run: open children innermost first, then exactly one root terminal.

        ``outcome`` is ``completed``, ``failed`` (``error`` required: the
        exception's text) or ``interrupted``; ``completed`` with unanswered
        interrupts of this run becomes ``interrupted``.
        """
        self._require_running("finish")
        _check_outcome(outcome, error, required=True)
        if outcome == "completed" and self._pending:
            outcome = "interrupted"
        events = self._close_all(list(self._open), outcome, error, timestamp)
        data: dict[str, Any] = {"event": outcome, "graph_name": self.graph_name}
        if error is not None:
            data["error"] = error
        self.state = self._step(self.state, outcome, "the root run")
        self.error = error
        if outcome != "interrupted":
            self._pending.clear()
        events.append(self._emit("lifecycle", (), data, timestamp))
        return events

    # -- parts -----------------------------------------------------------------

    def push(self, part: Part | Mapping[str, Any], *, timestamp: int) -> list[Event]:
        """Emit one part of the running run, with the lifecycle and input events it implies.

        Returns every event appended, in order: ``started`` for namespaces not
        yet open, the part's own event, then ``input.requested`` per new interrupt.
        A child ``lifecycle`` part opens or ends its namespace; the root's
        lifecycle belongs to :meth:`start_run` and :meth:`finish`.
        """
        self._require_running("push")
        part = coerce_part(part)
        specs, data = interrupt_specs(part)
        carried_key = data is not part.data
        if carried_key:
            part = part._replace(data=data)
        method, namespace, data, node = wire_shape(part)
        if method == "lifecycle":
            return self._lifecycle_part(namespace, data, timestamp)
        if method == "input.requested":
            payload = data.get("payload", data.get("value")) if isinstance(data, dict) else None
            interrupt_id = data.get("interrupt_id") if isinstance(data, dict) else None
            if not isinstance(interrupt_id, str) or not interrupt_id:
                raise LocalProtocolError("an input part needs data with a string interrupt_id")
            return self._interrupt(InterruptSpec(interrupt_id, payload, None), namespace, timestamp)
        events = self._ensure_open(namespace, timestamp)
        if not (method == "updates" and carried_key and not data):
            events.append(self._emit(method, namespace, data, timestamp, node))
        for spec in specs:
            events.extend(self._interrupt(spec, namespace, timestamp))
        return events

    def _lifecycle_part(self, namespace: tuple[str, ...], data: Any, timestamp: int) -> list[Event]:
        if not namespace:
            raise LocalProtocolError(
                "the root lifecycle belongs to start_run and finish; push only child lifecycle"
            )
        status = data.get("event") if isinstance(data, dict) else None
        if status == "started":
            node = self._nodes.get(namespace)
            if node is not None and node.state is RunState.RUNNING:
                return []  # already started (by its first event): nothing to repeat
            return self.open_namespace(
                namespace,
                timestamp=timestamp,
                graph_name=data.get("graph_name"),
                trigger_call_id=data.get("trigger_call_id"),
                cause=data.get("cause"),
            )
        if status in OUTCOMES:
            return self.close_namespace(
                namespace, str(status), timestamp=timestamp, error=data.get("error")
            )
        raise LocalProtocolError(
            f"a child lifecycle part must be started, completed, failed or interrupted, "
            f"got {status!r}"
        )

    # -- namespaces --------------------------------------------------------------

    def open_namespace(
        self,
        namespace: Sequence[str],
        *,
        timestamp: int,
        graph_name: str | None = None,
        trigger_call_id: str | None = None,
        cause: Mapping[str, Any] | None = None,
    ) -> list[Event]:
        """Start a child namespace explicitly (to give it a cause or a graph name).

        Its ancestors are started first if needed. Starting a namespace that is
        already open is a LocalProtocolError.
        """
        self._require_running("open_namespace")
        ns = _namespace(namespace)
        for name, value in (("graph_name", graph_name), ("trigger_call_id", trigger_call_id)):
            if value is not None and (not isinstance(value, str) or not value):
                raise LocalProtocolError(f"{name} must be a non-empty string, got {value!r}")
        if cause is not None and (
            not isinstance(cause, Mapping) or not isinstance(cause.get("type"), str)
        ):
            raise LocalProtocolError(f"cause must be an object with a string type, got {cause!r}")
        events = self._ensure_open(ns[:-1], timestamp)
        events.append(self._start(ns, timestamp, graph_name, trigger_call_id, cause))
        return events

    def close_namespace(
        self,
        namespace: Sequence[str],
        status: str = "completed",
        *,
        timestamp: int,
        error: str | None = None,
    ) -> list[Event]:
        """End an open child namespace (and its open descendants, innermost first)."""
        self._require_running("close_namespace")
        ns = _namespace(namespace)
        _check_outcome(status, error, required=False)
        node = self._nodes.get(ns)
        if node is None or node.state is not RunState.RUNNING:
            raise LocalProtocolError(f"namespace {list(ns)} is not open")
        depth = len(ns)
        inside = [p for p in self._open if len(p) > depth and p[:depth] == ns]
        return self._close_all([*inside, ns], status, error, timestamp)

    def _ensure_open(self, namespace: tuple[str, ...], timestamp: int) -> list[Event]:
        if not namespace:
            return []
        node = self._nodes.get(namespace)
        if node is not None and node.state is RunState.RUNNING:
            return []  # an open namespace's ancestors are open too
        events = []
        for depth in range(1, len(namespace) + 1):
            prefix = namespace[:depth]
            node = self._nodes.get(prefix)
            if node is None or node.state is not RunState.RUNNING:
                events.append(self._start(prefix, timestamp, None, None, None))
        return events

    def _start(
        self,
        ns: tuple[str, ...],
        timestamp: int,
        graph_name: str | None,
        trigger_call_id: str | None,
        cause: Mapping[str, Any] | None,
    ) -> Event:
        name, colon, task = ns[-1].partition(":")
        node = self._nodes.get(ns)
        if node is None:
            if len(self._nodes) >= self.max_namespaces:
                raise LocalProtocolError(
                    f"more than {self.max_namespaces} namespaces in one run (max_namespaces)"
                )
            node = _Node(ns, graph_name or name)
        state = self._step(node.state, "started", f"namespace {list(ns)}")
        if trigger_call_id is None and colon:
            trigger_call_id = task
        data: dict[str, Any] = {
            "event": "started",
            "namespace": list(ns),
            "graph_name": graph_name or node.graph_name,
        }
        if trigger_call_id:
            data["trigger_call_id"] = trigger_call_id
        if cause is not None:
            data["cause"] = dict(cause)
        event = self._emit("lifecycle", ns, data, timestamp)
        if ns not in self._nodes:
            self._nodes[ns] = node
            parent = self._nodes.get(ns[:-1])
            (parent.children if parent is not None else self._top).append(node)
        node.graph_name = data["graph_name"]
        node.state = state
        self._open[ns] = None
        return event

    def _close_all(
        self, namespaces: list[tuple[str, ...]], status: str, error: str | None, timestamp: int
    ) -> list[Event]:
        # Innermost first; among equals, the last started first.
        order = sorted(reversed(namespaces), key=len, reverse=True)
        events = []
        for ns in order:
            node = self._nodes[ns]
            data: dict[str, Any] = {"event": status, "graph_name": node.graph_name}
            if error is not None:
                data["error"] = error
            node.state = self._step(node.state, status, f"namespace {list(ns)}")
            del self._open[ns]
            events.append(self._emit("lifecycle", ns, data, timestamp))
        return events

    # -- interrupts ----------------------------------------------------------------

    def _interrupt(
        self, spec: InterruptSpec, part_namespace: tuple[str, ...], timestamp: int
    ) -> list[Event]:
        ns = spec.namespace if spec.namespace is not None else part_namespace
        interrupt_id = spec.interrupt_id or self._derive_id(ns)
        if interrupt_id in self._raised:
            return []  # once per run: later snapshots repeat their pending interrupts
        if len(self._raised) >= self.max_pending_interrupts:
            raise LocalProtocolError(
                f"more than {self.max_pending_interrupts} interrupts in one run "
                "(max_pending_interrupts)"
            )
        events = self._ensure_open(ns, timestamp)
        data = {"interrupt_id": interrupt_id, "payload": spec.payload}
        events.append(self._emit("input.requested", ns, data, timestamp))
        assert self.run_id is not None
        self._raised.add(interrupt_id)
        self._pending[interrupt_id] = PendingInterrupt(
            interrupt_id=interrupt_id, namespace=ns, payload=spec.payload, run_id=self.run_id
        )
        return events

    def _derive_id(self, namespace: tuple[str, ...]) -> str:
        key = "\x00".join([str(self.run_id), "|".join(namespace), str(len(self._raised))])
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def take_responses(self, command: InputRespond | InputRespondBatch) -> dict[str, Any]:
        """Validate an ``input.respond`` and consume its interrupts: ``{id: response}``.

        All or nothing (like the server's batch): an unknown or already answered
        id, or a namespace that differs from the interrupt's, raises
        :class:`CommandRejected` ``no_such_interrupt`` and consumes nothing.
        """
        if isinstance(command, InputRespond):
            entries = [(command.interrupt_id, command.namespace, command.response)]
        else:
            entries = [(r.interrupt_id, r.namespace, r.response) for r in command.responses]
        answers: dict[str, Any] = {}
        for interrupt_id, namespace, response in entries:
            pending = self._pending.get(interrupt_id)
            if pending is None:
                raise CommandRejected(
                    "no_such_interrupt", f"Unknown or already-consumed interrupt: {interrupt_id}"
                )
            if namespace != pending.namespace:
                raise CommandRejected(
                    "no_such_interrupt",
                    f"Interrupt {interrupt_id}: namespace {list(namespace)} does not match "
                    f"the interrupt's namespace {list(pending.namespace)}",
                )
            if interrupt_id in answers:
                raise CommandRejected(
                    "invalid_argument", f"Interrupt {interrupt_id} is answered twice"
                )
            answers[interrupt_id] = response
        for interrupt_id in answers:
            del self._pending[interrupt_id]
        return answers


def _check_outcome(status: str, error: str | None, *, required: bool) -> None:
    if status not in OUTCOMES:
        raise LocalProtocolError(
            f"a terminal status must be completed, failed or interrupted, got {status!r}"
        )
    if status == "failed":
        if error is None and not required:
            return
        if not isinstance(error, str) or not error:
            raise LocalProtocolError("a failed run needs the error text (error='...')")
    elif error is not None:
        raise LocalProtocolError(f"error is only for a failed outcome, not {status!r}")
