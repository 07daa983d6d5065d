"""The reference server's protocol behaviour, over raw HTTP, SSE and WebSocket.

Charter: what ``threadwire serve`` answers on the wire, checked without any
client library of ours (httpx for HTTP and SSE, wsproto over an anyio socket for
WebSocket), on asyncio and on trio, with the server in the test's own loop:

* every command and error code over ``POST /threads/{id}/commands``: success
  envelopes with ``meta.applied_through_seq`` 0, ``unknown_error`` for an unknown
  assistant, HTTP 400 ``{"detail": "Invalid JSON body"}`` for a body that is not
  JSON, HTTP 400 ``invalid_argument`` (offending id echoed) for a bad envelope,
  ``unknown_command``, ``no_such_interrupt``, ``not_supported`` (subscriptions
  over HTTP, unimplemented state commands) and ``invalid_argument``;
* the event-stream request's errors (400) and framing (``event``/``data``/``id``,
  CRLF, headers, heartbeats);
* over WebSocket, ``meta.applied_through_seq`` equals the highest seq written to
  that socket before the reply, malformed frames are answered and never break
  the socket, an oversized message or a dropped peer ends that connection only;
* replay: a client that resumes with ``since`` after any event gets exactly the
  rest, same seq and event id (SSE for every seq of a run; WebSocket
  ``subscription.reconnect`` for every seq and ``subscription.subscribe`` with
  ``since``); a ``since`` older than the buffer gets the gap (SSE 410,
  WebSocket ``resume_gap`` with ``since`` and ``min_available_seq``);
* runs: ``multitaskStrategy`` ``reject`` / ``enqueue`` / ``interrupt`` /
  ``rollback``, ``input.respond``, and a ``run.start`` with input while
  interrupted resuming the run (as the real server does); at most
  ``max_running_runs`` runs execute at once (10, the real server's
  ``N_JOBS_PER_WORKER``), the others wait for a slot, and one cancelled while
  it waits still starts and fails;
* the thread and assistant REST routes, keep-alive and ``connection: close``;
  three hundred clients connecting at once are all accepted and answered;
* failures stay local: a handler bug is answered ``unknown_error`` (and printed),
  an agent that raises fails its run, a full registry answers 503, and the
  server goes on serving.

Where this server deliberately differs from the real one (PROTOCOL.md), the test
asserts this server's answer and says so.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.abc
import h11
import httpx
import pytest
from adapters.helpers import FAST, PLAIN
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Request,
    TextMessage,
)

from threadwire.adapters import _server_threads
from threadwire.adapters._cli import main as cli_main
from threadwire.adapters._demo_script import DEMO_ANSWER, DEMO_INTERRUPT_PAYLOAD, PushPart
from threadwire.adapters._server import ReferenceServer, serve
from threadwire.protocol import Limits
from threadwire.protocol.producer import Part

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0
HEARTBEAT = 0.05
"""The test servers' heartbeat: an idle SSE stream says so this soon after its replay."""

ALL = [
    "values",
    "updates",
    "messages",
    "tools",
    "lifecycle",
    "input",
    "checkpoints",
    "tasks",
    "custom",
]
ENVELOPE = "Protocol commands must include an integer id and string method."


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[tuple[ReferenceServer, httpx.AsyncClient]]:
    """The reference server in this loop, and an httpx client for it."""
    options.setdefault("pace", 0)
    options.setdefault("heartbeat", HEARTBEAT)
    async with (
        serve("127.0.0.1", 0, **options) as server,
        httpx.AsyncClient(
            base_url=server.url, timeout=TIMEOUT, limits=httpx.Limits(max_connections=None)
        ) as client,
    ):
        yield server, client


async def command(
    client: httpx.AsyncClient, thread_id: str, body: Any, *, raw: bytes | None = None
) -> tuple[int, Any]:
    content = raw if raw is not None else json.dumps(body).encode()
    response = await client.post(f"/threads/{thread_id}/commands", content=content)
    return response.status_code, response.json()


async def start(client: httpx.AsyncClient, thread_id: str, run_input: Any, **params: Any) -> str:
    status, reply = await command(
        client,
        thread_id,
        {
            "id": 1,
            "method": "run.start",
            "params": {"assistant_id": "demo", "input": run_input, **params},
        },
    )
    assert status == 200 and reply["type"] == "success", reply
    return str(reply["result"]["run_id"])


async def until(predicate: Callable[[], bool]) -> None:
    """Poll server state that has no event to wait on."""
    with anyio.fail_after(TIMEOUT):
        while not predicate():  # noqa: ASYNC110 - see the docstring
            await anyio.sleep(0.005)


async def settled(server: ReferenceServer, thread_id: str) -> None:
    """Wait until a run began and no run executes or waits on the thread."""

    def quiet() -> bool:
        record = server.registry.get(thread_id)
        return record is not None and bool(record.run_ids) and not record.busy

    await until(quiet)


def root_lifecycle(server: ReferenceServer, thread_id: str) -> list[tuple[str, str, Any]]:
    """``(run_id, event, error)`` of the thread's root lifecycle events, from its log."""
    record = server.registry.get(thread_id)
    assert record is not None
    events = record.log.replay()
    assert isinstance(events, list)
    return [
        (e.event_id.split(":")[1], e.data["event"], e.data.get("error"))
        for e in events
        if e.method == "lifecycle" and not e.namespace
    ]


# -- SSE ------------------------------------------------------------------------------------


