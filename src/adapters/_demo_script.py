"""A scripted, hermetic demo agent, as pure data (no model, no clock, no I/O).

:func:`demo_steps` yields the steps of one thread's work. A runner pushes each
:class:`PushPart` through a :class:`~threadwire.protocol.producer.RunProducer`,
sleeps on each :class:`Pause`, ends the run on :class:`Fail`, and on
:class:`WaitForInput` ends the run (``finish("completed")``, which the unanswered
interrupts turn into ``interrupted``), waits for ``input.respond``, starts the
resumed run and sends the answers back into the generator as
``{interrupt_id: response}`` (``generator.send(answers)``); every other step is
resumed with ``next()``. The run ends ``completed`` when the generator stops.

The input (``run.start`` params ``input``) selects what the agent does; ``{}``
or ``None`` runs every section but the failure, the batch interrupt and the
long run. Keys (unknown keys are an error; ``messages`` is accepted and
ignored, so SDK-style inputs work):

``tools`` (bool, default true)
    The first AI message calls ``get_weather`` (streamed ``tool_call_chunk`` +
    ``tool-call-delta``, finished as a parsed ``tool_call``); the tool then
    runs on the ``tools`` channel: ``tool-started``, two ``tool-output-delta``,
    ``tool-finished`` with the serialized tool message.
``subagents`` (bool, default true)
    The first AI message also calls ``researcher``; the subagent runs in
    ``["researcher:<id>"]`` (lifecycle ``started`` with
    ``cause: {"type": "toolCall", "tool_call_id": "call_research_1"}``), with
    its own message, and calls a nested ``["researcher:<id>", "searcher:<id>"]``
    with its own message; each ends ``completed``.
``custom`` (bool, default true)
    Two named ``custom:progress`` events (:data:`DEMO_PROGRESS`) around a plain
    custom event (:data:`DEMO_CUSTOM_STATUS`).
``interrupt`` (bool, default true)
    One interrupt (:data:`DEMO_INTERRUPT_PAYLOAD`) raised on a ``values``
    snapshot, then :class:`WaitForInput`.
``batch_interrupt`` (bool, default false)
    Instead of the single interrupt: two parallel interrupts
    (:data:`DEMO_BATCH_PAYLOADS`, ``__interrupt__`` in a snapshot) answered by
    a batch ``input.respond``; an interrupt left unanswered is raised again,
    with the same id, in the resumed run.
``tokens`` (int >= 0, default 0)
    A long message of that many text tokens (:func:`demo_long_text`) before the
    final answer: for benchmarks and reconnect tests.
``fail`` (bool, default false)
    The final answer streams :data:`DEMO_PARTIAL` and the run fails with
    :data:`DEMO_ERROR` (the message is left open, as on the real server).
``delay`` (number >= 0, default 0)
    A :class:`Pause` of that many seconds after every streamed delta.

Every run also has ``values`` snapshots (state ``{"messages": [...], ...}``)
and ``updates`` (``{node: delta}``), and message events of exactly the shapes
of PROTOCOL.md Appendix A: ``message-start``, ``content-block-start`` /
``-delta`` / ``-finish`` (all finishes together just before
``message-finish``), ``message-finish`` with ``usage``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Mapping
from typing import Any, Final, TypeAlias

import attrs

from threadwire.protocol.producer import Part

__all__ = [
    "PushPart",
    "Pause",
    "WaitForInput",
    "Fail",
    "Step",
    "DemoOptions",
    "DemoIds",
    "demo_options",
    "demo_ids",
    "demo_steps",
    "demo_long_text",
    "DEMO_GRAPH",
    "DEMO_QUESTION",
    "DEMO_REASONING",
    "DEMO_TEXT",
    "DEMO_TOOL_NAME",
    "DEMO_TOOL_CALL_ID",
    "DEMO_TOOL_ARGS",
    "DEMO_TOOL_OUTPUT_DELTAS",
    "DEMO_TOOL_RESULT",
    "DEMO_SUBAGENT_CALL_ID",
    "DEMO_RESEARCHER_TEXT",
    "DEMO_SEARCHER_TEXT",
    "DEMO_PROGRESS",
    "DEMO_CUSTOM_STATUS",
    "DEMO_INTERRUPT_PAYLOAD",
    "DEMO_BATCH_PAYLOADS",
    "DEMO_ANSWER",
    "DEMO_PARTIAL",
    "DEMO_ERROR",
    "DEMO_USAGE",
]

DEMO_GRAPH: Final = "demo"
DEMO_QUESTION: Final = "What is the weather in Paris?"
DEMO_REASONING: Final = "The user asks about the weather, so I should call the tool."
DEMO_TEXT: Final = "Let me check the weather for you."
DEMO_TOOL_NAME: Final = "get_weather"
DEMO_TOOL_CALL_ID: Final = "call_weather_1"
DEMO_TOOL_ARGS: Final = {"city": "Paris"}
DEMO_TOOL_ARGS_CHUNKS: Final = ('{"city":', ' "Paris"}')
DEMO_TOOL_OUTPUT_DELTAS: Final = ("looking up ", "Paris")
DEMO_TOOL_RESULT: Final = "It is sunny in Paris, 21C"
DEMO_SUBAGENT_NAME: Final = "researcher"
DEMO_SUBAGENT_CALL_ID: Final = "call_research_1"
DEMO_SUBAGENT_ARGS: Final = {"topic": "Paris weather"}
DEMO_SUBAGENT_ARGS_CHUNKS: Final = ('{"topic":', ' "Paris weather"}')
DEMO_RESEARCHER_TEXT: Final = "Paris is usually mild in spring."
DEMO_SEARCHER_TEXT: Final = "Found three forecasts for Paris."
DEMO_PROGRESS: Final = ({"step": 1, "of": 2}, {"step": 2, "of": 2})
DEMO_CUSTOM_STATUS: Final = {"status": "tools done"}
DEMO_INTERRUPT_PAYLOAD: Final = {"question": "Send the answer?"}
DEMO_BATCH_PAYLOADS: Final = (
    {"question": "Approve A?", "branch": "a"},
    {"question": "Approve B?", "branch": "b"},
)
DEMO_ANSWER: Final = "The weather in Paris is sunny and 21 degrees."
DEMO_PARTIAL: Final = "Partial answer"
DEMO_ERROR: Final = "boom: the demo agent failed on purpose"
DEMO_USAGE: Final = {"input_tokens": 12, "output_tokens": 9, "total_tokens": 21}


# -- steps -------------------------------------------------------------------------


@attrs.frozen
class PushPart:
    """Push this part through the run's producer."""

    part: Part


