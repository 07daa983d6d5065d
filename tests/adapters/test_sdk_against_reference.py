"""The official client, langgraph-sdk 0.4.14, unmodified, against ``threadwire serve``.

Charter: ``get_client(url=...)`` and ``client.threads.stream(...)`` over the SDK's
SSE and its WebSocket transport: ``run.start``, ``thread.values``,
``thread.messages``, ``thread.tool_calls``, ``thread.subgraphs`` (and a child's
own ``messages``/``subgraphs``), ``thread.extensions[name]``,
``thread.interrupted``/``interrupts``, ``thread.run.respond``, ``thread.output``,
``thread.agent.get_tree`` and the REST calls the SDK makes (``threads.create``,
``threads.get``, ``threads.get_state``, ``assistants.get``,
``assistants.get_graph``) all succeed and observe what the demo agent sent.

The server runs in a subprocess (``python -m threadwire.adapters serve --port 0
--pace 0``) under each backend, trio and asyncio, read for the URL it printed,
checked alive after every test (one connection's trouble must not take it down)
and stopped by its PID with SIGTERM at the end of the module, which it must
survive with exit status 0; and in-process on the test's own asyncio loop.
Every test runs on **asyncio only**: the SDK is built on asyncio
(``asyncio.create_task``, ``asyncio.Queue``, httpx/websockets on asyncio) and
cannot run under trio, so this module overrides ``anyio_backend``.

Where PROTOCOL.md Appendix C names an SDK defect, the test asserts what the SDK
actually does, and says so:

* an interrupt's ``value`` is None (the SDK reads ``value``; the wire has
  ``payload``, asserted on the raw events);
* ``thread.values`` starts with the REST ``GET /threads/{id}/state`` snapshot
  (``{}`` on the real server when fetched before the run progressed; here the
  run is fast, so it is the state at the time of the fetch), then every
  ``values`` event of every namespace;
* a child handle's ``subgraphs`` finds no grandchild although the grandchild's
  events are on the wire;
* child handle status comes from the projection's teardown, not from the
  lifecycle events.

Driving the projections: each is iterated in its own task (awaiting a message or
a tool call inside the loop that yields it deadlocks, Appendix C). Before the
projections start, one raw ``thread.subscribe`` over every channel opens the
shared stream with the whole union, so the projections never rotate it. The SDK
has a race in rotation: ``_reconcile_stream`` awaits ``new_stream.ready``, and when
a later rotation's stream becomes ready first, the earlier stream is closed before
its response arrived; its ``ready`` future is then never settled (the transport
sets it neither on cancel nor on close) and that projection hangs forever. It
shows up when the server answers concurrent requests out of order, as the trio
server sometimes does (about 1 run in 15 with five projections started together);
the raw subscription also gives the wire events the assertions compare against.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from adapters.helpers import FAST, PLAIN
from langgraph_sdk import get_client

from threadwire.adapters._demo_script import (
    DEMO_ANSWER,
    DEMO_ERROR,
    DEMO_INTERRUPT_PAYLOAD,
    DEMO_PARTIAL,
    DEMO_PROGRESS,
    DEMO_REASONING,
    DEMO_RESEARCHER_TEXT,
    DEMO_SEARCHER_TEXT,
    DEMO_SUBAGENT_CALL_ID,
    DEMO_TEXT,
    DEMO_TOOL_ARGS,
    DEMO_TOOL_CALL_ID,
    DEMO_TOOL_NAME,
    DEMO_TOOL_OUTPUT_DELTAS,
    DEMO_TOOL_RESULT,
    DEMO_USAGE,
)
from threadwire.adapters._server import serve

pytestmark = pytest.mark.anyio

TIMEOUT = 20.0
"""Seconds any one test may take (each is well under a second when it passes)."""


ALL_CHANNELS = [
    "values",
    "updates",
    "messages",
    "tools",
    "lifecycle",
    "input",
    "checkpoints",
    "tasks",
    "custom",
    "custom:progress",
    "custom:nosuchname",
]
"""The priming subscription: every channel any projection below asks for."""

URL_LINE = re.compile(r"^threadwire reference server on (http://\S+) ")
"""The first line ``threadwire serve`` prints (see ``_cli_serve``)."""


@pytest.fixture
def anyio_backend() -> str:
    """The SDK runs on asyncio only (see the module docstring)."""
    return "asyncio"


# -- servers ------------------------------------------------------------------------------


class _Subprocess:
    """One ``threadwire serve`` child process; its URL, stopped by PID."""

    def __init__(self, backend: str) -> None:
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "threadwire.adapters",
                "serve",
                "--port",
                "0",
                "--backend",
                backend,
                "--pace",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.url = self._read_url(within=15.0)

    def _read_url(self, within: float) -> str:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + within
            while time.monotonic() < deadline:
                if selector.select(timeout=deadline - time.monotonic()):
                    line = self.proc.stdout.readline()
                    match = URL_LINE.match(line)
                    if match:
                        return match.group(1)
                    errors = self.errors()
                    self.stop()
                    raise AssertionError(f"serve printed {line!r}; stderr: {errors}")
        errors = self.errors()
        self.stop()
        raise AssertionError(f"serve printed no URL within {within} s; stderr: {errors}")

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def check_alive(self) -> None:
        code = self.proc.poll()
        assert code is None, f"the server exited with {code}: {self.errors()}"

    def stop(self) -> int:
        """SIGTERM by PID (serve stops cleanly on it), SIGKILL if that hangs; the exit code."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def subprocess_servers() -> Iterator[dict[str, _Subprocess]]:
    """Started on first use (one per backend), stopped at the end of the module."""
    servers: dict[str, _Subprocess] = {}
    try:
        yield servers
    finally:
        codes = {backend: server.stop() for backend, server in servers.items()}
    assert all(code == 0 for code in codes.values()), codes  # stopped cleanly


