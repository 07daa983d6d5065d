"""HTTP as the client speaks it: what it sends, what it accepts, how it pools.

Charter, on asyncio and trio, against fake peers that record the exact bytes
received and answer scripted bytes, and against the reference server:

* the event-stream request carries ``accept: text/event-stream``,
  ``cache-control: no-store`` and ``accept-encoding: identity`` exactly once,
  whatever headers the caller passes; the caller's other headers, ``x-api-key``
  and ``host`` go with every request (stream, command, WebSocket handshake);
* a URL with a path prefix puts every request under it (a fake peer at
  ``/api``, and the demo agent behind a prefix-stripping proxy);
* a thread id is percent-encoded as one path segment: ``../assistants/x`` stays
  in its segment, the server routes it to the thread of that very id;
* command replies and event streams are read whether their body is chunked (in
  any split) or has a content-length; 202, 204 and empty bodies are successes;
* a status that is not 2xx becomes a typed error with the status and body:
  ``HTTPStatusError`` (the stream's 403/404 reach the caller out of
  ``async with``; a 500 is retried, then ``RetriesExhausted`` from it), a 400
  with an error envelope a ``CommandError``; a WebSocket handshake answered 403
  is an ``HTTPStatusError`` too;
* commands reuse keep-alive connections (counted on a proxy), the most recently
  freed first (LIFO), replace a kept-alive connection the server closed, and
  give ``PoolExhausted`` when ``max_connections`` are busy beyond ``pool_timeout``.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from adapters.helpers import (
    FAST,
    FakeAgent,
    Peer,
    Request,
    chunk,
    demo_server,
    event_obj,
    failure,
    fake_server,
    open_thread,
    prefix_proxy,
    response,
    routed_targets,
    sse_block,
    sse_head,
    success,
    wait_for,
)
from support.proxy import running_proxy

from threadwire.adapters import PoolExhausted, RetriesExhausted, connect
from threadwire.adapters._demo_script import DEMO_ANSWER
from threadwire.adapters._net import READ_SIZE, SMALL_READ_SIZE, ReadSize, read_chunk
from threadwire.protocol import Backoff, CommandError, HTTPStatusError, StateGet

pytestmark = pytest.mark.anyio

QUICK_RETRY = Backoff(max_attempts=2, base=0.01)
RUN_EVENTS = [
    event_obj(1, "lifecycle", {"event": "running", "graph_name": "g"}),
    event_obj(2, "values", {"step": 1}),
    event_obj(3, "messages", {"event": "message-start", "role": "ai", "id": "m1"}),
    event_obj(4, "values", {"step": 2}),
    event_obj(5, "lifecycle", {"event": "completed"}),
]


def _json_reply(obj: Any, status: int = 200, **kw: Any) -> bytes:
    return response(
        status, json.dumps(obj).encode(), headers=[("content-type", "application/json")], **kw
    )


# -- what goes out ----------------------------------------------------------------


async def test_stream_and_command_headers_cannot_be_overridden() -> None:
    user = {
        "Accept": "application/xml",
        "cache-control": "max-age=60",
        "Accept-Encoding": "gzip, br",
        "x-custom": "one",
        "user-agent": "tests/1",
        "host": "evil.example",
    }
    async with (
        fake_server(FakeAgent()) as fake,
        connect(fake.url, headers=user, api_key="sk-secret") as client,
        client.threads.stream(
            "t-1", assistant_id="demo", headers={"x-stream": "two", "accept": "text/html"}
        ) as thread,
    ):
        with anyio.fail_after(5):
            await thread.run.start(input=FAST)
            await wait_for(lambda: bool(fake.of("/stream/events")))
    [stream] = fake.of("/stream/events")
    [command] = fake.of("/commands")
    assert stream.method == "POST" and stream.target == "/threads/t-1/stream/events"
    assert stream.header("accept") == "text/event-stream"
    assert stream.header("cache-control") == "no-store"
    assert stream.header("accept-encoding") == "identity"
    assert stream.header("content-type") == "application/json"
    assert stream.header("x-stream") == "two"
    assert command.header("accept") == "application/json"
    assert command.header("accept-encoding") == "identity"
    for request in (stream, command):
        assert request.header("host") == f"127.0.0.1:{fake.port}"
        assert request.header("x-api-key") == "sk-secret"
        assert request.header("x-custom") == "one"
        assert request.header("user-agent") == "tests/1"
        assert request.header("content-length") == str(len(request.body))
    assert command.json()["method"] == "run.start"
    assert command.json()["params"]["assistant_id"] == "demo"
    assert "channels" in stream.json()


async def test_websocket_handshake_headers() -> None:
    handshakes: list[Request] = []

    async def on_websocket(peer: Peer, request: Request) -> None:
        handshakes.append(request)
        ws = await peer.websocket(request)
        while await ws.receive() is not None:
            pass

    with anyio.fail_after(5):
        async with (
            fake_server(FakeAgent(on_websocket=on_websocket)) as fake,
            open_thread(
                fake.url + "/api",
                "websocket",
                "t-2",
                client_options={"headers": {"x-custom": "one"}, "api_key": "sk-secret"},
            ),
        ):
            pass
    [request] = handshakes
    assert request.method == "GET" and request.target == "/api/threads/t-2/stream/events"
    assert request.header("upgrade") == "websocket"
    assert request.header("x-api-key") == "sk-secret"
    assert request.header("x-custom") == "one"
    assert request.header("host") == f"127.0.0.1:{fake.port}"


async def test_path_prefix_on_every_request(transport: str) -> None:
    async with (
        demo_server() as server,
        prefix_proxy("/api/v1", "127.0.0.1", server.port) as proxy,
        open_thread(proxy.url + "/", transport) as thread,
    ):
        with anyio.fail_after(10):
            await thread.run.start(input=FAST)
            output = await thread.output
    assert output["messages"][-1]["content"][0]["text"] == DEMO_ANSWER
    assert proxy.targets
    assert all(t.startswith(f"/api/v1/threads/{thread.thread_id}/") for t in proxy.targets)
    assert any(t.endswith("/stream/events") for t in proxy.targets)


@pytest.mark.parametrize(
    ("thread_id", "segment"),
    [
        ("../assistants/x", "..%2Fassistants%2Fx"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("a b?c#d%", "a%20b%3Fc%23d%25"),
        ("naïve/é", "na%C3%AFve%2F%C3%A9"),
    ],
)
async def test_thread_id_stays_in_its_path_segment(
    transport: str, thread_id: str, segment: str
) -> None:
    async with demo_server() as server:
        targets = routed_targets(server)
        async with open_thread(server.url, transport, thread_id) as thread:
            with anyio.fail_after(10):
                await thread.run.start(input=FAST)
                await thread.output
    assert list(server.registry.threads) == [thread_id]
    expected = {f"/threads/{segment}/stream/events"}
    if transport == "sse":
        expected.add(f"/threads/{segment}/commands")
    assert {target for _, target in targets} == expected


# -- what comes back ------------------------------------------------------------------


REPLY_SHAPES = {
    "content-length": lambda body: response(200, body),
    "chunked-whole": lambda body: response(200, body, chunked=True),
    "chunked-bytes": lambda body: response(
        200, chunked=True, chunks=[body[i : i + 1] for i in range(len(body))]
    ),
    "202-empty": lambda body: response(202),
    "204": lambda body: response(204),
    "200-empty": lambda body: response(200),
    "200-empty-chunked": lambda body: response(200, chunked=True),
}


@pytest.mark.parametrize("shape", list(REPLY_SHAPES))
async def test_command_reply_bodies_and_keep_alive(shape: str) -> None:
    async def on_command(request: Request) -> bytes:
        body = json.dumps(success(request.json()["id"], {"run_id": "run-9"})).encode()
        return REPLY_SHAPES[shape](body)

    async with (
        fake_server(FakeAgent(on_command=on_command)) as fake,
        open_thread(fake.url) as thread,
    ):
        with anyio.fail_after(5):
            results = [await thread.command(StateGet()) for _ in range(3)]
    empty = "empty" in shape or shape == "204"
    assert results == [{} if empty else {"run_id": "run-9"}] * 3
    assert fake.connections == 1  # one keep-alive connection carried all three


@pytest.mark.parametrize("shape", ["content-length", "chunked-whole", "chunked-7", "bytewise"])
async def test_event_stream_bodies(shape: str) -> None:
    async def on_stream(peer: Peer, request: Request) -> None:
        since = request.json().get("since") or 0
        body = b"".join(sse_block(e) for e in RUN_EVENTS if e["seq"] > since)
        if peer.number > 1:  # a later stream (a new subscription): replay, stay open
            await peer.send(sse_head() + chunk(body))
            await peer.wait_closed()
            return
        if shape == "content-length":
            await peer.send(sse_head(length=len(body)) + body)
        else:
            size = {"chunked-whole": len(body), "chunked-7": 7, "bytewise": 1}[shape]
            await peer.send(sse_head())
            for i in range(0, len(body), size):
                await peer.send(chunk(body[i : i + size]))
            await peer.send(b"0\r\n\r\n")
        await peer.wait_closed()

    async with (
        fake_server(FakeAgent(on_stream=on_stream)) as fake,
        open_thread(fake.url, "sse", "t-3") as thread,
    ):
        with anyio.fail_after(5):
            snapshots = [s async for s in thread.values]
            output = await thread.output
            # The stream ended cleanly after the run: no error, nothing lost.
            seqs = [e.seq async for e in thread.subscribe(["values", "messages"])]
    assert snapshots == [{"step": 1}, {"step": 2}]
    assert output == {"step": 2}
    assert seqs == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("status", [403, 404])
async def test_stream_client_error_status_reaches_the_caller(status: str) -> None:
    body = json.dumps({"detail": f"status {status}"}).encode()

    async def on_stream(peer: Peer, request: Request) -> None:
        await peer.send(response(status, body))

    async with fake_server(FakeAgent(on_stream=on_stream)) as fake:
        with anyio.fail_after(5), pytest.raises(HTTPStatusError) as info:
            async with open_thread(fake.url, "sse", "t-4", reconnect=QUICK_RETRY):
                await anyio.sleep_forever()
    assert (info.value.status, info.value.body) == (status, body)
    assert info.value.detail == f"status {status}" and not info.value.retryable
    assert fake.connections == 1  # not retried


async def test_stream_server_error_is_retried_then_exhausted() -> None:
    async def on_stream(peer: Peer, request: Request) -> None:
        await peer.send(response(500, b"upstream exploded", chunked=True))

    async with fake_server(FakeAgent(on_stream=on_stream)) as fake:
        with anyio.fail_after(5), pytest.raises(RetriesExhausted) as info:
            async with open_thread(fake.url, "sse", "t-5", reconnect=QUICK_RETRY):
                await anyio.sleep_forever()
    cause = info.value.__cause__
    assert isinstance(cause, HTTPStatusError)
    assert (cause.status, cause.body) == (500, b"upstream exploded")
    assert fake.connections == 3  # the first try and two retries


async def test_websocket_handshake_rejected_with_status() -> None:
    async def on_websocket(peer: Peer, request: Request) -> None:
        await peer.send(response(403, b'{"detail":"no sockets for you"}'))

    async with fake_server(FakeAgent(on_websocket=on_websocket)) as fake:
        with anyio.fail_after(5), pytest.raises(HTTPStatusError) as info:
            async with open_thread(fake.url, "websocket", reconnect=QUICK_RETRY):
                pass
    assert info.value.status == 403
    assert info.value.body == b'{"detail":"no sockets for you"}'


async def test_command_error_replies() -> None:
    replies = iter(
        [
            lambda cid: _json_reply(failure(cid, "invalid_argument", "bad params"), 400),
            lambda cid: _json_reply(failure(None, "invalid_argument", "malformed"), 400),
            lambda cid: _json_reply({"detail": "database down"}, 500),
            lambda cid: response(403, b"forbidden", headers=[("content-type", "text/plain")]),
            lambda cid: _json_reply(success(cid, {"run_id": "run-2"})),
        ]
    )

    async def on_command(request: Request) -> bytes:
        return next(replies)(request.json()["id"])

    async with (
        fake_server(FakeAgent(on_command=on_command)) as fake,
        open_thread(fake.url) as thread,
    ):
        with anyio.fail_after(5):
            with pytest.raises(CommandError) as bad:
                await thread.run.start(input=FAST)
            with pytest.raises(CommandError) as malformed:
                await thread.command(StateGet())
            with pytest.raises(HTTPStatusError) as down:
                await thread.command(StateGet())
            with pytest.raises(HTTPStatusError) as forbidden:
                await thread.command(StateGet())
            # The pool and the session are fine afterwards.
            assert await thread.command(StateGet()) == {"run_id": "run-2"}
    assert (bad.value.code, bad.value.message, bad.value.method) == (
        "invalid_argument",
        "bad params",
        "run.start",
    )
    assert malformed.value.command_id == 2 and malformed.value.message == "malformed"
    assert (down.value.status, down.value.detail) == (500, "database down")
    assert down.value.body == b'{"detail": "database down"}' and down.value.retryable
    assert (forbidden.value.status, forbidden.value.body) == (403, b"forbidden")
    assert thread.session.pending_commands == {}


# -- the command pool ------------------------------------------------------------------


async def test_commands_reuse_one_keep_alive_connection() -> None:
    async with demo_server() as server, running_proxy("127.0.0.1", server.port) as proxy:
        async with open_thread(proxy.url) as thread:
            with anyio.fail_after(5):
                for _ in range(5):
                    await thread.command(StateGet())
        assert proxy.connections == 1


async def test_a_kept_alive_connection_the_server_closed_is_replaced() -> None:
    async def on_command(request: Request) -> bytes:
        return _json_reply(success(request.json()["id"]))

    agent = FakeAgent(on_command=on_command)

    async def one_request_then_close(peer: Peer) -> None:
        request = await peer.read_request()
        if request is not None:
            await peer.send(await agent.on_command(request))  # keep-alive, then hang up

    async with fake_server(one_request_then_close) as fake, open_thread(fake.url) as thread:
        with anyio.fail_after(5):
            for _ in range(3):
                await thread.command(StateGet())
                await wait_for(lambda: fake.open == 0)
    assert fake.connections == 3 and len(fake.requests) == 3


class _Gate:
    """Holds each command's reply until the test releases it (by command id)."""

    def __init__(self) -> None:
        self.gates: dict[int, anyio.Event] = {}
        self.seen: dict[int, int] = {}  # command id -> connection

    async def on_command(self, request: Request) -> bytes:
        command_id = request.json()["id"]
        self.seen[command_id] = request.connection
        gate = self.gates.setdefault(command_id, anyio.Event())
        await gate.wait()
        return _json_reply(success(command_id))

    def release(self, command_id: int) -> None:
        self.gates.setdefault(command_id, anyio.Event()).set()