@attrs.frozen
class Pause:
    """Sleep this long before the next step (real-time pacing)."""

    seconds: float


@attrs.frozen
class WaitForInput:
    """End the run (interrupted), wait for answers to these ids, resume, send them back."""

    interrupt_ids: tuple[str, ...]


@attrs.frozen
class Fail:
    """End the run ``failed`` with this error text; the generator is done."""

    error: str


Step: TypeAlias = PushPart | Pause | WaitForInput | Fail
Answers: TypeAlias = Mapping[str, Any]


# -- options -----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DemoOptions:
    """What the demo does (see the module docstring)."""

    tools: bool = True
    subagents: bool = True
    custom: bool = True
    interrupt: bool = True
    batch_interrupt: bool = False
    tokens: int = 0
    fail: bool = False
    delay: float = 0.0


_BOOLS: Final = ("tools", "subagents", "custom", "interrupt", "batch_interrupt", "fail")


def demo_options(input: Any) -> DemoOptions:
    """Read the options from a run's input; ValueError says what is wrong."""
    if input is None:
        return DemoOptions()
    if not isinstance(input, Mapping):
        raise ValueError(f"the demo agent's input must be an object, got {input!r}")
    unknown = sorted(set(input) - {*_BOOLS, "tokens", "delay", "messages"})
    if unknown:
        raise ValueError(f"unknown demo input keys: {', '.join(map(str, unknown))}")
    values: dict[str, Any] = {}
    for key in _BOOLS:
        if key in input:
            if type(input[key]) is not bool:
                raise ValueError(f"demo input {key!r} must be a boolean, got {input[key]!r}")
            values[key] = input[key]
    if "tokens" in input:
        tokens = input["tokens"]
        if type(tokens) is not int or tokens < 0:
            raise ValueError(f"demo input 'tokens' must be an int >= 0, got {tokens!r}")
        values["tokens"] = tokens
    if "delay" in input:
        delay = input["delay"]
        if type(delay) not in (int, float) or not 0 <= delay < float("inf"):
            raise ValueError(f"demo input 'delay' must be a number >= 0, got {delay!r}")
        values["delay"] = float(delay)
    return DemoOptions(**values)