@pytest.fixture(
    params=["trio", "asyncio", "inprocess"], ids=["trio-server", "asyncio-server", "in-process"]
)
async def server_url(
    request: pytest.FixtureRequest, subprocess_servers: dict[str, _Subprocess]
) -> AsyncIterator[str]:
    """The server's base URL: a subprocess per backend, or in this test's loop."""
    kind = str(request.param)
    if kind == "inprocess":
        async with serve("127.0.0.1", 0, pace=0) as server:
            yield server.url
        return
    if kind not in subprocess_servers:
        subprocess_servers[kind] = _Subprocess(kind)
    server = subprocess_servers[kind]
    server.check_alive()
    yield server.url
    server.check_alive()  # a connection's error must not take the server down


@pytest.fixture(params=["sse", "websocket"])
def sdk_transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.asynccontextmanager
async def sdk_client(url: str) -> AsyncIterator[Any]:
    async with get_client(url=url, api_key=None) as client:
        yield client


# -- driving the SDK's projections ---------------------------------------------------------


class Observed:
    """What each projection yielded, collected in its own task."""

    def __init__(self) -> None:
        self.raw: list[dict[str, Any]] = []
        self.values: list[Any] = []
        self.messages: list[Any] = []
        self.tool_calls: list[Any] = []
        self.subgraphs: list[Any] = []
        self.progress: list[Any] = []
        self.nosuchname: list[Any] = []


