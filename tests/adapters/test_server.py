"""The reference server, seen from raw HTTP and WebSocket clients.

Charter, on asyncio and trio, over loopback TCP with the server in the test's
event loop:

* the REST surface: ``GET /ok``, ``POST /threads`` (create, 409 on a second
  create, ``if_exists: do_nothing``), ``GET /threads/{id}`` (404 for an unknown
  thread), ``GET /threads/{id}/state`` (values and the pending interrupt with its
  payload, after a run driven by our client);
* bad requests get a 4xx with a JSON ``{"detail": ...}`` body: an unknown route
  404, a body that is not JSON 400, a body over ``Limits.max_body_size`` 413; a
  malformed command POST gets 400 with a protocol error envelope;
* a request answered 400 has no side effect (no thread is created);
* limits: more than ``max_connections`` at once get 503 (our client gets a typed,
  retryable ``HTTPStatusError``); an idle keep-alive
  connection is closed after ``idle_timeout``, while several requests on one
  busy connection are answered in turn;
* WebSocket: malformed frames (not JSON, not a command, an unknown method, a
  binary frame) each get an error envelope (with the id when there was one) and
  the socket stays open for the next, valid command;
* peers that leave in the middle of a stream (a WebSocket closed or cut while
  events flow, an SSE response cut) never take the server down: it goes on
  serving everyone else.
"""

from __future__ import annotations

import json

import anyio
import pytest
from adapters.helpers import FAST, RawHTTP, RawWebSocket, demo_server, open_thread, wait_for
from wsproto.events import CloseConnection

from threadwire.adapters import RunInterrupted
from threadwire.adapters._demo_script import DEMO_INTERRUPT_PAYLOAD
from threadwire.protocol import HTTPStatusError, Limits, StateGet

pytestmark = pytest.mark.anyio


async def test_rest_surface() -> None:
    async with demo_server() as server, RawHTTP.connect(server.port) as http:
        with anyio.fail_after(5):
            ok = await http.request("GET", "/ok")
            created = await http.request("POST", "/threads", b'{"thread_id": "t-1"}')
            again = await http.request("POST", "/threads", b'{"thread_id": "t-1"}')
            kept = await http.request(
                "POST", "/threads", b'{"thread_id": "t-1", "if_exists": "do_nothing"}'
            )
            minted = await http.request("POST", "/threads", b"")
            got = await http.request("GET", "/threads/t-1")
            missing = await http.request("GET", "/threads/nope")
            state = await http.request("GET", "/threads/t-1/state")
    assert (ok.status, ok.json()) == (200, {"ok": True})
    assert created.status == 200 and created.json()["thread_id"] == "t-1"
    assert again.status == 409 and "already exists" in again.json()["detail"]
    assert kept.status == 200 and kept.json()["thread_id"] == "t-1"
    assert minted.status == 200 and minted.json()["thread_id"] not in ("", "t-1")
    assert got.status == 200 and got.json()["status"] == "idle"
    assert missing.status == 404 and "nope" in missing.json()["detail"]
    assert state.status == 200 and state.json()["values"] == {}
    assert got.headers["content-type"] == "application/json"


async def test_state_after_an_interrupted_run(transport: str) -> None:
    async with demo_server() as server:
        async with open_thread(server.url, transport) as thread:
            await thread.run.start(input={"tools": False, "subagents": False})
            with anyio.fail_after(5), pytest.raises(RunInterrupted):
                await thread.output
        async with RawHTTP.connect(server.port) as http:
            thread_json = (await http.request("GET", f"/threads/{thread.thread_id}")).json()
            state = (await http.request("GET", f"/threads/{thread.thread_id}/state")).json()
    assert thread_json["status"] == "interrupted"
    [interrupt] = state["interrupts"]
    assert interrupt["value"] == DEMO_INTERRUPT_PAYLOAD
    assert interrupt["id"] == thread.interrupts[0].interrupt_id
    assert state["values"]["messages"][0]["type"] == "human"


