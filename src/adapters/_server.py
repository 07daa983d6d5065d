"""The reference Agent Server: the demo agent over HTTP/1.1 and WebSocket, on anyio.

Routes (the protocol's and the small REST surface the official SDK uses):

* ``POST /threads/{id}/stream/events``: the SSE event stream (a filter body);
* ``POST /threads/{id}/commands``: one command, one reply;
* ``GET /threads/{id}/stream/events`` with ``Upgrade: websocket``: commands,
  replies and events on one socket;
* ``GET /ok``, ``GET /info``, ``POST /threads``, ``GET /threads/{id}``,
  ``GET /threads/{id}/state``, ``GET /assistants/{id}``,
  ``GET /assistants/{id}/graph``.

Bad requests get a 4xx with a JSON ``{"detail": ...}`` body. Limits: at most
``max_connections`` connections at once (more get 503), request bodies within
``limits.max_body_size`` (413), and an idle keep-alive connection is closed
after ``idle_timeout`` seconds. The server listens on 127.0.0.1 unless told
otherwise. Every connection is one task in the server's task group, reading
with one loop and writing through one lock.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
from anyio.abc import ByteStream, SocketAttribute, TaskGroup

from threadwire.protocol import Limits, RemoteProtocolError
from threadwire.protocol._http_server import HTTPRequest, ServerConnection, split_path
from threadwire.protocol._limits import DEFAULT_LIMITS
from threadwire.protocol._sse import NEED_DATA
from threadwire.protocol._ws_server import WebSocketServer
from threadwire.protocol.producer import (
    ServerSession,
    StreamRequestError,
    Transport,
    parse_stream_request,
)

from ._net import aclose_quietly, read_chunk, send_all
from ._server_threads import ASSISTANTS, ThreadHandler, ThreadRecord, ThreadRegistry

__all__ = ["ReferenceServer", "serve"]

HEARTBEAT_SECONDS = 5.0


class _Conn:
    """One client connection: the socket, its HTTP state, a write lock."""

    def __init__(self, stream: ByteStream, limits: Limits) -> None:
        self.stream = stream
        self.http = ServerConnection(limits=limits)
        self.lock = anyio.Lock()

    async def write(self, data: bytes) -> None:
        if data:
            async with self.lock:
                await send_all(self.stream, data)


class ReferenceServer:
    """See the module docstring; start it with :func:`serve`."""

    def __init__(
        self,
        task_group: TaskGroup,
        *,
        pace: float = 1.0,
        limits: Limits = DEFAULT_LIMITS,
        max_connections: int = 2048,
        idle_timeout: float = 120.0,
        heartbeat: float = HEARTBEAT_SECONDS,
        buffer_size: int = 10_000,
    ) -> None:
        self.tg = task_group
        self.limits = limits
        self.registry = ThreadRegistry(task_group, pace=pace, buffer_size=buffer_size)
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.heartbeat = heartbeat
        self.connections = 0
        self.port = 0
        self.host = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- connections ------------------------------------------------------------------

    async def handle(self, stream: ByteStream) -> None:
        """Serve one connection until the client leaves or it idles out."""
        conn = _Conn(stream, self.limits)
        self.connections += 1
        try:
            if self.connections > self.max_connections:
                await conn.write(
                    conn.http.respond_json(503, {"detail": "too many connections"},
                                           headers={"connection": "close"})
                )
                return
            await self._serve(conn)
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        except Exception as exc:  # noqa: BLE001 - a transport error of one peer
            from ._errors import NetworkError

            if not isinstance(exc, NetworkError):
                raise
        finally:
            self.connections -= 1
            await aclose_quietly(stream)

    async def _serve(self, conn: _Conn) -> None:
        while True:
            try:
                request = await self._next_request(conn)
            except RemoteProtocolError as exc:
                await conn.write(conn.http.error_response(exc))
                return
            if request is None:
                return
            keep_going = await self._route(conn, request)
            if not keep_going or not conn.http.keep_alive:
                return

    async def _next_request(self, conn: _Conn) -> HTTPRequest | None:
        while True:
            item = conn.http.next_request()
            if item is not NEED_DATA:
                return item  # type: ignore[return-value]
            with anyio.move_on_after(self.idle_timeout):
                data = await read_chunk(conn.stream)
                conn.http.receive_data(data)
                continue
            return None  # idle keep-alive connection

    # -- routing ------------------------------------------------------------------------

    async def _route(self, conn: _Conn, request: HTTPRequest) -> bool:
        parts = split_path(request.path)
        method = request.method
        respond = conn.http.respond_json
        if parts == ["ok"] and method == "GET":
            await conn.write(respond(200, {"ok": True}))
        elif parts == ["info"] and method == "GET":
            await conn.write(respond(200, {"version": "threadwire-reference", "flags": {}}))
        elif parts == ["threads"] and method == "POST":
            await conn.write(self._create_thread(conn, request))
        elif len(parts) >= 2 and parts[0] == "threads":
            return await self._thread_route(conn, request, parts[1], parts[2:])
        elif len(parts) >= 2 and parts[0] == "assistants" and method == "GET":
            await conn.write(self._assistant(conn, parts[1], parts[2:]))
        else:
            await conn.write(respond(404, {"detail": f"Not Found: {method} {request.path}"}))
        return True

    def _create_thread(self, conn: _Conn, request: HTTPRequest) -> bytes:
        try:
            body = request.json() if request.body.strip() else {}
        except RemoteProtocolError as exc:
            return conn.http.respond_json(400, {"detail": exc.message})
        if type(body) is not dict:
            return conn.http.respond_json(422, {"detail": "body must be an object"})
        thread_id = body.get("thread_id") or str(uuid.uuid4())
        metadata = body.get("metadata") or {}
        if type(thread_id) is not str or type(metadata) is not dict:
            return conn.http.respond_json(422, {"detail": "thread_id must be a string"})
        existing = self.registry.get(thread_id)
        if existing is not None and body.get("if_exists") not in ("do_nothing", None):
            return conn.http.respond_json(409, {"detail": f"Thread {thread_id} already exists"})
        record = self.registry.get_or_create(thread_id, metadata)
        return conn.http.respond_json(200, record.to_json())

    def _assistant(self, conn: _Conn, assistant_id: str, rest: list[str]) -> bytes:
        if assistant_id not in ASSISTANTS:
            return conn.http.respond_json(404, {"detail": f"Assistant {assistant_id} not found"})
        if rest == ["graph"]:
            return conn.http.respond_json(
                200,
                {
                    "nodes": [
                        {"id": "__start__", "type": "schema", "data": "__start__"},
                        {"id": "agent", "type": "runnable", "data": "agent"},
                        {"id": "tools", "type": "runnable", "data": "tools"},
                        {"id": "researcher", "type": "runnable", "data": "researcher"},
                        {"id": "__end__", "type": "schema", "data": "__end__"},
                    ],
                    "edges": [
                        {"source": "__start__", "target": "agent"},
                        {"source": "agent", "target": "tools", "conditional": True},
                        {"source": "tools", "target": "researcher"},
                        {"source": "researcher", "target": "agent"},
                        {"source": "agent", "target": "__end__", "conditional": True},
                    ],
                },
            )
        if not rest:
            return conn.http.respond_json(
                200, {"assistant_id": assistant_id, "graph_id": ASSISTANTS[assistant_id],
                      "name": assistant_id, "config": {}, "metadata": {}}
            )
        return conn.http.respond_json(404, {"detail": "Not Found"})

    async def _thread_route(
        self, conn: _Conn, request: HTTPRequest, thread_id: str, rest: list[str]
    ) -> bool:
        method = request.method
        if rest == ["stream", "events"] and request.upgrade == "websocket" and method == "GET":
            record = self.registry.get_or_create(thread_id)
            await self._websocket(conn, request, record)
            return False
        if rest == ["stream", "events"] and method == "POST":
            record = self.registry.get_or_create(thread_id)
            return await self._sse(conn, request, record)
        if rest == ["commands"] and method == "POST":
            record = self.registry.get_or_create(thread_id)
            session = ServerSession(
                record.log, ThreadHandler(self.registry, record), transport=Transport.HTTP,
                limits=self.limits,
            )
            reply = session.receive_command(request.body)
            if reply.exception is not None:
                raise reply.exception
            body = b"".join(session.data_to_send())
            session.close()
            await conn.write(conn.http.respond(reply.http_status, body))
            return True
        record_or_none = self.registry.get(thread_id)
        if record_or_none is None:
            await conn.write(conn.http.respond_json(404, {"detail": f"Thread {thread_id} not found"}))
            return True
        if not rest and method == "GET":
            await conn.write(conn.http.respond_json(200, record_or_none.to_json()))
        elif rest == ["state"] and method == "GET":
            await conn.write(conn.http.respond_json(200, record_or_none.state_json()))
        else:
            await conn.write(
                conn.http.respond_json(404, {"detail": f"Not Found: {method} {request.path}"})
            )
        return True

    # -- event streams ---------------------------------------------------------------------

    async def _sse(self, conn: _Conn, request: HTTPRequest, record: ThreadRecord) -> bool:
        session = ServerSession(record.log, transport=Transport.SSE, limits=self.limits)
        try:
            session.open_stream(parse_stream_request(request.body))
        except StreamRequestError as exc:
            session.close()
            await conn.write(conn.http.respond(exc.status, exc.body))
            return True
        try:
            await conn.write(conn.http.start_stream())
            await self._pump_out(conn, session, lambda frames: conn.http.stream_data(b"".join(frames)))
        finally:
            session.close()
        # A stream ends only when the subscriber was cut off: end it without the
        # final chunk, so the client sees a drop and resumes with since.
        return False

    async def _pump_out(self, conn: _Conn, session: ServerSession, frame: Any) -> None:
        """Write what the session queues until it closes; heartbeats when idle."""
        while True:
            frames = session.data_to_send()
            if frames:
                await conn.write(frame(frames))
                continue
            if session.closed:
                return
            ready = anyio.Event()
            session.on_ready = ready.set
            with anyio.move_on_after(self.heartbeat):
                await ready.wait()
            session.on_ready = None
            session.heartbeat()

    async def _websocket(self, conn: _Conn, request: HTTPRequest, record: ThreadRecord) -> None:
        try:
            ws = WebSocketServer(
                request.raw_headers, request.target, trailing_data=conn.http.trailing_data,
                limits=self.limits,
            )
        except RemoteProtocolError as exc:
            await conn.write(conn.http.error_response(exc))
            return
        session = ServerSession(record.log, ThreadHandler(self.registry, record),
                                transport=Transport.WEBSOCKET, limits=self.limits)
        await conn.write(ws.accept())
        try:
            async with anyio.create_task_group() as tg:

                async def writer() -> None:
                    await self._pump_out(
                        conn, session, lambda frames: b"".join(ws.send_text(f) for f in frames)
                    )
                    code = session.close_code or 1000
                    await conn.write(ws.close(code, session.close_reason or ""))
                    tg.cancel_scope.cancel()

                tg.start_soon(writer)
                for text in ws.messages():
                    self._command(session, text)
                while ws.closed is None:
                    data = await read_chunk(conn.stream)
                    ws.receive_data(data)
                    await conn.write(ws.data_to_send())
                    for text in ws.messages():
                        self._command(session, text)
                tg.cancel_scope.cancel()
        finally:
            session.close()

    @staticmethod
    def _command(session: ServerSession, text: str) -> None:
        reply = session.receive_command(text)
        if reply.exception is not None:
            raise reply.exception


@contextlib.asynccontextmanager
async def serve(
    host: str = "127.0.0.1", port: int = 0, **options: Any
) -> AsyncIterator[ReferenceServer]:
    """Run a :class:`ReferenceServer` on ``host:port`` (0: a free port) for the block.

    Leaving the block cancels every connection and run, then closes the listener.
    """
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    async with listener, anyio.create_task_group() as tg:
        server = ReferenceServer(tg, **options)
        server.host = host
        server.port = listener.extra(SocketAttribute.local_port)
        tg.start_soon(listener.serve, server.handle, tg)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()