async def collect(thread: Any, *names: str) -> Observed:
    """Prime the shared stream with every channel, then iterate each projection in
    its own task until the run's end ends them all (see the module docstring)."""
    seen = Observed()

    async def drain(source: Any, into: list[Any]) -> None:
        async for item in source:
            into.append(item)

    sources: dict[str, Callable[[], Any]] = {
        "values": lambda: thread.values,
        "messages": lambda: thread.messages,
        "tool_calls": lambda: thread.tool_calls,
        "subgraphs": lambda: thread.subgraphs,
        "progress": lambda: thread.extensions["progress"],
        "nosuchname": lambda: thread.extensions["nosuchname"],
    }
    primer = asyncio.create_task(drain(thread.subscribe(ALL_CHANNELS), seen.raw))
    await asyncio.sleep(0)  # the primer opens the shared stream with the whole union
    tasks = [primer] + [
        asyncio.create_task(drain(sources[name](), getattr(seen, name))) for name in names
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return seen


async def poll(predicate: Callable[[], bool]) -> None:
    while not predicate():  # noqa: ASYNC110 - SDK attributes have no event to wait on
        await asyncio.sleep(0.005)


def of(events: list[dict[str, Any]], method: str, namespace_len: int | None = None) -> list[Any]:
    """The ``data`` of the raw events with this method (and namespace length)."""
    return [
        e["params"]["data"]
        for e in events
        if e["method"] == method
        and (namespace_len is None or len(e["params"]["namespace"]) == namespace_len)
    ]


async def message_summary(stream: Any) -> dict[str, Any]:
    message = await stream
    return {
        "text": await stream.text,
        "reasoning": await stream.reasoning,
        "tool_calls": [(c["name"], c["args"]) for c in await stream.tool_calls],
        "usage": dict(message.usage_metadata or {}),
        "namespace": list(stream.namespace),
    }


def check_wire(events: list[dict[str, Any]], run_ids: list[str]) -> None:
    """The raw events are the whole thread: seq 1..N, unique ids of these runs."""
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    ids = [e["event_id"] for e in events]
    assert len(set(ids)) == len(ids)
    assert {i.split(":")[1] for i in ids} == set(run_ids)


# -- tests ------------------------------------------------------------------------------------


async def test_projections_observe_the_demo_run(server_url: str, sdk_transport: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            sdk_client(server_url) as client,
            client.threads.stream(assistant_id="demo", transport=sdk_transport) as thread,
        ):
            started = await thread.run.start(input=PLAIN)
            seen = await collect(
                thread, "values", "messages", "tool_calls", "subgraphs", "progress", "nosuchname"
            )
            output = await thread.output
            state = await client.threads.get_state(thread.thread_id)
            tree = await thread.agent.get_tree()

            raw = seen.raw
            check_wire(raw, [started["run_id"]])
            assert raw[-1]["method"] == "lifecycle"
            assert raw[-1]["params"] == {
                **raw[-1]["params"],
                "namespace": [],
                "data": {"event": "completed", "graph_name": "demo"},
            }

            # values: the REST state first (Appendix C: ``{}`` before the run wrote any;
            # here the run is fast, so usually its final state), then every values
            # event of every namespace, the subagents' included.
            assert seen.values[0] in [{}, *of(raw, "values", 0)]
            assert state["values"] == output
            assert seen.values[1:] == of(raw, "values")
            assert len(of(raw, "values", 0)) < len(seen.values) - 1
            assert output == of(raw, "values", 0)[-1]
            assert [m["type"] for m in output["messages"]] == ["human", "ai", "tool", "tool", "ai"]

            # messages: root messages only, assembled with reasoning, tool calls, usage.
            messages = [await message_summary(m) for m in seen.messages]
            assert messages == [
                {
                    "text": DEMO_TEXT,
                    "reasoning": DEMO_REASONING,
                    "tool_calls": [
                        (DEMO_TOOL_NAME, DEMO_TOOL_ARGS),
                        ("researcher", {"topic": "Paris weather"}),
                    ],
                    "usage": DEMO_USAGE,
                    "namespace": [],
                },
                {
                    "text": DEMO_ANSWER,
                    "reasoning": "",
                    "tool_calls": [],
                    "usage": DEMO_USAGE,
                    "namespace": [],
                },
            ]

            # tool_calls: the weather tool, its output deltas and the tool message.
            (call,) = seen.tool_calls
            assert (call.tool_call_id, call.name, call.input) == (
                DEMO_TOOL_CALL_ID,
                DEMO_TOOL_NAME,
                DEMO_TOOL_ARGS,
            )
            assert [d async for d in call.deltas] == list(DEMO_TOOL_OUTPUT_DELTAS)
            tool_output = await call.output
            assert tool_output["content"] == DEMO_TOOL_RESULT
            assert tool_output["tool_call_id"] == DEMO_TOOL_CALL_ID
            assert call.done and call.error is None

            # subgraphs: the researcher subagent with its own message; its searcher
            # is on the wire, but the SDK's child handle finds no grandchild.
            (child,) = seen.subgraphs
            (segment,) = child.path
            assert segment.startswith("researcher:")
            assert child.graph_name == "researcher"
            assert child.trigger_call_id == segment.split(":", 1)[1]
            assert child.status == "completed"
            child_streams = [m async for m in child.messages]  # finish the loop first
            child_messages = [await message_summary(m) for m in child_streams]
            assert [m["text"] for m in child_messages] == [DEMO_RESEARCHER_TEXT]
            assert child_messages[0]["namespace"] == [segment]
            assert [g async for g in child.subgraphs] == []  # SDK defect (Appendix C)
            grandchild = [e for e in raw if len(e["params"]["namespace"]) == 2]
            assert grandchild and grandchild[0]["params"]["namespace"][0] == segment
            assert {"event": "message-start"}.items() <= next(
                d for d in of(raw, "messages", 2)
            ).items()
            started_events = [d for d in of(raw, "lifecycle", 1) if d["event"] == "started"]
            assert started_events[0]["cause"] == {
                "type": "toolCall",
                "tool_call_id": DEMO_SUBAGENT_CALL_ID,
            }
            assert any(
                b.get("text") == DEMO_SEARCHER_TEXT
                for d in of(raw, "messages", 2)
                if d["event"] == "content-block-finish"
                for b in [d["content"]]
            )

            # extensions: the named custom channel, whole data dicts; none for a
            # name that was never sent.
            assert seen.progress == [{"name": "progress", "payload": p} for p in DEMO_PROGRESS]
            assert seen.nosuchname == []

            assert thread.interrupted is False and thread.interrupts == []
            assert {n["id"] for n in tree["nodes"]} >= {"__start__", "agent", "__end__"}


async def test_interrupt_respond_output(server_url: str, sdk_transport: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            sdk_client(server_url) as client,
            client.threads.stream(assistant_id="demo", transport=sdk_transport) as thread,
        ):
            first = await thread.run.start(input={})
            await poll(lambda: thread.interrupted)
            (interrupt,) = thread.interrupts
            interrupt_id = interrupt["interrupt_id"]
            # SDK defect (Appendix C): value is None, the wire calls it payload.
            assert interrupt == {"interrupt_id": interrupt_id, "value": None, "namespace": []}
            assert re.fullmatch(r"[0-9a-f]{32}", interrupt_id)
            state = await client.threads.get_state(thread.thread_id)
            assert state["interrupts"] == [{"id": interrupt_id, "value": DEMO_INTERRUPT_PAYLOAD}]
            assert state["next"] and state["tasks"]
            assert (await client.threads.get(thread.thread_id))["status"] == "interrupted"

            # Projections opened while paused see both runs (replayed from since=0,
            # the cursor the HTTP command reply set) and end with the resumed run.
            collecting = asyncio.create_task(collect(thread, "values", "messages"))
            await asyncio.sleep(0.01)
            assert await thread.run.respond({"approved": True}) == {}
            seen = await collecting
            output = await thread.output

            assert output["approved"] == {"approved": True}
            assert thread.interrupted is False and thread.interrupts == []
            raw = seen.raw
            run_ids = sorted({e["event_id"].split(":")[1] for e in raw})
            assert first["run_id"] in run_ids and len(run_ids) == 2
            check_wire(raw, run_ids)
            requested = [e for e in raw if e["method"] == "input.requested"]
            assert [e["params"]["data"] for e in requested] == [
                {"interrupt_id": interrupt_id, "payload": DEMO_INTERRUPT_PAYLOAD}
            ]
            root_lifecycle = [d["event"] for d in of(raw, "lifecycle", 0)]
            assert root_lifecycle == ["running", "interrupted", "running", "completed"]
            assert seen.values[1:] == of(raw, "values")
            assert seen.values[-1] == output
            texts = [await m.text for m in seen.messages]
            assert texts == [DEMO_TEXT, DEMO_ANSWER]
            assert (await client.threads.get(thread.thread_id))["status"] == "idle"


async def test_failed_run_raises_from_output(server_url: str, sdk_transport: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            sdk_client(server_url) as client,
            client.threads.stream(assistant_id="demo", transport=sdk_transport) as thread,
        ):
            await thread.run.start(input={**FAST, "fail": True})
            seen = await collect(thread, "messages")
            with pytest.raises(RuntimeError, match=f"^Run errored: {re.escape(DEMO_ERROR)}$"):
                await thread.output
            failed = of(seen.raw, "lifecycle", 0)[-1]
            assert failed == {"event": "failed", "graph_name": "demo", "error": DEMO_ERROR}
            first, partial = seen.messages
            assert await first.text == DEMO_TEXT
            # The failed model's message was left open (as on the real server).
            assert DEMO_PARTIAL.split()[0] in "".join(
                d["delta"]["text"]
                for d in of(seen.raw, "messages")
                if d["event"] == "content-block-delta" and d["delta"]["type"] == "text-delta"
            )
            assert partial.message_id != first.message_id


async def test_rest_calls_and_reattach(server_url: str, sdk_transport: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with sdk_client(server_url) as client:
            assistant = await client.assistants.get("demo")
            assert assistant["assistant_id"] == "demo" and assistant["graph_id"] == "demo"
            graph = await client.assistants.get_graph("demo")
            assert graph["nodes"] and graph["edges"]
            created = await client.threads.create(metadata={"purpose": "sdk test"})
            thread_id = created["thread_id"]
            assert created["status"] == "idle" and created["metadata"] == {"purpose": "sdk test"}
            with pytest.raises(httpx.HTTPStatusError) as conflict:
                await client.threads.create(thread_id=thread_id)
            assert conflict.value.response.status_code == 409
            again = await client.threads.create(thread_id=thread_id, if_exists="do_nothing")
            assert again["thread_id"] == thread_id

            async with client.threads.stream(
                thread_id, assistant_id="demo", transport=sdk_transport
            ) as thread:
                await thread.run.start(input=FAST)
                output = await thread.output
            assert [m["type"] for m in output["messages"]] == ["human", "ai", "ai"]

            # Reattach with the thread id: output comes from the REST state at once.
            async with client.threads.stream(
                thread_id, assistant_id="demo", transport=sdk_transport
            ) as thread:
                assert await thread.output == output
            fetched = await client.threads.get(thread_id)
            assert fetched["status"] == "idle" and fetched["values"] == output
            state = await client.threads.get_state(thread_id)
            assert state["values"] == output and state["next"] == [] and state["tasks"] == []
            with pytest.raises(httpx.HTTPStatusError) as missing:
                await client.threads.get_state("no-such-thread")
            assert missing.value.response.status_code == 404
            with pytest.raises(httpx.HTTPStatusError) as unknown:
                await client.assistants.get("nope")
            assert unknown.value.response.status_code == 404
