"""Shared drivers for the producer tests (no anyio: everything here is synchronous).

* :class:`Clock` hands out increasing millisecond timestamps.
* :func:`sse_events` parses SSE bytes the way a client does (SSEParser, then
  decode_message), in given chunks; :func:`chunkings` names the usual ones.
* :func:`ws_messages` decodes WebSocket frames.
* :class:`RecordingHandler` is a CommandHandler that records its calls.
* :func:`drive_demo` runs the demo agent's steps through a RunProducer.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from typing import Any

from threadwire.adapters._demo_script import (
    DEMO_GRAPH,
    Fail,
    Pause,
    PushPart,
    Step,
    WaitForInput,
)
from threadwire.protocol import (
    AgentGetTree,
    Event,
    InputInject,
    InputRespond,
    InputRespondBatch,
    Message,
    RunStart,
    SSEComment,
    SSEParser,
    StateFork,
    StateGet,
    StateListCheckpoints,
    decode_message,
)
from threadwire.protocol.producer import BaseHandler, RunProducer


class Clock:
    """Milliseconds, one more on every call."""

    def __init__(self, start: int = 1_795_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1
        return self.now


def chunkings(data: bytes, seed: int = 0) -> Iterator[tuple[str, list[bytes]]]:
    """``data`` whole, byte by byte, and in seeded random splits."""
    yield "whole", [data]
    yield "bytewise", [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(seed)
    for n in range(3):
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, 1 + n * 7)))
        yield f"random{n}", [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def sse_items(chunks: Iterable[bytes]) -> list[Message | SSEComment]:
    """Parse SSE chunks; messages decoded, comments kept."""
    parser = SSEParser()
    out: list[Message | SSEComment] = []
    for chunk in chunks:
        parser.receive_data(chunk)
        for item in parser.events():
            out.append(item if isinstance(item, SSEComment) else decode_message(item.data))
    parser.receive_data(b"")
    assert parser.events() == []
    return out


def sse_events(chunks: Iterable[bytes]) -> list[Event]:
    items = sse_items(chunks)
    events = [item for item in items if isinstance(item, Event)]
    assert len(events) == len(items), items
    return events


def ws_messages(frames: Iterable[bytes]) -> list[Message]:
    return [decode_message(frame) for frame in frames]


class RecordingHandler(BaseHandler):
    """Records calls; ``results`` overrides what a method returns, ``raises`` what it raises."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.results: dict[str, Any] = {}
        self.raises: dict[str, BaseException] = {}

    def _do(self, name: str, command: Any, default: Any) -> Any:
        self.calls.append((name, command))
        if name in self.raises:
            raise self.raises[name]
        return self.results.get(name, default)

    def start_run(self, command: RunStart) -> str:
        return str(self._do("start_run", command, "run-1"))

    def respond(self, command: InputRespond | InputRespondBatch) -> None:
        self._do("respond", command, None)

    def get_tree(self, command: AgentGetTree) -> Mapping[str, Any]:
        return dict(self._do("get_tree", command, {"namespace": [], "status": "running"}))

    def get_state(self, command: StateGet) -> Any:
        return self._do("get_state", command, {"values": {"x": 1}})

    def list_checkpoints(self, command: StateListCheckpoints) -> Any:
        return self._do("list_checkpoints", command, {"checkpoints": []})

    def fork(self, command: StateFork) -> Any:
        return self._do("fork", command, {"run_id": "run-fork"})

    def inject(self, command: InputInject) -> Any:
        return self._do("inject", command, {})


RUN_IDS = tuple(f"run-{n}" for n in range(1, 20))


def drive_demo(
    producer: RunProducer,
    steps: Generator[Step, Mapping[str, Any] | None, None],
    *,
    clock: Callable[[], int],
    answer: Callable[[tuple[str, ...]], Mapping[str, Any]],
    run_ids: Sequence[str] = RUN_IDS,
) -> list[Step]:
    """Run the demo's steps: push parts, end and resume runs at WaitForInput, fail on Fail.

    ``answer`` gets the interrupt ids waited for and returns the answers sent
    back (it may go through a ServerSession and a handler). Returns every
    step taken.
    """
    runs = iter(run_ids)
    producer.start_run(next(runs), DEMO_GRAPH, timestamp=clock())
    taken: list[Step] = []
    reply: Mapping[str, Any] | None = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration:
            producer.finish("completed", timestamp=clock())
            return taken
        taken.append(step)
        reply = None
        if isinstance(step, PushPart):
            producer.push(step.part, timestamp=clock())
        elif isinstance(step, Pause):
            pass
        elif isinstance(step, WaitForInput):
            producer.finish("completed", timestamp=clock())  # -> interrupted
            reply = answer(step.interrupt_ids)
            producer.start_run(next(runs), DEMO_GRAPH, timestamp=clock())
        else:
            assert isinstance(step, Fail)
            producer.finish("failed", timestamp=clock(), error=step.error)
            steps.close()
            return taken
