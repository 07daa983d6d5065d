"""threadwire's client against the real LangGraph Agent Server (``langgraph dev``).

Charter: every projection, on asyncio and on trio, over SSE and over
WebSocket, on the hermetic graphs in tests/interop/graphs; a reconnect in the
middle of a long run loses and repeats nothing. Where the official SDK is
known to be wrong on the same run (PROTOCOL.md Appendix C), the test asserts
the right answer: interrupt payloads are not null, ``values`` does not start
with an empty ``{}``, grandchildren are found, child status follows the
lifecycle events, output comes from the stream.

The server is started once per session by the ``langgraph_server`` fixture
(tests/interop/conftest.py) and stopped by its PID.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from support.proxy import running_proxy

from threadwire.adapters import RunFailed, RunInterrupted, connect

pytestmark = [pytest.mark.anyio, pytest.mark.interop]

TRANSPORTS = ["sse", "websocket"]
WEATHER = {"messages": [{"role": "user", "content": "What is the weather in Paris?"}]}
HI = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _gather_messages(view: Any) -> list[dict[str, Any]]:
    out = []
    async for message in view:
        deltas = [piece async for piece in message.text]
        full = await message
        out.append(
            {
                "role": full.role,
                "streamed": "".join(deltas),
                "text": full.text,
                "reasoning": full.reasoning,
                "tool_calls": [(c.name, c.args) for c in full.tool_calls],
                "usage": full.usage,
                "namespace": full.namespace,
            }
        )
    return out


async def test_chat_tools_messages_tool_calls_values_output(
    langgraph_url: str, transport: str
) -> None:
    async with (
        connect(langgraph_url) as client,
        client.threads.stream(assistant_id="chat_tools", transport=transport) as thread,
    ):
        await thread.run.start(input=WEATHER)
        messages: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        snapshots: list[Any] = []

        async def read_messages() -> None:
            messages.extend(await _gather_messages(thread.messages))

        async def read_tools() -> None:
            async for call in thread.tool_calls:
                deltas = [piece async for piece in call.deltas]
                output = await call.output
                calls.append(
                    {
                        "name": call.name,
                        "input": call.input,
                        "deltas": deltas,
                        "output": output,
                        "status": call.status,
                    }
                )

        async def read_values() -> None:
            async for snapshot in thread.values:
                snapshots.append(snapshot)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read_messages)
                tg.start_soon(read_tools)
                tg.start_soon(read_values)
            output = await thread.output

    assert [m["text"] for m in messages] == [
        "Let me check the weather for you.",
        "The weather in Paris is sunny and 21 degrees.",
    ]
    assert all(m["streamed"] == m["text"] for m in messages)
    assert messages[0]["reasoning"] == "The user asks about weather so I should call the tool"
    assert messages[0]["tool_calls"] == [("get_weather", {"city": "Paris"})]
    assert messages[1]["usage"] == {"input_tokens": 12, "output_tokens": 9, "total_tokens": 21}
    assert calls == [
        {
            "name": "get_weather",
            "input": {"city": "Paris"},
            "deltas": ["looking up ", "Paris"],
            "output": calls[0]["output"],
            "status": "finished",
        }
    ]
    assert calls[0]["output"]["content"] == "It is sunny in Paris, 21C"
    # The SDK yields an empty {} first (a REST read); ours are the stream's snapshots.
    assert snapshots and snapshots[0] != {}
    assert len(snapshots) == 4
    assert snapshots[-1] == output
    assert len(output["messages"]) == 4


async def test_nested_subgraphs_find_grandchildren_with_status(
    langgraph_url: str, transport: str
) -> None:
    found: list[tuple[int, str | None, str, list[str]]] = []

    async def walk(view: Any, depth: int) -> None:
        async for handle in view:
            texts: list[str] = []

            async def read(handle: Any = handle, texts: list[str] = texts) -> None:
                async for message in handle.messages:
                    texts.append(await message.text)

            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                tg.start_soon(walk, handle.subgraphs, depth + 1)
            status = await handle
            found.append((depth, handle.graph_name, status, texts))

    async with (
        connect(langgraph_url) as client,
        client.threads.stream(assistant_id="nested", transport=transport) as thread,
    ):
        await thread.run.start(input=HI)
        with anyio.fail_after(60):
            root_messages = await _gather_messages(thread.messages)
            await walk(thread.subgraphs, 1)
            await thread.output
            tree = await thread.agent.get_tree()

    assert [m["text"] for m in root_messages] == ["hello from the root graph"]
    assert sorted(found) == [
        (1, "child", "completed", ["hello from the child graph"]),
        (2, "grandchild", "completed", ["hello from the grandchild graph"]),
    ]
    assert tree.status == "completed"
    assert [c.graph_name for c in tree.children] == ["child"]
    assert [g.graph_name for g in tree.children[0].children] == ["grandchild"]


async def test_hitl_interrupt_payload_respond_and_output(
    langgraph_url: str, transport: str
) -> None:
    async with (
        connect(langgraph_url) as client,
        client.threads.stream(assistant_id="hitl", transport=transport) as thread,
    ):
        await thread.run.start(input={"request": "deploy to prod"})
        with anyio.fail_after(60):
            with pytest.raises(RunInterrupted) as info:
                await thread.output
            assert thread.interrupted
            [interrupt] = info.value.interrupts
            # The SDK reports value=None here: it reads "value", the server sends "payload".
            assert interrupt.payload == {
                "question": "Approve the request?",
                "request": "deploy to prod",
            }
            assert interrupt.namespace == ()
            await thread.run.respond({"approved": True})
            output = await thread.output
    assert output["log"] == ["prepared", "answer={'approved': True}", "acted"]
    assert not thread.interrupted


async def test_parallel_interrupts_batch_respond(langgraph_url: str, transport: str) -> None:
    async with (
        connect(langgraph_url) as client,
        client.threads.stream(assistant_id="hitl_parallel", transport=transport) as thread,
    ):
        await thread.run.start(input={"request": "two approvals"})
        with anyio.fail_after(60):
            with pytest.raises(RunInterrupted):
                await thread.output
            # The second input.requested arrives after the root's interrupted event.
            while len(thread.interrupts) < 2:  # noqa: ASYNC110 - polls the client's state
                await anyio.sleep(0.05)
            answers = {i.interrupt_id: f"yes-{i.payload['branch']}" for i in thread.interrupts}
            await thread.run.respond_batch(answers)
            output = await thread.output
    assert output["answers"] == ["a='yes-a'", "b='yes-b'"]


async def test_custom_and_named_extensions(langgraph_url: str, transport: str) -> None:
    async with (
        connect(langgraph_url) as client,
        client.threads.stream(assistant_id="custom", transport=transport) as thread,
    ):
        await thread.run.start(input={"task": "index"})
        named: list[Any] = []
        unnamed: list[Any] = []

        async def read_named() -> None:
            async for payload in thread.extensions["progress"]:
                named.append(payload)

        async def read_unnamed() -> None:
            async for payload in thread.extensions.unnamed:
                unnamed.append(payload)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read_named)
                tg.start_soon(read_unnamed)
            await thread.output
    assert named == [{"step": 1, "progress": 0.5}, {"step": 2, "progress": 1.0}]
    assert unnamed == [
        {"status": "starting"},
        {"step": 1, "progress": 0.5},
        {"step": 2, "progress": 1.0},
        {"status": "done"},
        "plain text payload",
    ]


async def test_failing_run_raises_and_closes_open_message(
    langgraph_url: str, transport: str
) -> None:
    async with (
        connect(langgraph_url) as client,
        client.threads.stream(assistant_id="failing_midstream", transport=transport) as thread,
    ):
        await thread.run.start(input={"x": 1})
        with anyio.fail_after(60):
            streams = []
            async for message in thread.messages:
                streams.append(message)
            with pytest.raises(RunFailed) as info:
                await thread.output
    assert info.value.error == "boom: model stream broke"
    [message] = streams
    # Left open by the server: closed as such, the streamed text kept, nothing hangs.
    partial = await message
    assert partial.status == "open" and partial.closed
    assert partial.text == "Partial answer"


async def test_values_two_runs_on_one_stream(langgraph_url: str, transport: str) -> None:
    async with (
        connect(langgraph_url) as client,
        client.threads.stream(assistant_id="values", transport=transport) as thread,
    ):
        with anyio.fail_after(60):
            await thread.run.start(input={"topic": "dogs"})
            first = await thread.output
            await thread.run.start(input={"topic": "birds"})
            second = await thread.output
    assert first == {"topic": "DOGS AND CATS", "steps": ["refine", "draft", "finish"], "count": 3}
    assert second["topic"] == "BIRDS AND CATS" and second["count"] == 6


async def test_long_run_reconnect_in_the_middle(langgraph_url: str, transport: str) -> None:
    """A drop mid-run: the stream resumes with since; every token once, in order."""
    target = urlsplit(langgraph_url)
    seqs: list[int] = []
    text: list[str] = []
    async with (
        running_proxy(target.hostname or "127.0.0.1", target.port or 80) as proxy,
        connect(proxy.url) as client,
        client.threads.stream(assistant_id="long_run", transport=transport) as thread,
    ):
        await thread.run.start(input={"n_tokens": 2000, "delay_ms": 1})

        async def read() -> None:
            async for event in thread.subscribe(["messages"]):
                assert event.seq is not None
                seqs.append(event.seq)
                data = event.data
                if data.get("event") == "content-block-delta":
                    text.append(data["delta"]["text"])
                if len(seqs) == 600:
                    proxy.drop()

        with anyio.fail_after(90):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
            output = await thread.output
        reconnects = thread._pump.reconnects
    assert reconnects >= 1
    assert seqs == sorted(set(seqs)), "an event was repeated or reordered"
    assert "".join(text) == " ".join(f"t{i}" for i in range(2000))
    assert output["done"] == 2000


async def test_fanout_interleaved_messages_are_reported_not_mixed(
    langgraph_url: str, transport: str
) -> None:
    async with (
        connect(langgraph_url) as client,
        client.threads.stream(assistant_id="fanout", transport=transport) as thread,
    ):
        await thread.run.start(input={"items": ["a", "b", "c"]})
        with anyio.fail_after(60):
            streams = [m async for m in thread.messages]
            output = await thread.output
    assert output["summary"] == "done:a,done:b,done:c"
    assert len(streams) == 3
    texts = {s.message.text for s in streams if s.status == "finished"}
    # Deltas without a message id cannot be placed while three messages are open:
    # nothing is attributed to the wrong message.
    assert texts <= {"worker a done", "worker b done", "worker c done"}