class SSE:
    """What one event stream delivered: envelopes, comments, the response head."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.comments: list[str] = []
        self.headers: dict[str, str] = {}
        self.raw = b""


async def read_sse(
    server: ReferenceServer,
    thread_id: str,
    body: Any,
    *,
    until: Callable[[SSE], bool] = lambda s: ": heartbeat" in s.comments,
) -> SSE:
    """Read the stream until ``until`` holds (default: the first heartbeat, i.e. the
    replay is over and nothing else is coming), checking the framing of each block.

    Raw h11 over a socket the test closes itself (no client library in between).
    """
    seen = SSE()
    content = json.dumps(body).encode()
    conn = h11.Connection(h11.CLIENT)
    buffer = b""
    with anyio.fail_after(TIMEOUT):
        async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
            await stream.send(
                conn.send(
                    h11.Request(
                        method="POST",
                        target=f"/threads/{thread_id}/stream/events",
                        headers=[("host", "x"), ("content-length", str(len(content)))],
                    )
                )
                + conn.send(h11.Data(data=content))
                + conn.send(h11.EndOfMessage())
            )
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive())
                    continue
                if isinstance(event, h11.Response):
                    assert event.status_code == 200, event
                    seen.headers = {k.decode(): v.decode() for k, v in event.headers}
                    continue
                assert isinstance(event, h11.Data), event
                seen.raw += event.data
                buffer += event.data
                while b"\r\n\r\n" in buffer:
                    block, buffer = buffer.split(b"\r\n\r\n", 1)
                    text = block.decode()
                    if text.startswith(":"):
                        seen.comments.append(text)
                    else:
                        lines = text.split("\r\n")
                        assert [line.split(": ", 1)[0] for line in lines] == ["event", "data", "id"]
                        fields = dict(line.split(": ", 1) for line in lines)
                        envelope = json.loads(fields["data"])
                        assert fields["event"] == envelope["method"]
                        assert fields["id"] == str(envelope["seq"])
                        seen.events.append(envelope)
                    if until(seen):
                        return seen


# -- WebSocket ----------------------------------------------------------------------------


class WS:
    """A raw WebSocket client: JSON text frames in and out, nothing more."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[Any] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None

    async def _pump(self) -> None:
        try:
            data = await self.stream.receive(65536)
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            data = b""
        self.ws.receive_data(data or None)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.pending.append("accepted")
            elif isinstance(event, TextMessage):
                assert event.message_finished
                self.pending.append(json.loads(event.data))
            elif isinstance(event, CloseConnection):
                self.close_code, self.close_reason = event.code, event.reason
                with contextlib.suppress(Exception):
                    await self.stream.send(self.ws.send(event.response()))
                self.pending.append(None)
        if not data and self.close_code is None:
            self.close_code = 1006
            self.pending.append(None)

    async def recv(self) -> Any:
        """The next frame as JSON; None once the socket closed."""
        with anyio.fail_after(TIMEOUT):
            while not self.pending:
                await self._pump()
        return self.pending.pop(0)

    async def send(self, obj: Any) -> None:
        await self.send_text(json.dumps(obj))

    async def send_text(self, text: str) -> None:
        await self.stream.send(self.ws.send(TextMessage(data=text)))

    async def send_bytes(self, data: bytes) -> None:
        await self.stream.send(self.ws.send(BytesMessage(data=data)))

    async def until_reply(self, command_id: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The events received before the reply to ``command_id``, and the reply."""
        events = []
        while True:
            frame = await self.recv()
            assert frame is not None, "the socket closed"
            if frame.get("type") == "event":
                events.append(frame)
            elif frame.get("id") == command_id:
                return events, frame
            else:
                raise AssertionError(f"unexpected frame {frame}")

    async def call(self, command_id: Any, method: str, **params: Any) -> dict[str, Any]:
        await self.send({"id": command_id, "method": method, "params": params})
        events, reply = await self.until_reply(command_id)
        assert not events, events
        return reply


@contextlib.asynccontextmanager
async def ws_connect(server: ReferenceServer, thread_id: str) -> AsyncIterator[WS]:
    stream = await anyio.connect_tcp("127.0.0.1", server.port)
    async with stream:
        client = WS(stream)
        await stream.send(
            client.ws.send(Request(host="127.0.0.1", target=f"/threads/{thread_id}/stream/events"))
        )
        assert await client.recv() == "accepted"
        yield client


def success(command_id: Any, result: Any, applied: int = 0) -> dict[str, Any]:
    return {
        "type": "success",
        "id": command_id,
        "result": result,
        "meta": {"applied_through_seq": applied},
    }


def error(command_id: Any, code: str, message: str, applied: int = 0) -> dict[str, Any]:
    return {
        "type": "error",
        "id": command_id,
        "error": code,
        "message": message,
        "meta": {"applied_through_seq": applied},
    }


# -- commands over HTTP ------------------------------------------------------------------------


async def test_commands_over_http_and_their_errors() -> None:
    async with running() as (server, client):
        status, reply = await command(
            client,
            "t1",
            {"id": 1, "method": "run.start", "params": {"assistant_id": "demo", "input": FAST}},
        )
        assert status == 200
        assert reply == success(1, {"run_id": reply["result"]["run_id"]})
        assert re.fullmatch(r"[0-9a-f-]{36}", reply["result"]["run_id"])
        await settled(server, "t1")

        cases: list[tuple[bytes, int, dict[str, Any]]] = [
            (
                b'{"id":2,"method":"run.start","params":{"assistant_id":"nope"}}',
                200,
                error(2, "unknown_error", "422: Invalid assistant: 'nope'"),
            ),
            (
                b'{"id":3,"method":"run.start","params":{}}',
                200,
                error(3, "invalid_argument", "run.start requires an assistant_id."),
            ),
            (
                b'{"id":4,"method":"run.start","params":{"assistant_id":"demo","input":{"x":1}}}',
                200,
                error(4, "invalid_argument", "run.start: unknown demo input keys: x"),
            ),
            (
                b'{"id":5,"method":"run.start","params":{"assistant_id":"demo",'
                b'"multitaskStrategy":"bogus"}}',
                200,
                error(5, "invalid_argument", "run.start: unsupported multitaskStrategy 'bogus'"),
            ),
            (
                b'{"id":6,"method":"nope.method","params":{}}',
                200,
                error(6, "unknown_command", "Unknown protocol command: nope.method"),
            ),
            (
                b'{"id":0,"method":"nope"}',
                200,
                error(0, "unknown_command", "Unknown protocol command: nope"),
            ),
            (
                b'{"id":-5,"method":"nope"}',
                200,
                error(-5, "unknown_command", "Unknown protocol command: nope"),
            ),
            (
                b'{"id":7,"method":"input.respond","params":{"interrupt_id":"deadbeef",'
                b'"namespace":[],"response":"yes"}}',
                200,
                error(7, "no_such_interrupt", "Unknown or already-consumed interrupt: deadbeef"),
            ),
            # Bad envelopes: HTTP 400, the offending id echoed (or null).
            (b"[]", 400, error(None, "invalid_argument", ENVELOPE)),
            (b'{"method":"run.start","params":{}}', 400, error(None, "invalid_argument", ENVELOPE)),
            (b'{"id":"x","method":"run.start"}', 400, error("x", "invalid_argument", ENVELOPE)),
            (b'{"id":8}', 400, error(8, "invalid_argument", ENVELOPE)),
            (b'{"id":9,"method":7}', 400, error(9, "invalid_argument", ENVELOPE)),
        ]
        for body, want_status, want in cases:
            status, reply = await command(client, "t1", None, raw=body)
            assert (status, reply) == (want_status, want), body

        # Not JSON at all: the framework's answer, not a protocol envelope (as the server).
        for body in (b"{bad", b"", b"\xff"):
            assert await command(client, "t1", None, raw=body) == (
                400,
                {"detail": "Invalid JSON body"},
            )

        # This server serves state.get and agent.getTree over HTTP too (the real
        # server: unknown_command and no_such_run); subscriptions need a socket
        # here (the real server pretends to subscribe), the rest is not_supported.
        status, reply = await command(
            client, "t1", {"id": 10, "method": "state.get", "params": {"namespace": []}}
        )
        assert reply["type"] == "success" and reply["result"]["values"]["messages"]
        status, reply = await command(
            client, "t1", {"id": 11, "method": "agent.getTree", "params": {}}
        )
        assert reply == success(
            11, {"tree": {"namespace": [], "status": "completed", "graph_name": "demo"}}
        )
        for method, params in [
            ("subscription.subscribe", {"channels": ["values"]}),
            ("subscription.unsubscribe", {"subscription_id": "sub-1"}),
            ("subscription.reconnect", {"channels": ["values"], "since": 0}),
            ("state.listCheckpoints", {}),
            ("state.fork", {"checkpoint_id": "x"}),
        ]:
            status, reply = await command(
                client, "t1", {"id": 12, "method": method, "params": params}
            )
            assert status == 200 and reply["type"] == "error", reply
            assert reply["error"] == "not_supported", reply
        status, reply = await command(client, "fresh", {"id": 13, "method": "agent.getTree"})
        assert reply == error(13, "no_such_run", "No run has started on this thread.")


async def test_interrupt_respond_and_resume_by_run_start() -> None:
    async with running() as (server, client):
        first = await start(client, "t", {})
        await settled(server, "t")
        thread = (await client.get("/threads/t")).json()
        assert thread["status"] == "interrupted"
        state = (await client.get("/threads/t/state")).json()
        (interrupt,) = state["interrupts"]
        assert interrupt["value"] == DEMO_INTERRUPT_PAYLOAD and state["next"] and state["tasks"]
        # The wrong namespace, and an unknown id, consume nothing.
        status, reply = await command(
            client,
            "t",
            {
                "id": 2,
                "method": "input.respond",
                "params": {"interrupt_id": interrupt["id"], "namespace": ["x"], "response": 1},
            },
        )
        assert (status, reply["error"]) == (200, "no_such_interrupt")
        status, reply = await command(
            client,
            "t",
            {
                "id": 3,
                "method": "input.respond",
                "params": {"interrupt_id": interrupt["id"], "response": {"ok": True}},
            },
        )
        assert (status, reply) == (200, success(3, {}))
        await settled(server, "t")
        assert (await client.get("/threads/t")).json()["values"]["approved"] == {"ok": True}
        _, reply = await command(
            client,
            "t",
            {
                "id": 4,
                "method": "input.respond",
                "params": {"interrupt_id": interrupt["id"], "response": 1},
            },
        )
        assert reply["error"] == "no_such_interrupt"  # already consumed

        # A run.start with input while interrupted is the resume value (B10).
        second = await start(client, "u", {"tools": False, "subagents": False})
        await settled(server, "u")
        resumed = await start(client, "u", {"approved": "via-run-start"})
        await settled(server, "u")
        values = (await client.get("/threads/u/state")).json()["values"]
        assert values["approved"] == {"approved": "via-run-start"}
        assert values["messages"][-1]["content"][0]["text"] == DEMO_ANSWER
        assert [(r, e) for r, e, _ in root_lifecycle(server, "u")] == [
            (second, "running"),
            (second, "interrupted"),
            (resumed, "running"),
            (resumed, "completed"),
        ]
        # Without input it is a new run, which drops the interrupt.
        await start(client, "t", {"interrupt": True, **FAST})
        await settled(server, "t")
        again = await start(client, "t", None)
        await settled(server, "t")
        assert root_lifecycle(server, "t")[-2:] == [
            (again, "running", None),
            (again, "interrupted", None),
        ]
        assert first != again


@pytest.mark.parametrize("strategy", ["reject", "enqueue", "interrupt", "rollback"])
async def test_multitask_strategies(strategy: str) -> None:
    slow = {**FAST, "delay": 0.02}  # about 0.6 s: still running when the others come
    quick = {**FAST, "delay": 0.001}
    async with running(pace=1) as (server, client):
        first = await start(client, "t", slow)
        params = {} if strategy == "enqueue" else {"multitaskStrategy": strategy}
        if strategy == "reject":
            _, reply = await command(
                client,
                "t",
                {
                    "id": 2,
                    "method": "run.start",
                    "params": {"assistant_id": "demo", "input": slow, **params},
                },
            )
            assert reply == error(
                2, "invalid_argument", "Thread is busy with another run (multitaskStrategy reject)"
            )
            await settled(server, "t")
            assert root_lifecycle(server, "t") == [
                (first, "running", None),
                (first, "completed", None),
            ]
            return
        second = await start(client, "t", quick)  # enqueued behind the first
        third = await start(client, "t", quick, **params)
        assert (await client.get("/threads/t")).json()["status"] == "busy"
        await settled(server, "t")
        runs = root_lifecycle(server, "t")
        executed = server.registry.get("t").run_ids
        if strategy == "enqueue":  # one at a time, in order
            assert runs == [
                (r, e, None) for r in (first, second, third) for e in ("running", "completed")
            ]
            assert executed == [first, second, third]
        else:  # the running run is cancelled, the waiting one dropped
            assert runs == [
                (first, "running", None),
                (first, "failed", "run cancelled"),
                (third, "running", None),
                (third, "completed", None),
            ]
            assert executed == [first, third]


# -- SSE requests -------------------------------------------------------------------------------


async def test_event_stream_requests_and_framing() -> None:
    async with running() as (server, client):
        bad = [
            (b"{bad", "Invalid JSON body"),
            (b"[]", "the request body must be a JSON object"),
            (b'{"channels":[]}', "channels is required and must be a non-empty array"),
            (
                b'{"channels":["values","debug","bogus"]}',
                "channels contains unsupported entries: debug, bogus. Allowed: ",
            ),
            (b'{"channels":["custom:"]}', "channels contains unsupported entries: custom:."),
            (b'{"channels":["values"],"since":-1}', "since must be a non-negative integer"),
            (b'{"channels":["values"],"since":3}', "since=3 is ahead of the log"),
            (b'{"channels":["values"],"depth":false}', "depth must be a non-negative integer"),
            (b'{"channels":["values"],"namespaces":"x"}', "namespaces must be an array"),
        ]
        for body, detail in bad:
            response = await client.post("/threads/t/stream/events", content=body)
            assert response.status_code == 400, body
            assert set(response.json()) == {"detail"}
            assert response.json()["detail"].startswith(detail), response.json()

        await start(client, "t", FAST)
        await settled(server, "t")
        seen = await read_sse(server, "t", {"channels": ["lifecycle", "values"]})
        assert seen.headers is not None
        assert seen.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert seen.headers["cache-control"] == "no-store"
        assert seen.headers["x-accel-buffering"] == "no"
        assert seen.headers["transfer-encoding"] == "chunked"
        assert seen.raw.startswith(b"event: lifecycle\r\ndata: {")
        assert seen.raw.endswith(b": heartbeat\r\n\r\n")
        assert {e["method"] for e in seen.events} == {"lifecycle", "values"}
        seqs = [e["seq"] for e in seen.events]
        assert seqs == sorted(seqs) and seqs[-1] == server.registry.get("t").log.high_seq
        assert len(seqs) < seqs[-1]  # filtered: seq counts every event, so there are gaps
        # Root only (depth 0) and a namespace prefix without the task id.
        root = await read_sse(server, "t", {"channels": ["values"], "namespaces": [[]], "depth": 0})
        assert root.events and all(e["params"]["namespace"] == [] for e in root.events)
        # A stream on a thread that never ran is a live, idle stream (200).
        idle = await read_sse(server, "never-ran", {"channels": ["values"]})
        assert idle.events == [] and idle.comments == [": heartbeat"]


async def test_sse_goes_live_after_its_replay() -> None:
    async with running() as (server, client), anyio.create_task_group() as tg:
        got: list[SSE] = []

        async def listen() -> None:
            got.append(
                await read_sse(
                    server,
                    "t",
                    {"channels": ["lifecycle"]},
                    until=lambda s: any(
                        e["params"]["data"]["event"] == "completed" for e in s.events
                    ),
                )
            )

        tg.start_soon(listen)
        await until(
            lambda: server.registry.get("t") is not None and server.registry.get("t").log.sinks > 0
        )
        run_id = await start(client, "t", FAST)
    assert [(e["event_id"].split(":")[1], e["params"]["data"]["event"]) for e in got[0].events] == [
        (run_id, "running"),
        (run_id, "completed"),
    ]


# -- WebSocket ------------------------------------------------------------------------------------


async def test_applied_through_seq_is_the_highest_seq_written_before_the_reply() -> None:
    async with (
        running(pace=1) as (server, _),
        ws_connect(server, "t") as everything,
        ws_connect(server, "t") as lifecycle_only,
    ):
        assert await everything.call(1, "subscription.subscribe", channels=ALL) == success(
            1, {"subscription_id": "sub-1", "replayed_events": 0}
        )
        assert (await lifecycle_only.call(1, "subscription.subscribe", channels=["lifecycle"]))[
            "result"
        ]["replayed_events"] == 0
        await everything.send(
            {
                "id": 2,
                "method": "run.start",
                "params": {"assistant_id": "demo", "input": {**PLAIN, "delay": 0.001}},
            }
        )

        async def check(ws: WS, first_id: int) -> tuple[int, int]:
            """Read to the run's end, asking agent.getTree as events arrive; every reply's
            applied_through_seq must be the highest seq this socket received before it."""
            highest, asked, answered, next_id, done = 0, 0, 0, first_id, False
            while not done or answered < asked:
                frame = await ws.recv()
                assert frame is not None
                if frame["type"] == "event":
                    assert frame["seq"] > highest
                    highest = frame["seq"]
                    done = done or (
                        frame["method"] == "lifecycle"
                        and frame["params"]["namespace"] == []
                        and frame["params"]["data"]["event"] == "completed"
                    )
                    if not done and highest % 3 == 0:
                        await ws.send({"id": next_id, "method": "agent.getTree", "params": {}})
                        next_id += 1
                        asked += 1
                else:
                    assert frame["meta"]["applied_through_seq"] == highest, (frame, highest)
                    if frame["id"] >= first_id:
                        answered += 1
            return highest, asked

        async with anyio.create_task_group() as tg:
            results: dict[str, tuple[int, int]] = {}

            async def run(name: str, ws: WS, first_id: int) -> None:
                results[name] = await check(ws, first_id)

            tg.start_soon(run, "everything", everything, 3)
            tg.start_soon(run, "lifecycle", lifecycle_only, 3)
        high = server.registry.get("t").log.high_seq
        assert results["everything"][0] == high and results["everything"][1] > 5
        assert results["lifecycle"][0] == high  # the root terminal is the last event
        # After the run: a reply says everything was written.
        reply = await lifecycle_only.call(99, "agent.getTree")
        assert reply["meta"]["applied_through_seq"] == high


BAD_JSON = "Protocol commands must be valid JSON."
ALLOWED = (
    "values, updates, messages, tools, lifecycle, input, custom, tasks, checkpoints, or "
    "any `custom:<name>`."
)
MALFORMED: list[tuple[str | bytes, dict[str, Any]]] = [
    ("not json", error(None, "invalid_argument", BAD_JSON)),
    (b"\xff\x00binary", error(None, "invalid_argument", BAD_JSON)),
    ("[]", error(None, "invalid_argument", ENVELOPE)),
    ("null", error(None, "invalid_argument", ENVELOPE)),
    ('{"id":"x","method":"run.start"}', error("x", "invalid_argument", ENVELOPE)),
    ('{"id":1}', error(1, "invalid_argument", ENVELOPE)),
    ('{"id":2,"method":"nope"}', error(2, "unknown_command", "Unknown protocol command: nope")),
    (
        '{"id":3,"method":"run.start","params":"x"}',
        error(3, "invalid_argument", "run.start: params must be an object."),
    ),
    (
        '{"id":4,"method":"subscription.subscribe","params":{"channels":["bogus"]}}',
        error(
            4,
            "invalid_argument",
            "subscription.subscribe: channels contains unsupported "
            f"entries: bogus. Allowed: {ALLOWED}",
        ),
    ),
    (
        '{"id":5,"method":"subscription.unsubscribe","params":{"subscription_id":"nope"}}',
        error(5, "no_such_subscription", "Unknown subscription: nope"),
    ),
    (
        '{"id":6,"method":"subscription.subscribe","params":{"channels":["values"],"since":-1}}',
        error(
            6,
            "invalid_argument",
            "subscription.subscribe: since must be a non-negative integer, got -1",
        ),
    ),
    (
        "x" * 5000,
        error(
            None,
            "invalid_argument",
            "Protocol command of 5000 bytes exceeds the limit of 4096 bytes.",
        ),
    ),
]
"""Frames a client should not send, and the answer to each (the socket stays open)."""


async def test_malformed_frames_never_break_the_socket() -> None:
    limits = Limits(max_line_length=4096, max_message_size=8192)
    async with running(limits=limits) as (server, _):
        async with ws_connect(server, "t") as ws:
            for frame, want in MALFORMED:
                if isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                else:
                    await ws.send_text(frame)
                assert await ws.recv() == want, frame
            subscribed = await ws.call(7, "subscription.subscribe", channels=["lifecycle"])
            assert subscribed == success(7, {"subscription_id": "sub-1", "replayed_events": 0})
            gone = await ws.call(8, "subscription.unsubscribe", subscription_id="sub-1")
            assert gone == success(8, {})
            again = await ws.call(9, "subscription.unsubscribe", subscription_id="sub-1")
            assert again["error"] == "no_such_subscription"
            no_since = await ws.call(10, "subscription.reconnect", channels=["values"])
            assert no_since["error"] == "invalid_argument"  # since is required
            # Still the same socket: a run's events arrive on it.
            await ws.call(11, "subscription.subscribe", channels=["lifecycle"])
            await ws.send(
                {"id": 12, "method": "run.start", "params": {"assistant_id": "demo", "input": FAST}}
            )
            events, reply = await ws.until_reply(12)
            assert reply["type"] == "success"
            events += [await ws.recv() for _ in range(2 - len(events))]
            assert [e["params"]["data"]["event"] for e in events] == ["running", "completed"]

            # A message over max_message_size ends this connection with 1009.
            await ws.send_text("y" * 9000)
            assert await ws.recv() is None
            assert ws.close_code == 1009
        async with ws_connect(server, "t") as other:  # not the server
            assert (await other.call(1, "agent.getTree"))["type"] == "success"


async def test_socket_close_and_drop_end_only_that_connection() -> None:
    async with running(pace=1) as (server, client):
        async with ws_connect(server, "t") as ws:
            await ws.call(1, "subscription.subscribe", channels=ALL)
            await ws.stream.send(ws.ws.send(CloseConnection(code=1000, reason="bye")))
            assert await ws.recv() is None
            assert ws.close_code == 1000
        # A peer that resets its socket while its events are being written.
        stream = await anyio.connect_tcp("127.0.0.1", server.port)
        dropped = WS(stream)
        await stream.send(dropped.ws.send(Request(host="x", target="/threads/t/stream/events")))
        assert await dropped.recv() == "accepted"
        await dropped.send(
            {"id": 1, "method": "subscription.subscribe", "params": {"channels": ALL}}
        )
        await dropped.send(
            {
                "id": 2,
                "method": "run.start",
                "params": {"assistant_id": "demo", "input": {**PLAIN, "delay": 0.001}},
            }
        )
        await dropped.recv()
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()
        await settled(server, "t")
        # A subscribe and a close in one write: nothing is answered after the close.
        async with ws_connect(server, "t") as both:
            await both.stream.send(
                both.ws.send(
                    TextMessage(
                        data=json.dumps(
                            {
                                "id": 1,
                                "method": "subscription.subscribe",
                                "params": {"channels": ALL},
                            }
                        )
                    )
                )
                + both.ws.send(CloseConnection(code=1000))
            )
            assert await both.recv() is None and both.close_code == 1000
        assert (await client.get("/ok")).json() == {"ok": True}
        await until(lambda: server.connections == 1)  # only the httpx client's is left


async def test_websocket_respond_checks_the_namespace_and_overlaps_deliver_once() -> None:
    async with running() as (server, _), ws_connect(server, "t") as ws:
        await ws.call(1, "subscription.subscribe", channels=["lifecycle", "input"])
        await ws.call(2, "subscription.subscribe", channels=["lifecycle"], namespaces=[[]])
        await ws.send(
            {"id": 3, "method": "run.start", "params": {"assistant_id": "demo", "input": {}}}
        )
        frames = []
        while not frames or frames[-1]["params"]["data"].get("event") != "interrupted":
            frame = await ws.recv()
            if frame["type"] == "event":
                frames.append(frame)
        ids = [f["event_id"] for f in frames]
        assert len(ids) == len(set(ids))  # overlapping subscriptions: each event once
        (requested,) = [f for f in frames if f["method"] == "input.requested"]
        interrupt_id = requested["params"]["data"]["interrupt_id"]
        assert requested["params"]["data"] == {
            "interrupt_id": interrupt_id,
            "payload": DEMO_INTERRUPT_PAYLOAD,
        }
        reply = await ws.call(
            4, "input.respond", interrupt_id=interrupt_id, namespace=["elsewhere"], response=True
        )
        assert reply["error"] == "no_such_interrupt" and "namespace" in reply["message"]
        await ws.send(
            {
                "id": 5,
                "method": "input.respond",
                "params": {"interrupt_id": interrupt_id, "namespace": [], "response": True},
            }
        )
        events, reply = await ws.until_reply(5)
        assert reply["type"] == "success" and reply["result"] == {}
        while not events or events[-1]["params"]["data"].get("event") != "completed":
            events.append(await ws.recv())
        assert [e["params"]["data"]["event"] for e in events] == ["running", "completed"]


# -- replay -------------------------------------------------------------------------------------


async def finished_run(server: ReferenceServer, client: httpx.AsyncClient, thread_id: str) -> int:
    await start(client, thread_id, PLAIN)
    await settled(server, thread_id)
    return server.registry.get(thread_id).log.high_seq


async def test_sse_resume_after_every_event_gets_exactly_the_rest() -> None:
    async with running() as (server, client):
        high = await finished_run(server, client, "t")
        assert high > 50
        full = (await read_sse(server, "t", {"channels": ALL})).events
        assert [e["seq"] for e in full] == list(range(1, high + 1))
        assert len({e["event_id"] for e in full}) == high
        rest: dict[int, list[dict[str, Any]]] = {}
        lifecycle: dict[int, list[dict[str, Any]]] = {}

        async def resume(since: int) -> None:
            rest[since] = (await read_sse(server, "t", {"channels": ALL, "since": since})).events
            lifecycle[since] = (
                await read_sse(server, "t", {"channels": ["lifecycle"], "since": since})
            ).events

        async with anyio.create_task_group() as tg:
            for since in range(high + 1):
                tg.start_soon(resume, since)
        for since in range(high + 1):
            assert rest[since] == full[since:], since  # same seq, same event_id, same event
            assert lifecycle[since] == [e for e in full[since:] if e["method"] == "lifecycle"]


async def test_websocket_resume_after_every_event_gets_exactly_the_rest() -> None:
    async with running() as (server, client), ws_connect(server, "t") as ws:
        high = await finished_run(server, client, "t")
        full = (await read_sse(server, "t", {"channels": ALL})).events
        for since in range(high + 1):
            await ws.send(
                {
                    "id": since,
                    "method": "subscription.reconnect",
                    "params": {"channels": ALL, "since": since, "subscription_id": "resumed"},
                }
            )
            events, reply = await ws.until_reply(since)
            assert events == full[since:], since
            assert reply == success(
                since, {"subscription_id": "resumed", "replayed_events": high - since}, applied=high
            )
        for since in (0, 1, high // 2, high - 1, high):
            await ws.send(
                {
                    "id": 1000 + since,
                    "method": "subscription.subscribe",
                    "params": {"channels": ALL, "since": since},
                }
            )
            events, reply = await ws.until_reply(1000 + since)
            assert events == full[since:], since
            sub_id = reply["result"]["subscription_id"]
            assert reply["result"]["replayed_events"] == high - since
            gone = await ws.call(2000 + since, "subscription.unsubscribe", subscription_id=sub_id)
            assert gone["type"] == "success"
        ahead = await ws.call(1, "subscription.reconnect", channels=ALL, since=high + 1)
        assert ahead["error"] == "invalid_argument"


async def test_since_older_than_the_buffer_is_a_gap() -> None:
    async with running(buffer_size=20) as (server, client), ws_connect(server, "t") as ws:
        high = await finished_run(server, client, "t")
        oldest = high - 19
        assert server.registry.get("t").log.min_available_seq == oldest
        for since in (0, 1, oldest - 2):
            response = await client.post(
                "/threads/t/stream/events", json={"channels": ALL, "since": since}
            )
            assert response.status_code == 410
            body = response.json()
            assert body == {
                "detail": body["detail"],
                "error": "resume_gap",
                "since": since,
                "min_available_seq": oldest,
            }
            assert f"since={since} is older than the replay buffer" in body["detail"]
            for method in ("subscription.reconnect", "subscription.subscribe"):
                reply = await ws.call(since, method, channels=ALL, since=since)
                assert reply["type"] == "error" and reply["error"] == "resume_gap"
                assert (reply["since"], reply["min_available_seq"]) == (since, oldest)
        # The oldest resumable point and everything after it still replay exactly.
        edge = await read_sse(server, "t", {"channels": ALL, "since": oldest - 1})
        assert [e["seq"] for e in edge.events] == list(range(oldest, high + 1))
        # No since: what is held, with a comment saying where it starts.
        held = await read_sse(server, "t", {"channels": ALL})
        assert held.comments[0] == (
            f": replay starts at seq {oldest}: older events are no longer held"
        )
        assert held.events == edge.events
        await ws.send({"id": 99, "method": "subscription.subscribe", "params": {"channels": ALL}})
        events, reply = await ws.until_reply(99)
        assert events == edge.events
        assert reply["result"] == {
            "subscription_id": "sub-1",
            "replayed_events": 20,
            "min_available_seq": oldest,
        }


# -- REST routes and HTTP -------------------------------------------------------------------------


async def test_thread_and_assistant_routes() -> None:
    async with running() as (server, client):
        assert (await client.get("/ok")).json() == {"ok": True}
        assert (await client.get("/info")).json()["version"] == "threadwire-reference"
        created = await client.post("/threads", json={})
        assert created.status_code == 200
        thread = created.json()
        assert re.fullmatch(r"[0-9a-f-]{36}", thread["thread_id"])
        assert (thread["status"], thread["metadata"], thread["values"]) == ("idle", {}, None)
        named = await client.post("/threads", json={"thread_id": "mine", "metadata": {"a": 1}})
        assert named.json()["thread_id"] == "mine" and named.json()["metadata"] == {"a": 1}
        assert (await client.post("/threads", json={"thread_id": "mine"})).status_code == 409
        assert (
            await client.post("/threads", json={"thread_id": "mine", "if_exists": "raise"})
        ).status_code == 409
        same = await client.post("/threads", json={"thread_id": "mine", "if_exists": "do_nothing"})
        assert same.status_code == 200 and same.json()["metadata"] == {"a": 1}
        for body, status in [
            (b"{bad", 400),
            (b"[]", 422),
            (b'{"thread_id":5}', 422),
            (b'{"metadata":[1]}', 422),
            (b'{"if_exists":"x"}', 422),
        ]:
            assert (await client.post("/threads", content=body)).status_code == status, body
        assert (await client.get("/threads/mine")).json()["status"] == "idle"
        state = (await client.get("/threads/mine/state")).json()
        assert (state["values"], state["next"], state["tasks"], state["interrupts"]) == (
            {},
            [],
            [],
            [],
        )
        assert (await client.get("/threads/nope")).status_code == 404
        assert (await client.get("/threads/nope/state")).status_code == 404
        assistant = (await client.get("/assistants/demo")).json()
        assert (assistant["assistant_id"], assistant["graph_id"]) == ("demo", "demo")
        assert (await client.get("/assistants/agent")).json()["graph_id"] == "demo"
        graph = (await client.get("/assistants/demo/graph")).json()
        assert {n["id"] for n in graph["nodes"]} >= {"__start__", "__end__"} and graph["edges"]
        assert (await client.get("/assistants/nope")).status_code == 404
        assert (await client.get("/assistants/demo/nope")).status_code == 404
        assert (await client.get("/nope")).status_code == 404
        for method, path, allow in [
            ("GET", "/threads/mine/stream/events", "POST, GET (WebSocket upgrade)"),
            ("PUT", "/threads/mine/stream/events", "POST, GET (WebSocket upgrade)"),
            ("GET", "/threads/mine/commands", "POST"),
        ]:
            response = await client.request(method, path)
            assert response.status_code == 405 and response.headers["allow"] == allow
            assert response.json() == {"detail": "Method Not Allowed"}
        # run.start creates the thread it names.
        await start(client, "lazy", FAST)
        await settled(server, "lazy")
        assert (await client.get("/threads/lazy")).json()["status"] == "idle"


async def test_keep_alive_and_connection_close() -> None:
    async with running() as (server, _):
        stream = await anyio.connect_tcp("127.0.0.1", server.port)
        async with stream:
            conn = h11.Connection(h11.CLIENT)

            async def exchange(
                method: str, target: str, body: bytes = b"", close: bool = False
            ) -> tuple[int, bytes]:
                headers = [("host", "x"), ("content-length", str(len(body)))]
                if close:
                    headers.append(("connection", "close"))
                await stream.send(
                    conn.send(h11.Request(method=method, target=target, headers=headers)) or b""
                )
                await stream.send(
                    (conn.send(h11.Data(data=body)) if body else b"")
                    + (conn.send(h11.EndOfMessage()) or b"")
                )
                status, out = 0, b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await stream.receive())
                    elif isinstance(event, h11.Response):
                        status = event.status_code
                    elif isinstance(event, h11.Data):
                        out += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        return status, out

            assert await exchange("GET", "/ok") == (200, b'{"ok":true}')
            conn.start_next_cycle()
            status, body = await exchange(
                "POST",
                "/threads/k/commands",
                json.dumps(
                    {
                        "id": 1,
                        "method": "run.start",
                        "params": {"assistant_id": "demo", "input": FAST},
                    }
                ).encode(),
            )
            assert status == 200 and json.loads(body)["type"] == "success"
            conn.start_next_cycle()
            assert (await exchange("GET", "/threads/k"))[0] == 200
            conn.start_next_cycle()
            assert await exchange("GET", "/ok", close=True) == (200, b'{"ok":true}')
            with (
                anyio.fail_after(TIMEOUT),
                pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)),
            ):
                await stream.receive()  # the server closed the connection


async def test_runs_beyond_max_running_runs_wait_for_a_slot() -> None:
    slow = {**FAST, "delay": 0.01}
    async with running(pace=1, max_running_runs=2) as (server, client):
        runs = [await start(client, f"t{i}", slow) for i in range(4)]
        busiest = 0

        def all_done() -> bool:
            nonlocal busiest
            busiest = max(busiest, server.registry.run_slots.borrowed_tokens)
            return all(root_lifecycle(server, f"t{i}")[-1:] != [] for i in range(4)) and all(
                root_lifecycle(server, f"t{i}")[-1][1] == "completed" for i in range(4)
            )

        await until(lambda: server.registry.run_slots.borrowed_tokens == 2)
        # Two execute; the other two are pending: nothing in their logs yet.
        assert root_lifecycle(server, "t2") == root_lifecycle(server, "t3") == []
        await until(all_done)
    assert busiest == 2
    assert [root_lifecycle(server, f"t{i}")[0][0] for i in range(4)] == runs


async def test_a_run_cancelled_while_it_waits_for_a_slot_still_starts_and_fails() -> None:
    slow = {**FAST, "delay": 0.01}
    async with running(pace=1, max_running_runs=1) as (server, client):
        await start(client, "busy", slow)
        pending = await start(client, "t", FAST)  # waits for the one slot
        await until(lambda: server.registry.run_slots.borrowed_tokens == 1)
        newer = await start(client, "t", FAST, multitaskStrategy="interrupt")
        await settled(server, "t")
        assert root_lifecycle(server, "t") == [
            (pending, "running", None),
            (pending, "failed", "run cancelled"),
            (newer, "running", None),
            (newer, "completed", None),
        ]


def test_the_registry_needs_at_least_one_run_slot() -> None:
    with pytest.raises(ValueError, match="max_running_runs"):
        _server_threads.ThreadRegistry(None, max_running_runs=0)  # type: ignore[arg-type]


async def test_many_clients_connecting_at_once_are_all_served() -> None:
    async with running() as (server, _client):

        async def ok(results: list[int]) -> None:
            stream = await anyio.connect_tcp("127.0.0.1", server.port)
            async with stream:
                await stream.send(b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                data = b""
                while chunk := await stream.receive():
                    data += chunk
                    if data.endswith(b'{"ok":true}'):
                        break
            results.append(int(data.split(b" ", 2)[1]))

        results: list[int] = []
        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tg:
                for _ in range(300):
                    tg.start_soon(ok, results)
    assert results == [200] * 300


def test_serve_rejects_a_buffer_size_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["serve", "--buffer-size", "0"]) == 2
    assert "--buffer-size must be at least 1" in capsys.readouterr().err
    assert cli_main(["serve", "--gc-threshold", "-1"]) == 2
    assert "--gc-threshold must be 0 or more" in capsys.readouterr().err
    assert cli_main(["serve", "--max-running-runs", "0"]) == 2
    assert "--max-running-runs must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "thresholds"),
    [
        ([], [(50_000, 20, 20)]),
        (["--gc-threshold", "1234"], [(1234, 20, 20)]),
        (["--gc-threshold", "0"], []),
    ],
)
def test_serve_sets_the_collector_thresholds_of_its_process(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], thresholds: list[tuple[int, ...]]
) -> None:
    import gc

    from threadwire.adapters import _cli_serve

    calls: list[tuple[int, ...]] = []
    monkeypatch.setattr(gc, "set_threshold", lambda *args: calls.append(args))
    monkeypatch.setattr(_cli_serve.anyio, "run", lambda *args, **kwargs: None)
    assert cli_main(["serve", *argv]) == 0
    assert calls == thresholds


async def test_failures_end_a_request_or_a_run_not_the_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken_tree(self: Any, command: Any) -> Any:
        raise ZeroDivisionError("a handler bug")

    def broken_agent(run_input: Any, *, interrupt_id: str) -> Any:
        yield PushPart(Part("values", (), {"step": 1}))
        raise RuntimeError("the agent broke")

    monkeypatch.setattr(_server_threads.ThreadHandler, "get_tree", broken_tree)
    monkeypatch.setattr(_server_threads, "demo_steps", broken_agent)
    async with running() as (server, client):
        # A handler bug: answered unknown_error, printed, and the server goes on.
        status, reply = await command(client, "t", {"id": 1, "method": "agent.getTree"})
        assert (status, reply) == (
            200,
            error(1, "unknown_error", "ZeroDivisionError: a handler bug"),
        )
        assert "ZeroDivisionError: a handler bug" in capsys.readouterr().err
        # An agent that raises: its run fails with the exception's text.
        run_id = await start(client, "t", {})
        await settled(server, "t")
        assert root_lifecycle(server, "t") == [
            (run_id, "running", None),
            (run_id, "failed", "RuntimeError: the agent broke"),
        ]
        # A full registry: no new thread, 503, and the known ones still work.
        server.registry.max_threads = 1
        response = await client.post("/threads/other/commands", json={"id": 2, "method": "x"})
        assert response.status_code == 503
        assert response.json() == {"detail": "too many threads (max 1)"}
        assert (await client.post("/threads", json={})).status_code == 503
        assert (await client.get("/threads/t")).json()["status"] == "idle"
