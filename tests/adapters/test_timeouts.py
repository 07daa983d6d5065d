"""Timeouts, each with its own job, and none standing in for another.

Charter, on asyncio and trio, on loopback only:

* connect timeout: a listening socket whose backlog is full never completes a
  connection, so connecting gives ``ConnectTimeout`` within the bound; a closed
  port gives ``ConnectError`` at once;
* command timeout: a peer that takes a command and never answers gives
  ``CommandTimeout`` (over HTTP and in band over WebSocket), not a connect error;
  the stream is unaffected;
* stream idle: an event stream that sends nothing at all for ``idle_timeout`` is
  dropped and reopened (``StreamIdle`` is the reason; ``RetriesExhausted`` from
  it when that keeps happening), while a stream that sends only ``: heartbeat``
  comments (a fake peer, and the reference server with a short heartbeat) stays
  open, and so does a quiet WebSocket, which the client pings (the server sends
  no heartbeat there);
* kept apart: a short connect timeout does not cut a slow reply, a short command
  timeout does not cut a long stream.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import anyio
import pytest
from adapters.helpers import (
    FAST,
    FakeAgent,
    FakeWebSocket,
    Peer,
    Request,
    chunk,
    demo_server,
    event_obj,
    fake_server,
    open_thread,
    sse_block,
    sse_head,
    success,
    wait_for,
)

from threadwire.adapters import (
    CommandTimeout,
    ConnectError,
    ConnectTimeout,
    RetriesExhausted,
    StreamIdle,
)
from threadwire.protocol import Backoff, StateGet

pytestmark = pytest.mark.anyio

QUICK_RETRY = Backoff(max_attempts=2, base=0.01)


@contextlib.contextmanager
def unanswering_address() -> Iterator[str]:
    """A loopback URL whose listener never completes another connection.

    The socket listens with a backlog of 0 and never accepts; a few
    connections fill the queue, after which the kernel drops new SYNs.
    """
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield f"http://127.0.0.1:{port}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def closed_port_url() -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


async def test_connect_timeout_for_a_command() -> None:
    with unanswering_address() as url:
        async with open_thread(url, client_options={"connect_timeout": 0.3}) as thread:
            started = anyio.current_time()
            with anyio.fail_after(5), pytest.raises(ConnectTimeout):
                await thread.run.start(input=FAST)
            assert 0.25 < anyio.current_time() - started < 2


async def test_connect_timeout_for_the_event_stream(transport: str) -> None:
    with unanswering_address() as url:
        with anyio.fail_after(5), pytest.raises(RetriesExhausted) as info:
            async with open_thread(
                url,
                transport,
                "t-1",
                reconnect=QUICK_RETRY,
                client_options={"connect_timeout": 0.2},
            ):
                await anyio.sleep_forever()
        assert isinstance(info.value.__cause__, ConnectTimeout)


async def test_connect_error_for_a_closed_port(transport: str) -> None:
    url = closed_port_url()
    async with open_thread(url) as thread:
        with anyio.fail_after(2), pytest.raises(ConnectError, match="cannot connect"):
            await thread.command(StateGet())
    with anyio.fail_after(2), pytest.raises(RetriesExhausted) as info:
        async with open_thread(url, transport, "t-1", reconnect=QUICK_RETRY):
            await anyio.sleep_forever()
    assert type(info.value.__cause__) is ConnectError


async def _never_reply(request: Request) -> bytes:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


async def test_command_timeout_over_http() -> None:
    async with (
        fake_server(FakeAgent(on_command=_never_reply)) as fake,
        open_thread(fake.url, "sse", "t-1", client_options={"command_timeout": 0.3}) as thread,
    ):
        with anyio.fail_after(5):
            started = anyio.current_time()
            with pytest.raises(CommandTimeout, match=r"run\.start"):
                await thread.run.start(input=FAST)
            assert 0.25 < anyio.current_time() - started < 2
            assert fake.of("/stream/events")  # the stream is open and unaffected
            assert thread.session.pending_commands == {}


async def test_command_timeout_in_band() -> None:
    async def on_websocket(peer: Peer, request: Request) -> None:
        ws = await peer.websocket(request)
        subscribe = await ws.receive()
        await ws.send(success(subscribe["id"], {"subscription_id": "s"}))
        while await ws.receive() is not None:
            pass  # takes every command, answers none

    async with (
        fake_server(FakeAgent(on_websocket=on_websocket)) as fake,
        open_thread(fake.url, "websocket", client_options={"command_timeout": 0.3}) as thread,
    ):
        with anyio.fail_after(5):
            with pytest.raises(CommandTimeout):
                await thread.run.start(input=FAST)
            assert thread.session.pending_commands == {}
    assert fake.connections == 1  # a slow reply is not a broken socket


async def test_short_connect_timeout_does_not_cut_a_slow_reply() -> None:
    async def slow(request: Request) -> bytes:
        await anyio.sleep(0.5)
        return await FakeAgent.ok(request)

    async with (
        fake_server(FakeAgent(on_command=slow)) as fake,
        open_thread(
            fake.url, client_options={"connect_timeout": 0.1, "command_timeout": 5}
        ) as thread,
    ):
        with anyio.fail_after(5):
            result = await thread.run.start(input=FAST)
    assert result.run_id == "run-1"


async def _heartbeats(peer: Peer, request: Request) -> None:
    await peer.send(sse_head())
    while True:
        await peer.send(chunk(b": heartbeat\r\n\r\n"))
        await anyio.sleep(0.05)


async def test_heartbeats_keep_the_stream_open_and_commands_are_not_cut() -> None:
    async with (
        fake_server(FakeAgent(on_stream=_heartbeats)) as fake,
        open_thread(
            fake.url, "sse", "t-1", idle_timeout=0.25, client_options={"command_timeout": 0.2}
        ) as thread,
    ):
        with anyio.fail_after(5):
            await anyio.sleep(1.0)  # four idle timeouts, five command timeouts
            await thread.run.start(input=FAST)
    assert len(fake.of("/stream/events")) == 1


async def test_a_quiet_thread_stays_on_one_connection(transport: str) -> None:
    """SSE: the server's heartbeats; WebSocket (no server heartbeat): the client's pings."""
    async with (
        demo_server(heartbeat=0.05) as server,
        open_thread(server.url, transport, idle_timeout=0.25) as thread,
    ):
        with anyio.fail_after(5):
            await thread.run.start(input=FAST)
            await thread.output
            await anyio.sleep(0.8)
            assert thread._pump.reconnects == 0
            await thread.run.start(input=FAST)
            await thread.output
        assert thread._pump.reconnects == 0


async def test_a_large_event_trickling_in_keeps_the_stream_open() -> None:
    """Bytes are life even when they complete no event yet."""
    block = sse_block(event_obj(1, "values", {"blob": "x" * 400}))

    async def trickle(peer: Peer, request: Request) -> None:
        await peer.send(sse_head())
        for i in range(0, len(block), 25):  # ~0.9 s for one event, idle_timeout 0.3 s
            await peer.send(chunk(block[i : i + 25]))
            await anyio.sleep(0.05)
        await peer.wait_closed()

    async with (
        fake_server(FakeAgent(on_stream=trickle)) as fake,
        open_thread(fake.url, "sse", "t-1", idle_timeout=0.3) as thread,
    ):
        with anyio.fail_after(5):
            async for event in thread.subscribe(["values"], whole_thread=True):
                assert event.data == {"blob": "x" * 400}
                break
    assert fake.connections == 1


async def _silent_stream(peer: Peer, request: Request) -> None:
    await peer.send(sse_head())
    await peer.wait_closed()


async def _silent_socket(peer: Peer, request: Request) -> None:
    ws: FakeWebSocket = await peer.websocket(request)
    await ws.receive()  # the subscribe: never answered, nothing else sent
    await peer.wait_closed()


async def test_idle_stream_is_reopened(transport: str) -> None:
    agent = FakeAgent(on_stream=_silent_stream, on_websocket=_silent_socket)
    async with (
        fake_server(agent) as fake,
        open_thread(fake.url, transport, "t-1", idle_timeout=0.2, reconnect=Backoff(base=0.01)),
    ):
        with anyio.fail_after(5):
            await wait_for(lambda: fake.connections >= 3)
    assert fake.open <= 1


async def test_idle_stream_exhausts_the_retry_budget(transport: str) -> None:
    agent = FakeAgent(on_stream=_silent_stream, on_websocket=_silent_socket)
    async with fake_server(agent) as fake:
        with anyio.fail_after(5), pytest.raises(RetriesExhausted) as info:
            async with open_thread(
                fake.url, transport, "t-1", idle_timeout=0.15, reconnect=QUICK_RETRY
            ):
                await anyio.sleep_forever()
    assert isinstance(info.value.__cause__, StreamIdle)
    assert fake.connections == 3


async def test_a_server_that_answers_the_stream_with_nothing_at_all() -> None:
    """Connected, but no response head: bounded by the connect timeout, then retried."""

    async def no_head(peer: Peer, request: Request) -> None:
        await peer.wait_closed()

    async with fake_server(FakeAgent(on_stream=no_head)) as fake:
        with anyio.fail_after(5), pytest.raises(RetriesExhausted):
            async with open_thread(
                fake.url,
                "sse",
                "t-1",
                reconnect=QUICK_RETRY,
                client_options={"connect_timeout": 0.2},
            ):
                await anyio.sleep_forever()
    assert fake.connections == 3