@attrs.frozen(kw_only=True)
class DemoIds:
    """The ids one demo invocation uses, derived from its seed (deterministic)."""

    seed: str
    batch_interrupt_id: str
    researcher_ns: tuple[str, ...]
    searcher_ns: tuple[str, ...]

    def message_id(self, n: int) -> str:
        return f"lc_run--{_uuid(self.seed, f'message-{n}')}"


def _uuid(seed: str, label: str) -> str:
    h = hashlib.sha256(f"{seed}\x00{label}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def demo_ids(interrupt_id: str, *, batch_interrupt_id: str | None = None) -> DemoIds:
    """The ids :func:`demo_steps` uses for this ``interrupt_id``."""
    second = batch_interrupt_id or hashlib.sha256(f"{interrupt_id}\x00b".encode()).hexdigest()[:32]
    researcher = ("researcher:" + _uuid(interrupt_id, "researcher"),)
    return DemoIds(
        seed=interrupt_id,
        batch_interrupt_id=second,
        researcher_ns=researcher,
        searcher_ns=(*researcher, "searcher:" + _uuid(interrupt_id, "searcher")),
    )


def demo_long_text(tokens: int) -> str:
    """The text of the long message: ``tokens`` tokens ``"t0 t1 t2 ..."``."""
    return "".join(f"t{i} " if i < tokens - 1 else f"t{i}" for i in range(tokens))


def _words(text: str) -> list[str]:
    """``"a b c"`` -> ``["a", " b", " c"]``: the deltas a model would stream."""
    first, *rest = text.split(" ")
    return [first, *(" " + word for word in rest)]


# -- the script ------------------------------------------------------------------


class _Script:
    def __init__(self, options: DemoOptions, ids: DemoIds, interrupt_id: str) -> None:
        self.o = options
        self.ids = ids
        self.interrupt_id = interrupt_id
        self.messages = 0
        self.state: list[dict[str, Any]] = [{"type": "human", "content": DEMO_QUESTION}]
        self.extra: dict[str, Any] = {}  # other state keys, kept in every later snapshot

    def part(self, method: str, data: Any, ns: tuple[str, ...] = (), **kw: Any) -> PushPart:
        return PushPart(Part(method, ns, data, **kw))

    def paced(self, step: PushPart) -> list[Step]:
        if self.o.delay > 0:
            return [step, Pause(self.o.delay)]
        return [step]

    def values(self, **extra: Any) -> PushPart:
        self.extra.update(extra)
        return self.part("values", {"messages": list(self.state), **self.extra})

    def message(
        self,
        ns: tuple[str, ...],
        *,
        text: str,
        reasoning: str | None = None,
        tool_calls: tuple[tuple[str, str, Mapping[str, Any], tuple[str, ...]], ...] = (),
        finish: bool = True,
    ) -> list[Step]:
        """One AI message: reasoning, text and tool-call blocks, streamed."""
        self.messages += 1
        msg_id = self.ids.message_id(self.messages)
        m = "messages"
        steps: list[Step] = [
            self.part(m, {"event": "message-start", "role": "ai", "id": msg_id}, ns)
        ]
        finishes: list[dict[str, Any]] = []
        index = 0
        if reasoning is not None:
            block = {"type": "reasoning", "reasoning": ""}
            steps.append(self.part(m, _start(index, block), ns))
            for word in _words(reasoning):
                delta = {"type": "reasoning-delta", "reasoning": word}
                steps.extend(self.paced(self.part(m, _delta(index, delta), ns)))
            finishes.append(
                _finish(index, {"type": "reasoning", "reasoning": reasoning, "index": index})
            )
            index += 1
        steps.append(self.part(m, _start(index, {"type": "text", "text": ""}), ns))
        for word in _words(text) if text else []:
            delta = {"type": "text-delta", "text": word}
            steps.extend(self.paced(self.part(m, _delta(index, delta), ns)))
        if not finish:
            return steps  # a model that fails mid-stream leaves its message open
        finishes.append(_finish(index, {"type": "text", "text": text, "index": index}))
        index += 1
        content: list[dict[str, Any]] = [f["content"] for f in finishes]
        for call_id, name, args, chunks in tool_calls:
            chunk = {"type": "tool_call_chunk", "id": call_id, "name": name, "args": ""}
            steps.append(self.part(m, _start(index, {**chunk, "index": index}), ns))
            for piece in chunks:
                delta = {"type": "tool-call-delta", "args": piece}
                steps.extend(self.paced(self.part(m, _delta(index, delta), ns)))
            call = {"type": "tool_call", "id": call_id, "name": name, "args": dict(args)}
            finishes.append(_finish(index, call))
            content.append(call)
            index += 1
        steps.extend(self.part(m, f, ns) for f in finishes)
        steps.append(self.part(m, {"event": "message-finish", "usage": dict(DEMO_USAGE)}, ns))
        ai = {"type": "ai", "id": msg_id, "content": content}
        if ns == ():
            self.state.append(ai)
        return steps

    def tool(self) -> list[Step]:
        call = DEMO_TOOL_CALL_ID
        t = "tools"
        steps: list[Step] = [
            self.part(
                t,
                {
                    "event": "tool-started",
                    "tool_call_id": call,
                    "tool_name": DEMO_TOOL_NAME,
                    "input": dict(DEMO_TOOL_ARGS),
                },
                node="tools",
            )
        ]
        for piece in DEMO_TOOL_OUTPUT_DELTAS:
            delta = {"event": "tool-output-delta", "tool_call_id": call, "delta": piece}
            steps.extend(self.paced(self.part(t, delta, node="tools")))
        message = _tool_message(call, DEMO_TOOL_NAME, DEMO_TOOL_RESULT)
        done = {"event": "tool-finished", "tool_call_id": call, "output": message}
        steps.append(self.part(t, done, node="tools"))
        self.state.append(message)
        return steps

    def subagents(self) -> list[Step]:
        researcher, searcher = self.ids.researcher_ns, self.ids.searcher_ns
        started = {
            "event": "started",
            "graph_name": DEMO_SUBAGENT_NAME,
            "cause": {"type": "toolCall", "tool_call_id": DEMO_SUBAGENT_CALL_ID},
        }
        topic = {"messages": [{"type": "human", "content": DEMO_SUBAGENT_ARGS["topic"]}]}
        steps: list[Step] = [
            self.part("lifecycle", started, researcher),
            self.part("values", topic, researcher),
            *self.message(researcher, text=DEMO_RESEARCHER_TEXT),
            # The searcher is started by its first event (no explicit lifecycle part).
            self.part("values", topic, searcher),
            *self.message(searcher, text=DEMO_SEARCHER_TEXT),
            self.part("updates", {"search": {"found": 3}}, searcher),
            self.part("lifecycle", {"event": "completed"}, searcher),
            self.part("updates", {"searcher": {"found": 3}}, researcher),
            self.part("lifecycle", {"event": "completed"}, researcher),
        ]
        message = _tool_message(DEMO_SUBAGENT_CALL_ID, DEMO_SUBAGENT_NAME, DEMO_RESEARCHER_TEXT)
        self.state.append(message)
        steps.append(self.part("updates", {"tools": {"messages": [message]}}))
        return steps

    def custom(self) -> list[Step]:
        return [
            self.part("custom:progress", dict(DEMO_PROGRESS[0])),
            self.part("custom", dict(DEMO_CUSTOM_STATUS)),
            self.part("custom:progress", dict(DEMO_PROGRESS[1])),
        ]

    def run(self) -> Generator[Step, Answers | None, None]:
        o = self.o
        yield self.values()
        calls = []
        if o.tools:
            calls.append((DEMO_TOOL_CALL_ID, DEMO_TOOL_NAME, DEMO_TOOL_ARGS, DEMO_TOOL_ARGS_CHUNKS))
        if o.subagents:
            calls.append(
                (
                    DEMO_SUBAGENT_CALL_ID,
                    DEMO_SUBAGENT_NAME,
                    DEMO_SUBAGENT_ARGS,
                    DEMO_SUBAGENT_ARGS_CHUNKS,
                )
            )
        yield from self.message(
            (), text=DEMO_TEXT, reasoning=DEMO_REASONING, tool_calls=tuple(calls)
        )
        yield self.part("updates", {"agent": {"messages": [self.state[-1]]}})
        yield self.values()
        if o.tools:
            yield from self.tool()
            yield self.part("updates", {"tools": {"messages": [self.state[-1]]}})
        if o.subagents:
            yield from self.subagents()
        if o.custom:
            yield from self.custom()
        if o.tools or o.subagents or o.custom:
            yield self.values()
        if o.batch_interrupt:
            yield from self.batch()
        elif o.interrupt:
            yield self.part(
                "values",
                {"messages": list(self.state), **self.extra},
                interrupts=({"id": self.interrupt_id, "value": dict(DEMO_INTERRUPT_PAYLOAD)},),
            )
            answers = _answers((yield WaitForInput((self.interrupt_id,))))
            approved = answers.get(self.interrupt_id)
            yield self.part("updates", {"approve": {"approved": approved}})
            yield self.values(approved=approved)
        if o.tokens:
            yield from self.message((), text=demo_long_text(o.tokens))
            yield self.values()
        if o.fail:
            yield from self.message((), text=DEMO_PARTIAL, finish=False)
            yield Fail(DEMO_ERROR)
            return
        yield from self.message((), text=DEMO_ANSWER)
        yield self.part("updates", {"agent": {"messages": [self.state[-1]]}})
        yield self.values()

    def batch(self) -> Generator[Step, Answers | None, None]:
        ids = (self.interrupt_id, self.ids.batch_interrupt_id)
        payloads = dict(zip(ids, DEMO_BATCH_PAYLOADS, strict=True))
        waiting = list(ids)
        answered: list[str] = []
        while waiting:
            raised = [{"id": i, "value": dict(payloads[i])} for i in waiting]
            yield self.part(
                "values", {"messages": list(self.state), **self.extra, "__interrupt__": raised}
            )
            answers = _answers((yield WaitForInput(tuple(waiting))))
            for interrupt_id in list(waiting):
                if interrupt_id in answers:
                    waiting.remove(interrupt_id)
                    branch = payloads[interrupt_id]["branch"]
                    answer = f"{branch}={answers[interrupt_id]!r}"
                    answered.append(answer)
                    yield self.part("updates", {f"ask_{branch}": {"answers": [answer]}})
        yield self.part("updates", {"join": {"log": [f"joined {','.join(answered)}"]}})
        yield self.values(answers=answered)


def _start(index: int, content: dict[str, Any]) -> dict[str, Any]:
    return {"event": "content-block-start", "index": index, "content": content}


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"event": "content-block-delta", "index": index, "delta": delta}


