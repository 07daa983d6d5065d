"""The thread API against the reference server's demo agent, over SSE and WebSocket.

Charter: every public piece of ``ThreadStream`` does what the README says on a
real run, on asyncio and trio, over both transports, with the server in the
same event loop on loopback TCP:

* ``run.start`` and ``output`` per run (the final state; ``RunFailed`` for a
  failed run; ``RunInterrupted`` with the interrupts, never a hang; the error of
  a refused ``run.start``; a run another client started), and
  ``run.respond`` / ``respond_batch`` resuming an interrupted run;
* ``values``, ``messages`` (text, reasoning and tool-call deltas, and the whole
  message awaited, also inside the loop that yielded it), ``tool_calls``
  (deltas, output, the message block that asked for the call),
  ``subgraphs``/``subagents`` at every depth, ``extensions[name]``;
* ``interrupted`` / ``interrupts`` with their payloads;
* ``subscribe`` scoped by channels, namespaces and depth; ``events`` (the whole
  thread, each event once, in order); ``interleave_projections`` in the server's
  order; ``observe_applied_through_seq``; ``agent.get_tree``; ``close``;
* a loop started after its run ended still sees the whole run;
* one event connection per thread, reopened (never doubled) when a new
  subscription needs more than the open stream carries.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from adapters.helpers import (
    FAST,
    PLAIN,
    EventStreams,
    demo_server,
    event_streams,
    open_thread,
    wait_for,
)

from threadwire.adapters import RunFailed, RunInterrupted, ThreadClosed
from threadwire.adapters._demo_script import (
    DEMO_ANSWER,
    DEMO_BATCH_PAYLOADS,
    DEMO_CUSTOM_STATUS,
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
    DEMO_TOOL_NAME,
    DEMO_TOOL_OUTPUT_DELTAS,
    DEMO_TOOL_RESULT,
    DEMO_USAGE,
)
from threadwire.protocol import CommandError, Event

pytestmark = pytest.mark.anyio


def _is_root_end(event: Event) -> bool:
    return (
        event.method == "lifecycle"
        and not event.namespace
        and event.data.get("event") in ("completed", "failed", "interrupted")
    )


async def test_run_projections_and_output(transport: str) -> None:
    """values, messages, tool_calls read side by side while the run streams."""
    messages: list[dict[str, Any]] = []
    calls: list[Any] = []
    snapshots: list[Any] = []
    async with demo_server() as server, open_thread(server.url, transport) as thread:
        result = await thread.run.start(input=PLAIN)

        async def read_messages() -> None:
            async for message in thread.messages:
                text = [piece async for piece in message.text]
                reasoning = [piece async for piece in message.reasoning]
                args = [piece async for piece in message.tool_calls]
                whole = await message  # inside the loop that yielded it
                messages.append(
                    {
                        "text": text,
                        "reasoning": reasoning,
                        "args": args,
                        "whole": whole,
                        "awaited_text": await message.text,
                        "awaited_calls": await message.tool_calls,
                    }
                )

        async def read_tools() -> None:
            async for call in thread.tool_calls:
                deltas = [piece async for piece in call.deltas]
                calls.append((call, deltas, await call.output))

        async def read_values() -> None:
            async for snapshot in thread.values:
                snapshots.append(snapshot)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read_messages)
                tg.start_soon(read_tools)
                tg.start_soon(read_values)
            output = await thread.output

    assert result.run_id == server.registry.threads[thread.thread_id].run_ids[0]
    first, last = messages
    assert [m["whole"].text for m in messages] == [DEMO_TEXT, DEMO_ANSWER]
    assert "".join(first["text"]) == DEMO_TEXT and "".join(last["text"]) == DEMO_ANSWER
    assert first["awaited_text"] == DEMO_TEXT
    assert "".join(first["reasoning"]) == DEMO_REASONING == first["whole"].reasoning
    assert last["reasoning"] == [] and last["args"] == []
    # Tool-call argument deltas, by block index (0 reasoning, 1 text, 2 and 3 calls).
    assert [i for i, _ in first["args"]] == [2, 2, 3, 3]
    assert "".join(p for i, p in first["args"] if i == 2) == '{"city": "Paris"}'
    assert [(c.name, c.args) for c in first["awaited_calls"]] == [
        (DEMO_TOOL_NAME, DEMO_TOOL_ARGS),
        ("researcher", {"topic": "Paris weather"}),
    ]
    assert first["whole"].usage == DEMO_USAGE and first["whole"].role == "ai"

    [(call, deltas, call_output)] = calls
    assert call.name == DEMO_TOOL_NAME and call.input == DEMO_TOOL_ARGS
    assert deltas == list(DEMO_TOOL_OUTPUT_DELTAS)
    assert call_output["content"] == DEMO_TOOL_RESULT and call.status == "finished"
    # The call is linked to the tool-call block of the message that asked for it.
    source = call.call.source
    assert source is not None
    assert (source.message_id, source.index) == (first["whole"].id, 2)

    assert len(snapshots) == 4
    assert snapshots[0]["messages"][0]["type"] == "human"
    assert snapshots[-1] == output
    assert output["messages"][-1]["content"][0]["text"] == DEMO_ANSWER


async def test_awaiting_a_message_inside_the_loop_while_it_streams(transport: str) -> None:
    """The pump feeds the message, not the loop: awaiting it mid-loop cannot deadlock."""
    async with demo_server(pace=1) as server, open_thread(server.url, transport) as thread:
        await thread.run.start(input={**FAST, "delay": 0.002})
        texts = []
        with anyio.fail_after(10):
            async for message in thread.messages:
                assert message.status == "open"  # still streaming when handed out
                texts.append((await message).text)
                texts.append(await message.text)
            await thread.output
    assert texts == [DEMO_TEXT, DEMO_TEXT, DEMO_ANSWER, DEMO_ANSWER]


async def test_output_per_run_and_a_second_run(transport: str) -> None:
    async with demo_server() as server, open_thread(server.url, transport) as thread:
        with anyio.fail_after(10):
            await thread.run.start(input=FAST)
            first = await thread.output
            await thread.run.start(input=PLAIN)
            second = await thread.output
            again = await thread.output  # the latest run, already ended
    assert len(first["messages"]) == 3
    assert len(second["messages"]) == 5
    assert again == second


async def test_interrupt_payload_respond_and_output(transport: str) -> None:
    async with demo_server() as server, open_thread(server.url, transport) as thread:
        await thread.run.start(input={})
        with anyio.fail_after(10):
            with pytest.raises(RunInterrupted) as info:
                await thread.output
            assert thread.interrupted
            [interrupt] = info.value.interrupts
            assert interrupt.payload == DEMO_INTERRUPT_PAYLOAD  # not null
            assert thread.interrupts == [interrupt] and interrupt.namespace == ()
            await thread.run.respond("yes")
            output = await thread.output
    assert output["approved"] == "yes"
    assert not thread.interrupted and thread.interrupts == []
    assert output["messages"][-1]["content"][0]["text"] == DEMO_ANSWER


async def test_batch_interrupts_respond_batch(transport: str) -> None:
    options = {"batch_interrupt": True, "tools": False, "subagents": False, "custom": False}
    async with demo_server() as server, open_thread(server.url, transport) as thread:
        await thread.run.start(input=options)
        with anyio.fail_after(10):
            with pytest.raises(RunInterrupted) as info:
                await thread.output
            assert sorted(i.payload["branch"] for i in info.value.interrupts) == ["a", "b"]
            assert {i.interrupt_id: i.payload for i in thread.interrupts} == {
                i.interrupt_id: p
                for i, p in zip(info.value.interrupts, DEMO_BATCH_PAYLOADS, strict=True)
            }
            by_branch = {i.payload["branch"]: i.interrupt_id for i in thread.interrupts}
            # Answer one: the other is raised again, with the same id.
            await thread.run.respond_batch({by_branch["a"]: "ok-a"})
            with pytest.raises(RunInterrupted) as again:
                await thread.output
            assert [i.interrupt_id for i in again.value.interrupts] == [by_branch["b"]]
            await thread.run.respond_batch({by_branch["b"]: "ok-b"})
            output = await thread.output
    assert output["answers"] == ["a='ok-a'", "b='ok-b'"]


async def test_failed_run_raises_and_settles_its_open_message(transport: str) -> None:
    async with demo_server() as server, open_thread(server.url, transport) as thread:
        await thread.run.start(input={**FAST, "fail": True})
        with anyio.fail_after(10):
            streams = [message async for message in thread.messages]
            with pytest.raises(RunFailed) as info:
                await thread.output
            partial = await streams[-1]
    assert info.value.error == DEMO_ERROR
    assert [s.message.text for s in streams] == [DEMO_TEXT, DEMO_PARTIAL]
    assert partial.status == "open" and partial.closed  # left open by the server, settled


async def test_subagents_at_every_depth(transport: str) -> None:
    found: list[tuple[int, str | None, str, list[str], str | None]] = []

    async def walk(view: Any, depth: int) -> None:
        async for handle in view:
            texts: list[str] = []

            async def read(handle: Any = handle, texts: list[str] = texts) -> None:
                async for message in handle.messages:
                    texts.append(await message.text)

            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                tg.start_soon(walk, handle.subagents, depth + 1)
            status = await handle
            cause = getattr(handle.cause, "tool_call_id", None)
            found.append((depth, handle.graph_name, status, texts, cause))

    async with demo_server() as server, open_thread(server.url, transport) as thread:
        await thread.run.start(input=PLAIN)
        with anyio.fail_after(10):
            await walk(thread.subgraphs, 1)
            await thread.output
    # The researcher was spawned by a tool call; the searcher by nothing the stream names.
    assert sorted(found, key=lambda f: f[0]) == [
        (1, "researcher", "completed", [DEMO_RESEARCHER_TEXT], DEMO_SUBAGENT_CALL_ID),
        (2, "searcher", "completed", [DEMO_SEARCHER_TEXT], None),
    ]


async def test_named_extension_and_unnamed_custom_events(transport: str) -> None:
    named: list[Any] = []
    unnamed: list[Any] = []

    async def read(view: Any, into: list[Any]) -> None:
        async for payload in view:
            into.append(payload)

    async with demo_server() as server, open_thread(server.url, transport) as thread:
        await thread.run.start(input=PLAIN)
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read, thread.extensions["progress"], named)
                tg.start_soon(read, thread.extensions.unnamed, unnamed)
            await thread.output
    assert named == list(DEMO_PROGRESS)
    assert DEMO_CUSTOM_STATUS in unnamed


async def test_subscribe_by_namespace_and_depth(transport: str) -> None:
    async with demo_server() as server, open_thread(server.url, transport) as thread:
        await thread.run.start(input=PLAIN)
        with anyio.fail_after(10):
            await thread.output

            async def namespaces(**scope: Any) -> list[tuple[str, ...]]:
                seen = []
                async for event in thread.subscribe(["messages"], **scope):
                    assert event.method in ("messages", "lifecycle")
                    if event.method == "messages" and event.namespace not in seen:
                        seen.append(event.namespace)
                return [tuple(s.partition(":")[0] for s in ns) for ns in seen]

            root = await namespaces(namespaces=[[]], depth=0)
            researcher_only = await namespaces(namespaces=[["researcher"]], depth=0)
            researcher_down = await namespaces(namespaces=[["researcher"]])
            everything = await namespaces()
    assert root == [()]
    assert researcher_only == [("researcher",)]
    assert researcher_down == [("researcher",), ("researcher", "searcher")]
    assert everything == [(), ("researcher",), ("researcher", "searcher")]


async def test_events_cover_the_whole_thread_once_in_order(transport: str) -> None:
    async with demo_server() as server, open_thread(server.url, transport) as thread:
        seen: list[Event] = []
        with anyio.fail_after(10):
            await thread.run.start(input=FAST)
            await thread.output
            await thread.run.start(input=FAST)
            ends = 0
            async for event in thread.events:  # started late: both runs from seq 1
                seen.append(event)
                ends += _is_root_end(event)
                if ends == 2:
                    break
    record = server.registry.threads[thread.thread_id]
    assert [e.seq for e in seen] == list(range(1, record.log.high_seq + 1))
    assert {e.method for e in seen} >= {"lifecycle", "values", "updates", "messages"}


async def test_interleave_projections_in_server_order(transport: str) -> None:
    async with demo_server() as server, open_thread(server.url, transport) as thread:
        await thread.run.start(input=PLAIN)
        items: list[tuple[str, Any]] = []
        with anyio.fail_after(10):
            async for name, item in thread.interleave_projections(
                ["values", "messages", "progress"]
            ):
                items.append((name, item))
            events = []
            async for event in thread.subscribe(
                ["values", "messages", "custom"], namespaces=[[]], depth=0
            ):
                events.append(event)
    expected = []
    for event in events:
        if event.method == "values":
            expected.append(("values", event.data))
        elif event.method == "messages" and event.data["event"] == "message-start":
            expected.append(("messages", event.data["id"]))
        elif event.method == "custom" and event.data.get("name") == "progress":
            expected.append(("progress", event.data["payload"]))
    got = [(n, i.id if n == "messages" else i) for n, i in items]
    assert got == expected
    assert [n for n, _ in got].count("progress") == 2


async def test_observe_applied_through_seq(transport: str) -> None:
    async with demo_server() as server, open_thread(server.url, transport) as thread:
        with anyio.fail_after(10):
            await thread.run.start(input=FAST)
            await thread.output
            high = server.registry.threads[thread.thread_id].log.high_seq
            await thread.observe_applied_through_seq(high)  # already there
            reached = anyio.Event()

            async def observe() -> None:
                await thread.observe_applied_through_seq(high + 5)
                reached.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(observe)
                await anyio.sleep(0.05)
                assert not reached.is_set()
                await thread.run.start(input=FAST)
            assert thread.session.last_seq >= high + 5
            await thread.output


async def test_agent_get_tree(transport: str) -> None:
    async with demo_server() as server, open_thread(server.url, transport) as thread:
        with anyio.fail_after(10):
            await thread.run.start(input=PLAIN)
            await thread.output
            tree = await thread.agent.get_tree()
    assert tree.status == "completed"
    [researcher] = tree.children
    assert researcher.graph_name == "researcher" and researcher.status == "completed"
    [searcher] = researcher.children
    assert searcher.graph_name == "searcher" and searcher.status == "completed"
    assert searcher.namespace[0] == researcher.namespace[0]


async def test_close_ends_loops_output_and_commands(transport: str) -> None:
    async with demo_server(pace=1) as server, open_thread(server.url, transport) as thread:
        await thread.run.start(input={**FAST, "delay": 0.05})
        outcome: list[BaseException] = []

        async def loop() -> None:
            try:
                async for _ in thread.messages:
                    pass
            except ThreadClosed as exc:
                outcome.append(exc)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(loop)
                await anyio.sleep(0.1)
                await thread.close()
            with pytest.raises(ThreadClosed):
                await thread.output
            with pytest.raises(ThreadClosed):
                await thread.run.start(input=FAST)
            await thread.close()  # idempotent
    assert len(outcome) == 1


async def test_late_loops_see_the_whole_run(transport: str) -> None:
    async with demo_server() as server, open_thread(server.url, transport) as thread:
        with anyio.fail_after(10):
            await thread.run.start(input=PLAIN)
            output = await thread.output
            texts = [await m.text async for m in thread.messages]
            snapshots = [s async for s in thread.values]
            calls = [c.name async for c in thread.tool_calls]
            subagents = [h.graph_name async for h in thread.subagents]
            progress = [p async for p in thread.extensions["progress"]]
    assert texts == [DEMO_TEXT, DEMO_ANSWER]
    assert len(snapshots) == 4 and snapshots[-1] == output
    assert calls == [DEMO_TOOL_NAME]
    assert subagents == ["researcher"]
    assert progress == list(DEMO_PROGRESS)


async def test_one_event_connection_per_thread_widened_on_demand(transport: str) -> None:
    async with demo_server() as server, event_streams(server) as streams:
        async with open_thread(streams.url, transport) as thread:
            await thread.run.start(input=PLAIN)
            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    for view in (
                        thread.values,
                        thread.messages,
                        thread.tool_calls,
                        thread.subgraphs,
                        thread.extensions["progress"],
                    ):
                        tg.start_soon(_drain, view)
                await thread.output
                assert streams.most == 1  # reopened (widened) at most, never doubled
                opened = streams.opened
                # A subscription the open stream covers, without history: no reopen.
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_drain, thread.subscribe(["values"], history=False))
                    await anyio.sleep(0.05)
                    await thread.run.start(input=FAST)
                await thread.output
                assert streams.opened == opened
                # One that needs a channel the stream does not carry: one reopen, wider.
                await _drain(thread.subscribe(["checkpoints"]))
                assert streams.opened == opened + 1
        assert streams.most == 1
        if transport == "sse":
            assert "checkpoints" in streams.bodies[-1]["channels"]
            assert "checkpoints" not in streams.bodies[-2]["channels"]
        await _wait_closed(streams)


async def _drain(view: Any) -> None:
    async for _ in view:
        pass


async def _wait_closed(streams: EventStreams) -> None:
    await wait_for(lambda: streams.open == 0, 2)


async def test_output_when_the_run_never_started(transport: str) -> None:
    """A refused run.start makes output raise that error; no run at all: run_start_timeout."""
    async with (
        demo_server() as server,
        open_thread(server.url, transport, assistant_id="no-such-assistant") as refused,
        open_thread(server.url, transport, run_start_timeout=0.1) as idle,
    ):
        with anyio.fail_after(5):
            with pytest.raises(CommandError) as info:
                await refused.run.start(input=FAST)
            with pytest.raises(CommandError) as again:
                await refused.output
            assert again.value is info.value
            with pytest.raises(TimeoutError):
                await idle.output
    assert "no-such-assistant" in info.value.message


async def test_output_of_a_run_started_by_another_client(transport: str) -> None:
    async with (
        demo_server() as server,
        open_thread(server.url, transport, "shared") as watcher,
        open_thread(server.url, "sse", "shared") as starter,
    ):
        with anyio.fail_after(5):
            await starter.run.start(input=FAST)
            output = await watcher.output  # follows the run the stream shows
            assert output == await starter.output
            await starter.run.start(input={**FAST, "fail": True})
            with pytest.raises(RunFailed):
                await starter.output
            # Once the watcher's stream has shown that run, its output is that run's.
            await watcher.observe_applied_through_seq(
                server.registry.threads["shared"].log.high_seq
            )
            with pytest.raises(RunFailed):
                await watcher.output