@pytest.mark.parametrize(
    ("method", "target", "body", "status"),
    [
        ("GET", "/no/such/route", b"", 404),
        ("DELETE", "/ok", b"", 404),
        ("GET", "/threads/t-1/nothing", b"", 404),
        ("POST", "/threads", b"{not json", 400),
        ("POST", "/threads/t-1/stream/events", b"{not json", 400),
        ("POST", "/threads/t-1/stream/events", b'{"channels": "values"}', 400),
        ("POST", "/threads", b'{"thread_id": "x", "pad": "' + b"x" * 300 + b'"}', 413),
        ("POST", "/threads/t-1/commands", b"x" * 300, 413),
    ],
)
async def test_bad_requests_get_4xx_with_detail(
    method: str, target: str, body: bytes, status: int
) -> None:
    async with (
        demo_server(limits=Limits(max_body_size=256)) as server,
        RawHTTP.connect(server.port) as http,
    ):
        with anyio.fail_after(5):
            response = await http.request(method, target, body)
    assert response.status == status
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]


async def test_a_malformed_command_post_gets_an_error_envelope() -> None:
    async with demo_server() as server, RawHTTP.connect(server.port) as http:
        with anyio.fail_after(5):
            not_json = await http.request("POST", "/threads/t-1/commands", b"{not json")
            not_a_command = await http.request("POST", "/threads/t-1/commands", b"[1, 2]")
            no_method = await http.request("POST", "/threads/t-1/commands", b'{"id": 3}')
            unknown = await http.request(
                "POST",
                "/threads/t-1/commands",
                json.dumps({"id": 4, "method": "no.such", "params": {}}).encode(),
            )
    # Not JSON at all: the framework's answer, like the real server's.
    assert not_json.status == 400 and not_json.json()["detail"]
    # JSON, but not a command: the protocol's envelope (the id echoed when there was one).
    assert not_a_command.status == no_method.status == 400
    assert (not_a_command.json()["type"], not_a_command.json()["id"]) == ("error", None)
    assert (no_method.json()["error"], no_method.json()["id"]) == ("invalid_argument", 3)
    assert (unknown.json()["error"], unknown.json()["id"]) == ("unknown_command", 4)


async def test_max_connections_gives_503() -> None:
    async with (
        demo_server(max_connections=2) as server,
        RawHTTP.connect(server.port) as first,
        RawHTTP.connect(server.port) as second,
    ):
        with anyio.fail_after(5):
            assert (await first.request("GET", "/ok")).status == 200
            assert (await second.request("GET", "/ok")).status == 200
            async with RawHTTP.connect(server.port) as third:
                refused = await third.response()
                assert await third.closed_by_peer()
            await wait_for(lambda: server.connections == 2)
            async with RawHTTP.connect(server.port) as again:
                refused_again = await again.request("GET", "/ok")  # a request in flight too
            async with open_thread(server.url) as thread:  # our client: a typed error
                with pytest.raises(HTTPStatusError) as info:
                    await thread.command(StateGet())
                assert info.value.status == 503 and info.value.retryable
            await first.stream.aclose()
            await wait_for(lambda: server.connections == 1)
            async with RawHTTP.connect(server.port) as fourth:
                assert (await fourth.request("GET", "/ok")).status == 200
    assert refused.status == refused_again.status == 503
    assert "too many connections" in refused.json()["detail"]


async def test_idle_keep_alive_connection_is_closed() -> None:
    async with demo_server(idle_timeout=0.3) as server, RawHTTP.connect(server.port) as http:
        with anyio.fail_after(5):
            for _ in range(3):  # busy (a request every 0.2 s): answered in turn, kept open
                await anyio.sleep(0.2)
                assert (await http.request("GET", "/ok")).status == 200
            answered = anyio.current_time()
            assert await http.closed_by_peer()
            assert 0.25 < anyio.current_time() - answered < 2
            await wait_for(lambda: server.connections == 0)