def _finish(index: int, content: dict[str, Any]) -> dict[str, Any]:
    return {"event": "content-block-finish", "index": index, "content": content}


def _tool_message(call_id: str, name: str, content: str) -> dict[str, Any]:
    return {
        "type": "tool",
        "content": content,
        "name": name,
        "tool_call_id": call_id,
        "status": "success",
    }


def _answers(value: Answers | None) -> Answers:
    if not isinstance(value, Mapping):
        raise ValueError(
            "after WaitForInput, send the answers back: generator.send({interrupt_id: response})"
        )
    return value


def demo_steps(
    input: Any,
    *,
    interrupt_id: str,
    batch_interrupt_id: str | None = None,
) -> Generator[Step, Answers | None, None]:
    """The demo agent's steps for ``input`` (see the module docstring).

    ``interrupt_id`` is the id of the (first) interrupt and seeds every other id
    (message ids, subagent task ids, the second batch interrupt's id unless
    ``batch_interrupt_id`` is given), so one invocation is fully deterministic.
    Raises ValueError (at once, not when iterated) for a bad input.
    """
    if not isinstance(interrupt_id, str) or not interrupt_id:
        raise ValueError(f"interrupt_id must be a non-empty string, got {interrupt_id!r}")
    options = demo_options(input)
    ids = demo_ids(interrupt_id, batch_interrupt_id=batch_interrupt_id)
    return _Script(options, ids, interrupt_id).run()
