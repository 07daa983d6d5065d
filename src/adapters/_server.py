"""The reference Agent Server: the demo agent over HTTP/1.1 and WebSocket, on anyio.

Routes (the protocol's and the small REST surface the official SDK uses):

* ``POST /threads/{id}/stream/events``: the SSE event stream (a filter body);
* ``POST /threads/{id}/commands``: one command, one reply;
* ``GET /threads/{id}/stream/events`` with ``Upgrade: websocket``: commands,
  replies and events on one socket;
* ``GET /ok``, ``GET /info``, ``POST /threads``, ``GET /threads/{id}``,
  ``GET /threads/{id}/state``, ``GET /assistants/{id}``,
  ``GET /assistants/{id}/graph``.

Bad requests get a 4xx with a JSON ``{"detail": ...}`` body (a command body that
is not JSON: 400 ``Invalid JSON body``, as the server; a known path with the wrong
method: 405). Limits: at most ``max_connections`` connections at once (more get
503), request bodies within ``limits.max_body_size`` (413), and an idle
keep-alive connection is closed after ``idle_timeout`` seconds. The server
listens on 127.0.0.1 unless told otherwise. Every connection is one task in the
server's task group, reading with one loop and writing through one lock.

A connection's trouble ends that connection only: a peer that drops or resets
its socket, bytes that are not WebSocket (close 1002), a WebSocket message over
``limits.max_message_size`` (close 1009). A command handler's bug is answered
``unknown_error`` and printed to standard error; the server goes on. The server
sends no frame after the close reply, and after its own close frame it waits up
to :data:`CLOSE_TIMEOUT` for the client's before closing the socket.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import socket
import sys
import traceback
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from anyio.abc import ByteStream, SocketAttribute, TaskGroup

from threadwire.protocol import LimitExceeded, Limits, RemoteProtocolError
from threadwire.protocol._http_server import HTTPRequest, ServerConnection, split_path
from threadwire.protocol._limits import DEFAULT_LIMITS
from threadwire.protocol._sse import NEED_DATA
from threadwire.protocol._ws_server import WebSocketServer
from threadwire.protocol.producer import (
    CommandRejected,
    CommandReply,
    ServerSession,
    StreamRequestError,
    Transport,
    parse_stream_request,
)

from ._errors import NetworkError
from ._net import aclose_quietly, read_chunk, send_all, stream_from_socket
from ._server_threads import (
    ASSISTANTS,
    MAX_RUNNING_RUNS,
    ThreadHandler,
    ThreadRecord,
    ThreadRegistry,
)

__all__ = ["ReferenceServer", "serve"]

HEARTBEAT_SECONDS = 5.0
CLOSE_TIMEOUT = 2.0
"""Seconds a WebSocket waits for the client's reply to the server's close frame."""


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

    async def write_encoded(self, encode: Callable[[], bytes | None]) -> bool:
        """Encode and write under the lock; False (nothing written) when ``encode``
        returns None because the connection can no longer carry data.

        Encoding under the lock keeps the bytes in the order of the protocol state
        they were encoded in (a WebSocket frame never follows the close reply).
        """
        async with self.lock:
            data = encode()
            if data is None:
                return False
            if data:
                await send_all(self.stream, data)
            return True


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
        max_running_runs: int = MAX_RUNNING_RUNS,
    ) -> None:
        self.tg = task_group
        self.limits = limits
        self.registry = ThreadRegistry(
            task_group, pace=pace, buffer_size=buffer_size, max_running_runs=max_running_runs
        )
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.heartbeat = heartbeat
        self.connections = 0
        self.port = 0
        self.host = "127.0.0.1"

    @property
    def url(self) -> str:
        """``http://host:port`` as bound (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- connections ------------------------------------------------------------------

    async def handle(self, stream: ByteStream) -> None:
        """Serve one connection until the client leaves or it idles out."""
        conn = _Conn(stream, self.limits)
        self.connections += 1
        try:
            if self.connections > self.max_connections:
                await conn.write(
                    conn.http.respond_json(
                        503, {"detail": "too many connections"}, headers={"connection": "close"}
                    )
                )
                return
            await self._serve(conn)
        except* (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, NetworkError):
            # The peer went away (also from inside a WebSocket's task group, which
            # wraps it in an ExceptionGroup). Anything else is a bug: it propagates.
            pass
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
        try:
            return await self._dispatch(conn, request)
        except CommandRejected as exc:  # the registry is full: no new thread
            await conn.write(conn.http.respond_json(503, {"detail": exc.message}))
            return True

    async def _dispatch(self, conn: _Conn, request: HTTPRequest) -> bool:
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
        if_exists = body.get("if_exists") or "raise"  # the server's default
        if type(thread_id) is not str:
            return conn.http.respond_json(422, {"detail": "thread_id must be a string"})
        if type(metadata) is not dict:
            return conn.http.respond_json(422, {"detail": "metadata must be an object"})
        if if_exists not in ("raise", "do_nothing"):
            return conn.http.respond_json(
                422, {"detail": "if_exists must be 'raise' or 'do_nothing'"}
            )
        existing = self.registry.get(thread_id)
        if existing is not None and if_exists == "raise":
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
                200,
                {
                    "assistant_id": assistant_id,
                    "graph_id": ASSISTANTS[assistant_id],
                    "name": assistant_id,
                    "config": {},
                    "metadata": {},
                },
            )
        return conn.http.respond_json(404, {"detail": "Not Found"})

    async def _thread_route(
        self, conn: _Conn, request: HTTPRequest, thread_id: str, rest: list[str]
    ) -> bool:
        method = request.method
        if rest == ["stream", "events"]:
            if method == "GET" and request.upgrade == "websocket":
                record = self.registry.get_or_create(thread_id)
                await self._websocket(conn, request, record)
                return False
            if method == "POST":
                return await self._sse(conn, request, thread_id)
            await conn.write(self._not_allowed(conn, "POST, GET (WebSocket upgrade)"))
            return True
        if rest == ["commands"]:
            if method != "POST":
                await conn.write(self._not_allowed(conn, "POST"))
                return True
            try:
                request.json()
            except RemoteProtocolError:
                # Not JSON at all: the server's framework answers, not the protocol.
                await conn.write(conn.http.respond_json(400, {"detail": "Invalid JSON body"}))
                return True
            record = self.registry.get_or_create(thread_id)
            session = ServerSession(
                record.log,
                ThreadHandler(self.registry, record),
                transport=Transport.HTTP,
                limits=self.limits,
            )
            reply = session.receive_command(request.body)
            self._report(reply)
            body = b"".join(session.data_to_send())
            session.close()
            await conn.write(conn.http.respond(reply.http_status, body))
            return True
        record_or_none = self.registry.get(thread_id)
        if record_or_none is None:
            await conn.write(
                conn.http.respond_json(404, {"detail": f"Thread {thread_id} not found"})
            )
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

    @staticmethod
    def _not_allowed(conn: _Conn, allow: str) -> bytes:
        return conn.http.respond_json(
            405, {"detail": "Method Not Allowed"}, headers={"allow": allow}
        )

    @staticmethod
    def _report(reply: CommandReply) -> None:
        """A handler bug was answered ``unknown_error``; print it, keep serving."""
        if reply.exception is not None:
            print(f"threadwire serve: {reply.method} failed:", file=sys.stderr)
            traceback.print_exception(reply.exception, file=sys.stderr)

    # -- event streams ---------------------------------------------------------------------

    async def _sse(self, conn: _Conn, request: HTTPRequest, thread_id: str) -> bool:
        try:
            # Validate before touching the registry: a refused request leaves no thread.
            stream_request = parse_stream_request(request.body)
        except StreamRequestError as exc:
            await conn.write(conn.http.respond(exc.status, exc.body))
            return True
        record = self.registry.get_or_create(thread_id)
        session = ServerSession(record.log, transport=Transport.SSE, limits=self.limits)
        try:
            session.open_stream(stream_request)
        except StreamRequestError as exc:
            session.close()
            await conn.write(conn.http.respond(exc.status, exc.body))
            return True
        try:
            await conn.write(conn.http.start_stream())
            async with anyio.create_task_group() as tg:

                async def watch_for_hangup() -> None:
                    # The client sends nothing more on a stream: any read returning
                    # means it hung up, and the stream (and its slot) can go now
                    # rather than at the next write.
                    with contextlib.suppress(NetworkError):
                        while await read_chunk(conn.stream):
                            pass
                    tg.cancel_scope.cancel()

                tg.start_soon(watch_for_hangup)
                await self._pump_out(
                    conn, session, lambda frames: conn.http.stream_data(b"".join(frames))
                )
                tg.cancel_scope.cancel()
        finally:
            session.close()
        # A stream ends only when the subscriber was cut off: end it without the
        # final chunk, so the client sees a drop and resumes with since.
        return False

    async def _pump_out(
        self, conn: _Conn, session: ServerSession, frame: Callable[[list[bytes]], bytes | None]
    ) -> None:
        """Write what the session queues until it closes (or ``frame`` says the socket
        did, returning None); heartbeats when idle."""
        while True:
            frames = session.data_to_send()
            if frames:
                if not await conn.write_encoded(functools.partial(frame, frames)):
                    return
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
                request.raw_headers,
                request.target,
                trailing_data=conn.http.trailing_data,
                limits=self.limits,
            )
        except RemoteProtocolError as exc:
            await conn.write(conn.http.error_response(exc))
            return
        session = ServerSession(
            record.log,
            ThreadHandler(self.registry, record),
            transport=Transport.WEBSOCKET,
            limits=self.limits,
        )
        await conn.write(ws.accept())

        def frame(frames: list[bytes]) -> bytes | None:
            if ws.closed is not None:
                return None  # the client closed (or dropped) the socket: stop writing
            return b"".join(ws.send_text(f) for f in frames)

        try:
            async with anyio.create_task_group() as tg:

                async def writer() -> None:
                    await self._pump_out(conn, session, frame)
                    code = session.close_code or 1000
                    # Our close, or (when the client closed first) the reply to
                    # its close if the reader has not written it yet; then give the
                    # reader a moment to see the client's reply (closing a socket
                    # with unread input resets it, and the close frame can be lost).
                    await conn.write(ws.close(code, session.close_reason or "") + ws.data_to_send())
                    await anyio.sleep(CLOSE_TIMEOUT)
                    tg.cancel_scope.cancel()

                tg.start_soon(writer)
                for text in ws.messages():
                    self._command(session, text)
                while ws.closed is None:
                    data = await read_chunk(conn.stream)
                    try:
                        ws.receive_data(data)
                    except RemoteProtocolError as exc:
                        # Not WebSocket, or a message over the limit: close, do not crash.
                        code = 1009 if isinstance(exc, LimitExceeded) else 1002
                        session.close(exc.message)
                        await conn.write(ws.close(code, exc.message[:120]))
                        await self._drain(conn)
                        break
                    await conn.write(ws.data_to_send())
                    # Commands that came with the close, or after the session was
                    # cut off, go unanswered.
                    if ws.closed is None and not session.closed:
                        for text in ws.messages():
                            self._command(session, text)
                tg.cancel_scope.cancel()
        finally:
            session.close()

    def _command(self, session: ServerSession, text: str) -> None:
        self._report(session.receive_command(text))

    @staticmethod
    async def _drain(conn: _Conn) -> None:
        """After our close frame on a connection we no longer parse: read and drop
        what the client still sends, until it closes or :data:`CLOSE_TIMEOUT`, so the
        socket is not reset under the close frame."""
        with anyio.move_on_after(CLOSE_TIMEOUT), contextlib.suppress(NetworkError):
            while await read_chunk(conn.stream):
                pass


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
        for each in listener.listeners:
            tg.start_soon(_accept_all, each.extra(SocketAttribute.raw_socket), server.handle, tg)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()


_ACCEPT_BATCH = 256
"""Connections accepted per wake-up at most, before the others get a turn."""
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


async def _accept_all(
    listening: socket.socket, handle: Callable[[ByteStream], Any], tg: TaskGroup
) -> None:
    """Accept every connection that is waiting each time the socket is readable.

    anyio's ``Listener.serve`` accepts one connection per turn of the event
    loop: under load, a thousand clients connecting at once waited up to
    1.5 s to be accepted while runs streamed (measured under
    bench/many_threads.py), and a full backlog drops connections.
    """
    listening.setblocking(False)
    while True:
        await anyio.wait_readable(listening)
        for _ in range(_ACCEPT_BATCH):
            try:
                sock, _address = listening.accept()
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                # Out of descriptors or memory: the connections wait in the
                # backlog until some close.
                await anyio.sleep(0.1)
                break
            tg.start_soon(_serve_socket, sock, handle)


async def _serve_socket(sock: socket.socket, handle: Callable[[ByteStream], Any]) -> None:
    await handle(await stream_from_socket(sock))
