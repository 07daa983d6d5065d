"""Structured concurrency: the ``async with`` block owns every task and connection.

Charter, on asyncio and trio, over SSE and WebSocket, with the reference server
behind a counting proxy: leaving ``client.threads.stream(...)`` normally, by an
exception, by cancellation from outside, or entering it in a scope that is
already cancelled, closes the event connection and joins the pump within a
bounded time (``fail_after``); leaving ``connect(...)`` closes the pooled
command connections too, so the server is left with none. The body's exception
comes out as itself (not wrapped in an ExceptionGroup); an error in the pump
cancels the body and comes out as itself as well.
"""

from __future__ import annotations

import anyio
import pytest
from adapters.helpers import (
    FAST,
    FakeAgent,
    Peer,
    Request,
    chunk,
    demo_server,
    event_streams,
    fake_server,
    open_thread,
    sse_head,
    wait_for,
)

from threadwire.adapters import ThreadClosed, connect
from threadwire.protocol import RemoteProtocolError

pytestmark = pytest.mark.anyio

PACED = {**FAST, "tokens": 2000, "delay": 0.001}  # with pace=1: still streaming when we leave


class Boom(Exception):
    pass


@pytest.mark.parametrize("how", ["normally", "exception", "cancelled"])
async def test_leaving_the_block_closes_and_joins(transport: str, how: str) -> None:
    # The server notices a closed SSE connection when it next writes: a short heartbeat
    # makes that soon, so its connection count shows what the client closed.
    async with demo_server(pace=1, heartbeat=0.05) as server, event_streams(server) as proxy:
        with anyio.fail_after(5):
            left = anyio.current_time()
            with anyio.move_on_after(0.5 if how == "cancelled" else None) as outer:
                try:
                    async with (
                        connect(proxy.url) as client,
                        client.threads.stream(assistant_id="demo", transport=transport) as thread,
                    ):
                        await thread.run.start(input=PACED)
                        async for message in thread.messages:
                            await anyio.sleep(0.05)  # mid-run, mid-message
                            if how == "normally":
                                break
                            if how == "exception":
                                raise Boom()
                            await message  # until cancelled from outside
                        left = anyio.current_time()
                except Boom:
                    assert how == "exception"
            if how == "cancelled":
                assert outer.cancelled_caught
            assert anyio.current_time() - left < 1.5
            assert thread._pump.connection is None
            await wait_for(lambda: proxy.open == 0, 1)
            await wait_for(lambda: server.connections == 0, 1)
        assert proxy.opened >= 1


@pytest.mark.parametrize("thread_id", [None, "t-1"])
async def test_entering_in_an_already_cancelled_scope(transport: str, thread_id: str) -> None:
    async with demo_server(heartbeat=0.05) as server, event_streams(server) as proxy:
        reached: list[str] = []
        with anyio.fail_after(3):
            with anyio.CancelScope() as scope:
                scope.cancel()
                async with (
                    connect(proxy.url) as client,
                    client.threads.stream(
                        thread_id, assistant_id="demo", transport=transport
                    ) as thread,
                ):
                    reached.append("body")
                    await thread.run.start(input=FAST)
                    reached.append("started")
            assert scope.cancelled_caught
            assert "started" not in reached
            await wait_for(lambda: proxy.open == 0, 1)
            await wait_for(lambda: server.connections == 0, 1)
        assert server.registry.threads == {} or all(
            not record.run_ids for record in server.registry.threads.values()
        )


async def test_an_error_in_the_pump_cancels_the_body_and_reaches_the_caller() -> None:
    async def garbage(peer: Peer, request: Request) -> None:
        await peer.send(sse_head() + chunk(b"event: values\r\ndata: {not json\r\n\r\n"))
        await peer.wait_closed()

    body_cancelled = False
    async with fake_server(FakeAgent(on_stream=garbage)) as fake:
        with anyio.fail_after(5), pytest.raises(RemoteProtocolError):
            async with open_thread(fake.url, "sse", "t-1") as thread:
                try:
                    async for _ in thread.values:
                        pass
                except anyio.get_cancelled_exc_class():
                    body_cancelled = True
                    raise
        await wait_for(lambda: fake.open == 0, 1)  # the event connection was closed
    assert body_cancelled


async def test_close_from_another_task_ends_the_waiters(transport: str) -> None:
    async with demo_server(pace=1) as server, open_thread(server.url, transport) as thread:
        await thread.run.start(input=PACED)
        outcomes: list[str] = []

        async def wait_output() -> None:
            try:
                await thread.output
            except ThreadClosed:
                outcomes.append("output")

        async def loop() -> None:
            try:
                async for _ in thread.values:
                    pass
            except ThreadClosed:
                outcomes.append("values")

        with anyio.fail_after(3):
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait_output)
                tg.start_soon(loop)
                await anyio.sleep(0.1)
                await thread.close()
    assert sorted(outcomes) == ["output", "values"]