async def test_malformed_websocket_frames_get_error_envelopes() -> None:
    async with (
        demo_server() as server,
        RawWebSocket.connect(server.port, "/threads/t-1/stream/events") as ws,
    ):
        with anyio.fail_after(5):
            replies = []
            for text in [
                "not json",
                "[1, 2]",
                json.dumps({"id": 7, "method": "no.such", "params": {}}),
                json.dumps({"id": 8}),
                json.dumps({"id": 9, "method": "run.start", "params": {}}),
            ]:
                await ws.send_text(text)
                replies.append(await ws.receive())
            await ws.send_bytes(b"\x00\xff binary")
            replies.append(await ws.receive())
            await ws.send_json(
                {"id": 10, "method": "subscription.subscribe", "params": {"channels": ["values"]}}
            )
            ok = await ws.reply_to(10)
    assert all(r["type"] == "error" and r["message"] for r in replies)
    assert [r["id"] for r in replies] == [None, None, 7, 8, 9, None]
    assert replies[2]["error"] == "unknown_command"
    assert ok["type"] == "success" and ok["result"]["subscription_id"]
    assert ws.closed is None


@pytest.mark.parametrize("how", ["close-frame", "cut"])
async def test_a_websocket_peer_leaving_mid_stream_does_not_hurt_the_server(how: str) -> None:
    async with demo_server() as server:
        with anyio.fail_after(10):
            for _ in range(3):
                async with RawWebSocket.connect(server.port, "/threads/t-1/stream/events") as ws:
                    await ws.send_json(
                        {
                            "id": 1,
                            "method": "subscription.subscribe",
                            "params": {"channels": ["messages", "lifecycle"]},
                        }
                    )
                    await ws.reply_to(1)
                    await ws.send_json(
                        {
                            "id": 2,
                            "method": "run.start",
                            "params": {"assistant_id": "demo", "input": {**FAST, "tokens": 3000}},
                        }
                    )
                    for _ in range(50):  # events are flowing
                        await ws.receive()
                    if how == "close-frame":
                        await ws.stream.send(ws.ws.send(CloseConnection(code=1000)))
                # leaving the block closes the TCP connection at once
                await anyio.sleep(0.05)
            async with open_thread(server.url, "websocket") as thread:
                await thread.run.start(input=FAST)
                await thread.output
            await wait_for(lambda: server.connections == 0)


async def test_an_sse_peer_leaving_mid_stream_does_not_hurt_the_server() -> None:
    async with demo_server(heartbeat=0.05) as server:
        with anyio.fail_after(10):
            for _ in range(3):
                async with RawHTTP.connect(server.port) as http:
                    await http.request(
                        "POST",
                        "/threads/t-1/commands",
                        json.dumps(
                            {
                                "id": 1,
                                "method": "run.start",
                                "params": {
                                    "assistant_id": "demo",
                                    "input": {**FAST, "tokens": 3000},
                                },
                            }
                        ).encode(),
                    )
                    await http.stream.send(
                        b"POST /threads/t-1/stream/events HTTP/1.1\r\nhost: x\r\n"
                        b"content-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
                    )
                    await http.stream.receive(1000)  # the head and the first events
            async with open_thread(server.url, "sse") as thread:
                await thread.run.start(input=FAST)
                await thread.output
            await wait_for(lambda: server.connections <= 1)  # the pooled connection


async def test_a_rejected_stream_request_leaves_no_thread_behind() -> None:
    async with demo_server() as server, RawHTTP.connect(server.port) as http:
        with anyio.fail_after(5):
            rejected = await http.request("POST", "/threads/ghost/stream/events", b"{bad")
            after = await http.request("GET", "/threads/ghost")
    assert rejected.status == 400
    assert after.status == 404 and "ghost" not in server.registry.threads
