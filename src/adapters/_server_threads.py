"""The reference server's threads: event logs, runs of the demo agent, commands.

Each thread has an :class:`~threadwire.protocol.producer.EventLog` and a
:class:`~threadwire.protocol.producer.RunProducer`; its runs execute the
scripted demo agent (:mod:`._demo_script`) in the server's task group. A run
that reaches an interrupt ends ``interrupted`` and keeps its script waiting;
``input.respond`` (or a ``run.start`` with input while interrupted, as the real
server does) resumes it as a new run. One run executes at a time per thread;
the others wait in line, in the order they were started; and at most
``max_running_runs`` runs execute at once over all threads (see
:data:`MAX_RUNNING_RUNS`). ``multitaskStrategy``
decides what a ``run.start`` does while runs are active or waiting:
``enqueue`` (default) queues it, ``reject`` refuses, ``interrupt`` and
``rollback`` cancel the running run (it ends ``failed``, "run cancelled") and
drop the waiting ones, as the server cancels every inflight run, then run it.
A run whose agent raises ends ``failed`` with the exception's text; the server
goes on.

Time comes from the adapter (``anyio.current_time`` is monotonic; timestamps
are wall-clock milliseconds from ``time.time``), and ids from ``uuid4``: the
core takes both as arguments.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Generator, Mapping
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from threadwire.protocol import (
    UNSET,
    AgentGetTree,
    InputRespond,
    InputRespondBatch,
    InterruptResponse,
    RunStart,
    StateGet,
)
from threadwire.protocol.producer import (
    BaseHandler,
    CommandRejected,
    EventLog,
    RunProducer,
)

from ._demo_script import DEMO_GRAPH, Fail, Pause, PushPart, WaitForInput, demo_steps

__all__ = [
    "ThreadRecord",
    "ThreadRegistry",
    "ThreadHandler",
    "now_ms",
    "ASSISTANTS",
    "MAX_RUNNING_RUNS",
]

ASSISTANTS = {"demo": DEMO_GRAPH, "agent": DEMO_GRAPH}
"""Assistant ids the server accepts (both run the demo agent)."""

_YIELD_EVERY = 256
"""Parts a run pushes between checkpoints when it streams without pauses.