async def test_pool_reuses_the_most_recently_freed_connection() -> None:
    gate = _Gate()
    done: list[int] = []

    async def command(command_id: int) -> None:
        await thread.command(StateGet())
        done.append(command_id)

    async with (
        fake_server(FakeAgent(on_command=gate.on_command)) as fake,
        open_thread(fake.url) as thread,
    ):
        with anyio.fail_after(5):
            # Ids 1 and 2 busy two connections; 2 is freed first, then 1: 1's is on top.
            # Then 4 and 5, freed in the other order: 5's is on top.
            for ids, order in (((1, 2), (2, 1)), ((4, 5), (4, 5))):
                async with anyio.create_task_group() as tg:
                    for command_id in ids:  # one after the other: ids in this order
                        tg.start_soon(command, command_id)
                        await wait_for(lambda c=command_id: c in gate.seen)
                    for command_id in order:
                        gate.release(command_id)
                        await wait_for(lambda c=command_id: c in done)
                following = ids[1] + 1
                gate.release(following)
                await thread.command(StateGet())
                assert gate.seen[following] == gate.seen[order[-1]]
    assert fake.connections == 2
    assert gate.seen[3] != gate.seen[6]  # not simply the same connection every time


async def test_pool_exhausted_when_every_connection_is_busy() -> None:
    gate = _Gate()
    async with (
        fake_server(FakeAgent(on_command=gate.on_command)) as fake,
        open_thread(fake.url, client_options={"max_connections": 1, "pool_timeout": 0.2}) as thread,
    ):
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(thread.command, StateGet())
                await wait_for(lambda: 1 in gate.seen)
                started = anyio.current_time()
                with pytest.raises(PoolExhausted):
                    await thread.command(StateGet())
                assert 0.15 < anyio.current_time() - started < 2
                gate.release(1)
            gate.release(3)
            assert await thread.command(StateGet()) == {}
    assert fake.connections == 1
    assert thread.session.pending_commands == {}


class _ScriptedStream:
    """Answers each read with the next scripted size of bytes, recording what was asked."""

    def __init__(self, sizes: list[int]) -> None:
        self.sizes = sizes
        self.asked: list[int] = []

    async def receive(self, max_bytes: int = 65536) -> bytes:
        self.asked.append(max_bytes)
        size = self.sizes.pop(0)
        if size < 0:
            raise anyio.EndOfStream
        return b"x" * min(size, max_bytes)


async def test_event_stream_reads_small_until_a_sustained_backlog() -> None:
    """16 KB reads; 128 KB after four of 16 KB in a row; 16 KB again after one of less."""
    small, large = SMALL_READ_SIZE, READ_SIZE
    assert (small, large) == (16 * 1024, 128 * 1024)
    stream = _ScriptedStream([small, 10, small, small, small, small, 20000, large, 5, 1, -1])
    size = ReadSize()
    got = [len(await read_chunk(stream, size)) for _ in range(11)]  # type: ignore[arg-type]
    assert stream.asked == [small] * 6 + [large] * 3 + [small] * 2
    assert got == [small, 10, small, small, small, small, 20000, large, 5, 1, 0]
