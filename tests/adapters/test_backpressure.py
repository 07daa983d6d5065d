"""Backpressure: a slow consumer slows the socket read; the end of a feed is never lost.

Charter, on asyncio and trio, over SSE and WebSocket, against the reference
server:

* ``overflow="block"`` (the default): a consumer that stops reading stops the
  pump (it reads nothing more), so the server cannot write and the outbox of
  that connection fills until the server cuts it off; when the consumer reads
  again the stream resumes with ``since`` and the consumer gets every event
  once, in order, up to the run's end;
* a feed of size 1 read slowly still ends with its run: the end is a flag, not
  an item in the bounded queue;
* ``overflow="raise"``: a consumer that falls ``max_queue_size`` behind gets the
  queued items, then ``QueueOverflow``; the pump goes on for everyone else
  (``output`` resolves meanwhile).
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from adapters.helpers import FAST, PLAIN, demo_server, open_thread, server_sessions, wait_for

from threadwire.adapters import QueueOverflow
from threadwire.adapters._demo_script import DEMO_ANSWER, DEMO_TEXT
from threadwire.adapters._feeds import Feed

pytestmark = pytest.mark.anyio

LONG = {**FAST, "tokens": 20000}  # more than the socket buffers hold


async def test_a_stalled_consumer_stalls_the_read_then_resumes_whole(transport: str) -> None:
    async with demo_server(buffer_size=50_000) as server:  # the resume finds everything
        sessions = server_sessions(server)
        async with open_thread(server.url, transport, max_queue_size=8) as thread:
            await thread.run.start(input=LONG)
            seqs: list[int] = []
            with anyio.fail_after(20):
                async for event in thread.subscribe(["messages"]):
                    seqs.append(event.seq)
                    if len(seqs) != 5:
                        continue
                    # Stop reading: the pump blocks on the full feed and reads no more,
                    # so the server's writes block and its outbox for this connection
                    # keeps frames it cannot write (or overflowed and cut it off).
                    record = server.registry.threads[thread.thread_id]
                    await wait_for(lambda r=record: r.running is None, 10)  # the run is over
                    stalled_at = thread._pump.events_seen
                    await anyio.sleep(0.1)
                    assert thread._pump.events_seen == stalled_at
                    assert stalled_at < record.log.high_seq - 1000
                    assert any(s.queued or s.fell_behind for s in sessions)
                output = await thread.output
            reconnects = thread._pump.reconnects
    log = record.log
    expected = [
        e.seq
        for e in log.entries(None)
        if e.event.method == "messages" or e.key == ("lifecycle", ())  # with the run's ends
    ]
    assert seqs == expected  # every message event once, in order, after the resume
    assert reconnects >= 0  # 1 when the server cut the stalled connection off
    assert output["messages"][-1]["content"][0]["text"] == DEMO_ANSWER


async def test_the_end_of_a_feed_is_never_dropped(transport: str) -> None:
    async with (
        demo_server() as server,
        open_thread(server.url, transport, max_queue_size=1) as thread,
    ):
        await thread.run.start(input=PLAIN)
        got: dict[str, list[Any]] = {"values": [], "messages": [], "events": []}

        async def slowly(name: str, view: Any) -> None:
            async for item in view:
                await anyio.sleep(0.001)
                got[name].append(item)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(slowly, "values", thread.values)
                tg.start_soon(slowly, "messages", thread.messages)
                root_lifecycle = thread.subscribe(["lifecycle"], namespaces=[[]], depth=0)
                tg.start_soon(slowly, "events", root_lifecycle)
            output = await thread.output
    assert len(got["values"]) == 4 and got["values"][-1] == output
    assert [(await m).text for m in got["messages"]] == [DEMO_TEXT, DEMO_ANSWER]
    assert [e.data["event"] for e in got["events"]] == ["running", "completed"]


async def test_overflow_raise_gives_the_queued_items_then_queue_overflow(transport: str) -> None:
    async with (
        demo_server(pace=1) as server,
        open_thread(server.url, transport, max_queue_size=4, overflow="raise") as thread,
    ):
        with anyio.fail_after(10):
            events = thread.subscribe(["messages"])
            firsts = []

            async def take_first() -> None:
                firsts.append(await events.__anext__())

            async with anyio.create_task_group() as tg:
                tg.start_soon(take_first)  # subscribes, then waits for the run
                await anyio.sleep(0.05)
                await thread.run.start(input={**PLAIN, "delay": 0.001})
            [first] = firsts
            output = await thread.output  # the pump went on without this consumer
            rest = []
            with pytest.raises(QueueOverflow):
                async for event in events:
                    rest.append(event)
            # Another loop on the same thread is unaffected.
            snapshots = [s async for s in thread.values]
    assert first.seq is not None
    # What was queued when the feed overflowed (max_queue_size items, the first among
    # them unless it was taken before the others came), then the error.
    assert len(rest) in (3, 4)
    assert [e.seq for e in [first, *rest]] == sorted({e.seq for e in [first, *rest]})
    assert snapshots[-1] == output


@pytest.mark.parametrize("max_queue_size", [1, 16])
async def test_a_full_feed_holds_the_event_back_from_no_other_subscription(
    transport: str, max_queue_size: int
) -> None:
    """Two loops on the same channels, small feeds, one slow: both get every event.

    The pump hands a run of events to its sinks at once while both feeds have
    room for all of it, and otherwise event by event, in turn, waiting at the
    first full feed; the sinks after it must still get that event, once, and in
    order.
    """
    async with (
        demo_server() as server,
        open_thread(server.url, transport, max_queue_size=max_queue_size) as thread,
    ):
        await thread.run.start(input=FAST)
        got: dict[str, list[int | None]] = {"slow": [], "fast": []}

        async def consume(name: str, delay: float) -> None:
            async for event in thread.subscribe(["messages", "lifecycle"]):
                if delay:
                    await anyio.sleep(delay)
                got[name].append(event.seq)

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consume, "slow", 0.001)
                tg.start_soon(consume, "fast", 0)
        log = server.registry.threads[thread.thread_id].log
    expected = [e.seq for e in log.entries(None) if e.key[0] in ("messages", "lifecycle")]
    assert got["slow"] == got["fast"] == expected


def test_a_feed_takes_a_run_of_items_only_when_it_has_room_for_all() -> None:
    feed: Feed[int] = Feed(max_queue_size=4)
    assert feed.offer(0)
    assert feed.has_room(3) and not feed.has_room(4)
    assert not feed.offer_all([1, 2, 3, 4])  # nothing queued
    assert feed.offer_all([1, 2, 3])
    assert not feed.has_room(1) and not feed.offer_all([4])
    assert [feed.take() for _ in range(4)] == [0, 1, 2, 3]
    feed.finish()
    assert not feed.has_room(1) and not feed.offer_all([5])  # ended: never queued again