Each checkpoint lets the streams that got events write them: fewer, larger
writes with 256 than with 64 (measured under bench/many_threads.py, with ten
runs executing at once: server CPU 2.3-2.5 s against 2.8-2.9 s, alternating
the two in one sitting; 1024 did no better than 256). Ten runs of 256 parts
keep the server away from its sockets for about 20 ms at most.
"""

MAX_RUNNING_RUNS = 10
"""Runs that execute at once (the real server's ``N_JOBS_PER_WORKER``, also 10).

The others wait, pending, for a slot, in the order they were started. Besides
matching the server, it keeps the server answering while many runs stream
without pauses: with a thousand runs executing at once, every command reply
and stream response head waited behind a slice of each of them (measured
under bench/many_threads.py: response heads 1.3-1.5 s after the request).
"""


def now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}+00:00"


class ThreadRecord:
    """One thread: its log, its producer, and the run that is going on."""

    def __init__(self, thread_id: str, *, buffer_size: int, metadata: Mapping[str, Any]) -> None:
        self.thread_id = thread_id
        self.log = EventLog(thread_id, buffer_size=buffer_size)
        self.producer = RunProducer(self.log)
        self.metadata = dict(metadata)
        self.created_ms = now_ms()
        self.updated_ms = self.created_ms
        self.values: Any = None
        self.script: Generator[Any, Any, None] | None = None
        """The demo script waiting at an interrupt, resumed by the next respond."""
        self.running: anyio.CancelScope | None = None
        """The cancel scope of the run executing (set before its task starts)."""
        self.waiting: deque[tuple[str, Any, Any]] = deque()
        """Runs started while another one executes: ``(run_id, script, answers)``."""
        self.idle = anyio.Event()
        """Set while no run executes or waits."""
        self.idle.set()
        self.run_ids: list[str] = []
        """The ids of the runs that began executing, in order."""

    @property
    def busy(self) -> bool:
        """A run executes or waits."""
        return self.running is not None or bool(self.waiting)

    @property
    def status(self) -> str:
        if self.busy:
            return "busy"
        if self.producer.pending_interrupts:
            return "interrupted"
        return "idle"

    def to_json(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "created_at": _iso(self.created_ms),
            "updated_at": _iso(self.updated_ms),
            "metadata": self.metadata,
            "status": self.status,
            "config": {},
            "values": self.values,
        }

    def state_json(self) -> dict[str, Any]:
        interrupts = [
            {"id": i.interrupt_id, "value": i.payload}
            for i in self.producer.pending_interrupts.values()
        ]
        return {
            "values": self.values if self.values is not None else {},
            "next": ["human_review"] if interrupts else [],
            "tasks": [{"id": "review", "name": "human_review", "interrupts": interrupts}]
            if interrupts
            else [],
            "metadata": {},
            "created_at": _iso(self.updated_ms),
            "checkpoint": {"thread_id": self.thread_id, "checkpoint_ns": ""},
            "parent_checkpoint": None,
            "interrupts": interrupts,
        }


class ThreadRegistry:
    """Every thread the server knows, bounded by ``max_threads``."""

    def __init__(
        self,
        task_group: TaskGroup,
        *,
        pace: float = 1.0,
        buffer_size: int = 10_000,
        max_threads: int = 100_000,
        max_running_runs: int = MAX_RUNNING_RUNS,
    ) -> None:
        if max_running_runs < 1:
            raise ValueError("max_running_runs must be at least 1")
        self.tg = task_group
        self.run_slots = anyio.CapacityLimiter(max_running_runs)
        """Runs executing at once, over every thread; the others wait for a slot."""
        self.pace = pace
        """Multiplies every pause of the demo script: 0 runs as fast as possible."""
        self.buffer_size = buffer_size
        self.max_threads = max_threads
        self.threads: dict[str, ThreadRecord] = {}

    def get(self, thread_id: str) -> ThreadRecord | None:
        return self.threads.get(thread_id)

    def get_or_create(
        self, thread_id: str, metadata: Mapping[str, Any] | None = None
    ) -> ThreadRecord:
        record = self.threads.get(thread_id)
        if record is None:
            if len(self.threads) >= self.max_threads:
                raise CommandRejected("unknown_error", f"too many threads (max {self.max_threads})")
            record = self.threads[thread_id] = ThreadRecord(
                thread_id, buffer_size=self.buffer_size, metadata=metadata or {}
            )
        return record

    # -- runs -------------------------------------------------------------------------

    async def _execute(
        self, record: ThreadRecord, run_id: str, script: Any, answers: Any, scope: anyio.CancelScope
    ) -> None:
        """Run one run of ``script`` (resumed with ``answers`` when given) to its end,
        then the next waiting run."""
        producer = record.producer
        started = False
        try:
            with scope:
                # The slot is held until the end of this call (then the next waiting
                # run of the thread, if any, waits for a slot of its own).
                await self.run_slots.acquire_on_behalf_of(run_id)
                producer.start_run(run_id, DEMO_GRAPH, timestamp=now_ms())
                started = True
                pushed = 0
                send: Any = answers
                while True:
                    try:
                        step = script.send(send) if send is not None else next(script)
                    except StopIteration:
                        producer.finish("completed", timestamp=now_ms())
                        record.script = None
                        break
                    send = None
                    if isinstance(step, PushPart):
                        producer.push(step.part, timestamp=now_ms())
                        if step.part.method == "values" and not step.part.namespace:
                            record.values = step.part.data
                        pushed += 1
                        if pushed % _YIELD_EVERY == 0:
                            await anyio.lowlevel.checkpoint()
                    elif isinstance(step, Pause):
                        await anyio.sleep(step.seconds * self.pace)
                    elif isinstance(step, Fail):
                        producer.finish("failed", timestamp=now_ms(), error=step.error)
                        record.script = None
                        break
                    elif isinstance(step, WaitForInput):
                        producer.finish("completed", timestamp=now_ms())  # -> interrupted
                        record.script = script
                        break
        except Exception as exc:  # the agent failed: the run fails, the server goes on
            if producer.state.name == "RUNNING":
                producer.finish("failed", timestamp=now_ms(), error=f"{type(exc).__name__}: {exc}")
            record.script = None
        finally:
            if started:
                self.run_slots.release_on_behalf_of(run_id)
            elif scope.cancel_called:
                # Cancelled (by a newer run) while it waited for a slot: it still
                # starts and fails, so whoever waits for it learns how it ended.
                producer.start_run(run_id, DEMO_GRAPH, timestamp=now_ms())
            if producer.state.name == "RUNNING":  # cancelled
                producer.finish("failed", timestamp=now_ms(), error="run cancelled")
                record.script = None
            record.running = None
            record.updated_ms = now_ms()
            if record.waiting:
                self._launch(record, *record.waiting.popleft())
            else:
                record.idle.set()

    def _launch(self, record: ThreadRecord, run_id: str, script: Any, answers: Any) -> None:
        """Start executing a run now; the thread is marked busy before its task starts."""
        if answers is None and script is not record.script:
            record.script = None  # a new run replaces the one waiting at an interrupt
        scope = anyio.CancelScope()
        record.running = scope
        record.idle = anyio.Event()
        record.run_ids.append(run_id)
        self.tg.start_soon(self._execute, record, run_id, script, answers, scope)

    def start(self, record: ThreadRecord, script: Any, answers: Any = None) -> str:
        """Start a run of ``script`` now, or after the runs before it; its id."""
        run_id = str(uuid.uuid4())
        if record.busy:
            record.waiting.append((run_id, script, answers))
        else:
            self._launch(record, run_id, script, answers)
        return run_id

    def cancel_all(self, record: ThreadRecord) -> None:
        """Drop the waiting runs and cancel the running one (it ends ``failed``)."""
        record.waiting.clear()
        if record.running is not None:
            record.running.cancel()


class ThreadHandler(BaseHandler):
    """The commands the demo server implements, for one thread."""

    def __init__(self, registry: ThreadRegistry, record: ThreadRecord) -> None:
        self.registry = registry
        self.record = record

    def start_run(self, command: RunStart) -> str:
        if command.assistant_id not in ASSISTANTS:
            raise CommandRejected(
                "unknown_error", f"422: Invalid assistant: '{command.assistant_id}'"
            )
        record = self.record
        given = None if command.input is UNSET else command.input
        if (
            given is not None
            and not record.busy
            and record.script is not None
            and (record.producer.pending_interrupts)
        ):
            # Input while interrupted is the resume value (as the real server does).
            pending = record.producer.pending_interrupts.values()
            answers = record.producer.take_responses(
                InputRespondBatch(
                    responses=[
                        InterruptResponse(
                            interrupt_id=p.interrupt_id, namespace=p.namespace, response=given
                        )
                        for p in pending
                    ]
                )
            )
            return self.registry.start(record, record.script, answers)
        try:
            script = demo_steps(given, interrupt_id=uuid.uuid4().hex)
        except ValueError as exc:
            raise CommandRejected("invalid_argument", f"run.start: {exc}") from None
        if record.busy:
            strategy = command.multitask_strategy or "enqueue"
            if strategy == "reject":
                raise CommandRejected(
                    "invalid_argument", "Thread is busy with another run (multitaskStrategy reject)"
                )
            if strategy in ("interrupt", "rollback"):
                self.registry.cancel_all(record)
        return self.registry.start(record, script)

    def respond(self, command: InputRespond | InputRespondBatch) -> None:
        record = self.record
        answers = record.producer.take_responses(command)
        if record.script is None:
            raise CommandRejected("no_such_run", "No run is waiting for input on this thread.")
        self.registry.start(record, record.script, answers)

    def get_tree(self, command: AgentGetTree) -> Mapping[str, Any]:
        return self.record.producer.tree()

    def get_state(self, command: StateGet) -> Any:
        values = self.record.values or {}
        if command.keys is not None and isinstance(values, dict):
            values = {k: v for k, v in values.items() if k in command.keys}
        return {"values": values}
