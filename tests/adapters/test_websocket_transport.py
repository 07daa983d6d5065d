"""The WebSocket transport: one socket for commands, replies and events.

Charter, on asyncio and trio, against the reference server and against a fake
WebSocket peer that scripts every frame:

* commands go in band (no HTTP command requests at all), several at once, each
  reply matched to its command by id, events interleaved with them;
* the server's pings are answered with pongs carrying the same payload;
* close codes are mapped: 1011 ("thread stream ended"), 1001, 1006 (a drop
  without a close frame) and 4000 + 5xx reconnect, resuming with ``since``;
  4000 + 4xx and 1008 are final and raise to the caller out of ``async with``;
* a socket that closes while a command waits fails that command at once
  (``NetworkError``), and the stream reconnects for everyone else;
* messages of unknown types are ignored.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from adapters.helpers import (
    FAST,
    PLAIN,
    FakeAgent,
    FakeWebSocket,
    Peer,
    Request,
    demo_server,
    event_obj,
    fake_server,
    open_thread,
    routed_targets,
    success,
    wait_for,
)

from threadwire.adapters import NetworkError
from threadwire.protocol import AgentTreeNode, Backoff, StateGet

pytestmark = pytest.mark.anyio

QUICK_RETRY = Backoff(max_attempts=2, base=0.01)
RUNNING = {"event": "running", "graph_name": "g"}


async def test_commands_in_band_with_their_replies() -> None:
    async with demo_server() as server:
        targets = routed_targets(server)
        async with open_thread(server.url, "websocket") as thread:
            with anyio.fail_after(10):
                result = await thread.run.start(input=PLAIN)
                replies: dict[str, Any] = {}

                async def ask(name: str, request: Any) -> None:
                    replies[name] = await request()

                async with anyio.create_task_group() as tg:
                    # Several commands in flight on one socket while events stream.
                    tg.start_soon(ask, "state", lambda: thread.command(StateGet()))
                    tg.start_soon(ask, "tree", thread.agent.get_tree)
                    tg.start_soon(ask, "output", lambda: thread.output)
                    tg.start_soon(ask, "keys", lambda: thread.command(StateGet(keys=["messages"])))
    assert result.run_id == server.registry.threads[thread.thread_id].run_ids[0]
    assert isinstance(replies["tree"], AgentTreeNode)
    assert set(replies["keys"]["values"]) == {"messages"}
    assert "values" in replies["state"]
    # One upgrade, no command POSTs: everything went over the socket.
    assert [method for method, _ in targets] == ["GET"]
    assert thread.session.pending_commands == {}


async def _subscribed(ws: FakeWebSocket) -> dict[str, Any]:
    """Take the client's subscribe command and accept it."""
    command = await ws.receive()
    assert command["method"] == "subscription.subscribe"
    await ws.send(success(command["id"], {"subscription_id": "sub-1"}))
    return dict(command["params"])


def _ws_agent(script: Any) -> FakeAgent:
    async def on_websocket(peer: Peer, request: Request) -> None:
        ws = await peer.websocket(request)
        await script(peer, ws)

    return FakeAgent(on_websocket=on_websocket)


async def test_pings_are_answered() -> None:
    pongs: list[bytes] = []

    async def script(peer: Peer, ws: FakeWebSocket) -> None:
        await _subscribed(ws)
        await ws.ping(b"are you there")
        await ws.ping(b"still?")
        assert await ws.receive(pongs=2) is None
        pongs.extend(ws.pongs)
        await peer.wait_closed()

    async with fake_server(_ws_agent(script)) as fake, open_thread(fake.url, "websocket"):
        with anyio.fail_after(5):
            await wait_for(lambda: len(pongs) == 2)
    assert pongs == [b"are you there", b"still?"]


@pytest.mark.parametrize("code", [1011, 1001, 4500, 4503, "drop"])
async def test_retryable_close_reconnects_with_since(code: int | str) -> None:
    subscribes: list[dict[str, Any]] = []

    async def script(peer: Peer, ws: FakeWebSocket) -> None:
        subscribes.append(await _subscribed(ws))
        if peer.number == 1:
            await ws.send(event_obj(1, "lifecycle", RUNNING))
            await ws.send(event_obj(2, "values", {"step": 1}))
            if code == "drop":
                return  # the TCP connection closes without a close frame
            await ws.close(int(code), "thread stream ended")
            await peer.wait_closed()
            return
        await ws.send(event_obj(2, "values", {"step": 1}))  # the anchor: already seen
        await ws.send(event_obj(3, "values", {"step": 2}))
        await ws.send(event_obj(4, "lifecycle", {"event": "completed"}))
        while await ws.receive() is not None:
            pass

    async with (
        fake_server(_ws_agent(script)) as fake,
        open_thread(fake.url, "websocket", reconnect=QUICK_RETRY) as thread,
    ):
        with anyio.fail_after(5):
            snapshots = [s async for s in thread.values]
    assert snapshots == [{"step": 1}, {"step": 2}]
    assert fake.connections == 2
    assert subscribes[0].get("since") is None and subscribes[1]["since"] == 1


@pytest.mark.parametrize("code", [4400, 4403, 4404, 1008])
async def test_final_close_codes_raise_to_the_caller(code: int) -> None:
    async def script(peer: Peer, ws: FakeWebSocket) -> None:
        await _subscribed(ws)
        await ws.close(code, "go away")
        await peer.wait_closed()

    async with fake_server(_ws_agent(script)) as fake:
        with anyio.fail_after(5), pytest.raises(NetworkError, match=str(code)):
            async with open_thread(fake.url, "websocket", reconnect=QUICK_RETRY):
                await anyio.sleep_forever()
    assert fake.connections == 1


async def test_close_fails_the_command_in_flight_and_reconnects() -> None:
    async def script(peer: Peer, ws: FakeWebSocket) -> None:
        await _subscribed(ws)
        if peer.number == 1:
            command = await ws.receive()
            assert command["method"] == "run.start"
            await ws.close(1011, "thread stream ended")  # and never answers it
            await peer.wait_closed()
            return
        while (command := await ws.receive()) is not None:
            await ws.send(success(command["id"], {"run_id": "run-2"}))

    async with (
        fake_server(_ws_agent(script)) as fake,
        open_thread(fake.url, "websocket", reconnect=QUICK_RETRY) as thread,
    ):
        with anyio.fail_after(5):
            with pytest.raises(NetworkError):
                await thread.run.start(input=FAST)
            await wait_for(lambda: fake.connections == 2)
            result = await thread.run.start(input=FAST)
    assert result.run_id == "run-2"
    assert thread.session.pending_commands == {}


async def test_unknown_messages_are_ignored() -> None:
    async def script(peer: Peer, ws: FakeWebSocket) -> None:
        await _subscribed(ws)
        await ws.send({"type": "telemetry", "cpu": 0.5})
        await ws.send(event_obj(1, "lifecycle", RUNNING))
        await ws.send({"type": "something-new", "seq": 99})
        await ws.send(event_obj(2, "values", {"step": 1}))
        await ws.send(event_obj(3, "lifecycle", {"event": "completed"}))
        while await ws.receive() is not None:
            pass

    async with fake_server(_ws_agent(script)) as fake, open_thread(fake.url, "websocket") as thread:
        with anyio.fail_after(5):
            snapshots = [s async for s in thread.values]
    assert snapshots == [{"step": 1}]
