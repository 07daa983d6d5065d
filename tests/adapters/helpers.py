"""Helpers for the adapter tests: the demo server, fake peers that answer scripted
bytes, wire builders, and a TLS certificate authority.

Everything here runs inside the test's own event loop (asyncio or trio) and
listens on 127.0.0.1 only. A fake peer is a raw anyio TCP listener: it parses
requests itself (so the test sees exactly the bytes the client sent) and
answers with whatever bytes the test scripts, including bodies a careful
server would never send.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio
import anyio.abc
import attrs
import h11
import trustme
from anyio.abc import ByteStream
from anyio.streams.tls import TLSListener
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.events import Request as WSRequest

from threadwire.adapters import connect
from threadwire.adapters._server import ReferenceServer, serve
from threadwire.adapters._thread import ThreadStream

__all__ = [
    "FAST",
    "PLAIN",
    "demo_server",
    "open_thread",
    "EventStreams",
    "event_streams",
    "routed_targets",
    "server_sessions",
    "Request",
    "Peer",
    "FakeServer",
    "fake_server",
    "FakeWebSocket",
    "FakeAgent",
    "Response",
    "RawHTTP",
    "RawWebSocket",
    "response",
    "chunk",
    "sse_head",
    "sse_block",
    "event_obj",
    "success",
    "failure",
    "Rewriter",
    "prefix_proxy",
    "tls_server",
    "wait_for",
]

PLAIN: dict[str, Any] = {"interrupt": False}
"""The demo run with messages, tools, subagents and custom events, no interrupt."""

FAST: dict[str, Any] = {"tools": False, "subagents": False, "custom": False, "interrupt": False}
"""The shortest demo run: two messages and some snapshots."""


async def wait_for(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``predicate`` until it holds (``TimeoutError`` after ``within`` seconds).

    For state that has no event to wait on (a peer's counters, a server's outbox).
    """
    with anyio.fail_after(within):
        while not predicate():  # noqa: ASYNC110 - polling state that has no event
            await anyio.sleep(0.005)


# -- the reference server ---------------------------------------------------------


@contextlib.asynccontextmanager
async def demo_server(**options: Any) -> AsyncIterator[ReferenceServer]:
    """The reference server with the demo agent, as fast as it goes (``pace=0``)."""
    options.setdefault("pace", 0)
    async with serve("127.0.0.1", 0, **options) as server:
        yield server


@contextlib.asynccontextmanager
async def open_thread(
    url: str,
    transport: str = "sse",
    thread_id: str | None = None,
    *,
    client_options: Mapping[str, Any] | None = None,
    **stream_options: Any,
) -> AsyncIterator[ThreadStream]:
    """``connect(url)`` and ``client.threads.stream(...)`` for the demo assistant."""
    stream_options.setdefault("assistant_id", "demo")
    async with (
        connect(url, **dict(client_options or {})) as client,
        client.threads.stream(thread_id, transport=transport, **stream_options) as thread,
    ):
        yield thread


def routed_targets(server: ReferenceServer) -> list[tuple[str, str]]:
    """Record ``(method, target)`` of every request the reference server routes."""
    targets: list[tuple[str, str]] = []
    route = server._route

    async def recorded(conn: Any, request: Any) -> Any:
        targets.append((request.method, request.target))
        return await route(conn, request)

    server._route = recorded  # type: ignore[method-assign]
    return targets


def server_sessions(server: ReferenceServer) -> list[Any]:
    """Record every ``ServerSession`` the reference server writes out (its outboxes)."""
    sessions: list[Any] = []
    pump_out = server._pump_out

    async def recorded(conn: Any, session: Any, frame: Any) -> Any:
        sessions.append(session)
        return await pump_out(conn, session, frame)

    server._pump_out = recorded  # type: ignore[method-assign]
    return sessions


class EventStreams:
    """A proxy in front of a server that counts the client's event connections.

    A connection whose first request is ``.../stream/events`` (an SSE POST or a
    WebSocket upgrade) is an event connection; it counts as open until the
    client closes its side. ``opened`` counts them, ``open`` those open now,
    ``most`` the most open at once, ``bodies`` the SSE request bodies;
    ``connections`` counts every connection (commands too).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.connections = 0
        self.opened = 0
        self.open = 0
        self.most = 0
        self.bodies: list[dict[str, Any]] = []
        self._scopes: set[anyio.CancelScope] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def drop(self) -> None:
        """Cut every open connection, as a network failure would."""
        for scope in self._scopes:
            scope.cancel()

    async def handle(self, peer: Peer) -> None:
        self.connections += 1
        first = await peer.read_request()
        if first is None:
            return
        event_stream = first.target.endswith("/stream/events")
        if event_stream:
            # A reopen closes the old connection before it connects again, but this
            # proxy sees that close when its handler next runs: let it run first.
            await anyio.sleep(0.05)
            self.opened += 1
            self.open += 1
            self.most = max(self.most, self.open)
            if first.method == "POST":
                self.bodies.append(first.json())
        try:
            upstream = await anyio.connect_tcp(*self.target)
            async with upstream, anyio.create_task_group() as tg:

                async def down() -> None:
                    with contextlib.suppress(
                        anyio.EndOfStream,
                        anyio.BrokenResourceError,
                        anyio.ClosedResourceError,
                        OSError,
                    ):
                        while True:
                            await peer.send(await upstream.receive(65536))
                    tg.cancel_scope.cancel()

                self._scopes.add(tg.cancel_scope)
                tg.start_soon(down)
                await upstream.send(first.raw + peer._buffer)
                peer._buffer = b""
                with contextlib.suppress(
                    anyio.BrokenResourceError, anyio.ClosedResourceError, OSError
                ):
                    while await peer._fill():
                        data, peer._buffer = peer._buffer, b""
                        await upstream.send(data)
                tg.cancel_scope.cancel()  # the client closed its side
        finally:
            self._scopes = {s for s in self._scopes if not s.cancel_called}
            if event_stream:
                self.open -= 1


@contextlib.asynccontextmanager
async def event_streams(server: ReferenceServer) -> AsyncIterator[EventStreams]:
    """An :class:`EventStreams` proxy in front of ``server``."""
    counter = EventStreams(("127.0.0.1", server.port))
    async with fake_server(counter.handle) as fake:
        counter.port = fake.port
        yield counter


# -- fake peers ---------------------------------------------------------------------


@attrs.frozen
class Request:
    """One request as the fake peer read it."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    """Names lower-cased, in the order sent, repeats kept."""
    body: bytes
    raw: bytes
    connection: int
    """Which connection (1, 2, ...) of the fake peer carried it."""

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        assert len(values) <= 1, f"header {name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


class Peer:
    """One connection to a fake server, driven by the test's handler."""

    def __init__(self, server: FakeServer, stream: ByteStream, number: int) -> None:
        self.server = server
        self.stream = stream
        self.number = number
        self._buffer = b""
        self.closed = False

    async def _fill(self) -> bool:
        try:
            data = await self.stream.receive(65536)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            self.closed = True
            return False
        self._buffer += data
        return True

    async def read_request(self) -> Request | None:
        """The next request on this connection (None once the client closed it)."""
        while b"\r\n\r\n" not in self._buffer:
            if not await self._fill():
                return None
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _version = line.split(" ", 2)
        headers = []
        for header_line in header_lines:
            name, _, value = header_line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        length = int(dict(headers).get("content-length", "0"))
        while len(self._buffer) < length:
            if not await self._fill():
                return None
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        request = Request(
            method=method,
            target=target,
            headers=tuple(headers),
            body=body,
            raw=head + b"\r\n\r\n" + body,
            connection=self.number,
        )
        self.server.requests.append(request)
        self.server.arrived.set()
        self.server.arrived = anyio.Event()
        return request

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def websocket(self, request: Request) -> FakeWebSocket:
        """Accept ``request``'s upgrade and speak WebSocket on this connection."""
        ws = FakeWebSocket(self, request)
        await self.send(ws.accept())
        return ws

    async def wait_closed(self) -> None:
        """Read (and discard) until the client closes the connection."""
        while await self._fill():
            self._buffer = b""


Handler = Callable[[Peer], Awaitable[None]]
RouteHandler = Callable[[Peer, Request], Awaitable[None]]


class FakeServer:
    """A raw TCP server; each connection runs ``handler(peer)`` (see the module docstring)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.port = 0
        self.connections = 0
        self.open = 0
        self.requests: list[Request] = []
        self.arrived = anyio.Event()
        self.scheme = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def _serve(self, stream: ByteStream) -> None:
        self.connections += 1
        self.open += 1
        peer = Peer(self, stream, self.connections)
        try:
            async with stream:
                with contextlib.suppress(
                    anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError
                ):
                    await self.handler(peer)
        finally:
            self.open -= 1

    def of(self, target_suffix: str) -> list[Request]:
        """The requests whose target ends with ``target_suffix``."""
        return [r for r in self.requests if r.target.endswith(target_suffix)]


@contextlib.asynccontextmanager
async def fake_server(
    handler: Handler, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[FakeServer]:
    """Run a :class:`FakeServer` on a free loopback port for the block."""
    server = FakeServer(handler)
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    server.port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener: anyio.abc.Listener[Any] = tcp
    if ssl_context is not None:
        listener = TLSListener(tcp, ssl_context, standard_compatible=False)
        server.scheme = "https"
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, server._serve)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()


class FakeWebSocket:
    """The server side of a WebSocket on a fake peer, frame by frame."""

    def __init__(self, peer: Peer, request: Request) -> None:
        self.peer = peer
        self.ws = WSConnection(ConnectionType.SERVER)
        self.ws.initiate_upgrade_connection(
            [(k.encode(), v.encode()) for k, v in request.headers], request.target
        )
        self.pongs: list[bytes] = []
        self.close_code: int | None = None

    def accept(self) -> bytes:
        return self.ws.send(AcceptConnection())

    async def receive(self, *, pongs: int | None = None) -> Any:
        """The next text message as JSON (pings answered); None once closed.

        With ``pongs``, return None as soon as that many pongs were received.
        """
        parts: list[str] = []
        while True:
            if pongs is not None and len(self.pongs) >= pongs:
                return None
            for event in self.ws.events():
                if isinstance(event, TextMessage):
                    parts.append(event.data)
                    if event.message_finished:
                        return json.loads("".join(parts))
                if isinstance(event, Pong):
                    self.pongs.append(bytes(event.payload))
                    if pongs is not None and len(self.pongs) >= pongs:
                        return None
                elif isinstance(event, Ping):
                    await self.peer.send(self.ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    self.close_code = event.code
                    with contextlib.suppress(Exception):
                        await self.peer.send(self.ws.send(event.response()))
                    return None
            if not await self.peer._fill():
                return None
            data, self.peer._buffer = self.peer._buffer, b""
            self.ws.receive_data(data)

    async def send(self, obj: Any) -> None:
        await self.peer.send(self.ws.send(TextMessage(data=json.dumps(obj))))

    async def ping(self, payload: bytes) -> None:
        await self.peer.send(self.ws.send(Ping(payload=payload)))

    async def close(self, code: int, reason: str = "") -> None:
        await self.peer.send(self.ws.send(CloseConnection(code=code, reason=reason)))


class FakeAgent:
    """A scripted Agent Server for a :class:`FakeServer`: routes each request by its target.

    ``on_stream(peer, request)`` answers ``POST .../stream/events`` (default: a
    200 event stream with one heartbeat, held open until the client leaves);
    ``on_websocket(peer, request)`` a WebSocket upgrade (default: 404);
    ``on_command(request)`` returns the response bytes for ``POST .../commands``
    (default: a success envelope with ``run_id`` ``run-1``). Anything else is a
    404. Keep-alive: requests on one connection are answered in turn.
    """

    def __init__(
        self,
        *,
        on_stream: RouteHandler | None = None,
        on_websocket: RouteHandler | None = None,
        on_command: Callable[[Request], Awaitable[bytes]] | None = None,
    ) -> None:
        self.on_stream = on_stream or self.hold_stream
        self.on_websocket = on_websocket or self.not_found
        self.on_command = on_command or self.ok

    @staticmethod
    async def hold_stream(peer: Peer, request: Request) -> None:
        await peer.send(sse_head() + chunk(b": heartbeat\r\n\r\n"))
        await peer.wait_closed()

    @staticmethod
    async def not_found(peer: Peer, request: Request) -> None:
        await peer.send(response(404, b'{"detail":"no"}'))

    @staticmethod
    async def ok(request: Request) -> bytes:
        body = json.dumps(success(request.json()["id"], {"run_id": "run-1"})).encode()
        return response(200, body, headers=[("content-type", "application/json")])

    async def __call__(self, peer: Peer) -> None:
        while True:
            request = await peer.read_request()
            if request is None:
                return
            if request.target.endswith("/stream/events"):
                if request.header("upgrade"):
                    await self.on_websocket(peer, request)
                else:
                    await self.on_stream(peer, request)
                return
            if request.target.endswith("/commands"):
                await peer.send(await self.on_command(request))
            else:
                await peer.send(response(404, b'{"detail":"Not Found"}'))


# -- raw clients (for testing the server) ------------------------------------------------


@attrs.frozen
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class RawHTTP:
    """One HTTP/1.1 connection to a server, request by request (h11 parses the answers)."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, port: int) -> AsyncIterator[RawHTTP]:
        stream = await anyio.connect_tcp("127.0.0.1", port)
        async with stream:
            yield cls(stream)

    async def request(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
    ) -> Response:
        all_headers = [("host", "127.0.0.1"), *headers]
        if body or method == "POST":
            all_headers.append(("content-length", str(len(body))))
        data = self.h11.send(h11.Request(method=method, target=target, headers=all_headers))
        data += self.h11.send(h11.Data(data=body)) if body else b""
        data += self.h11.send(h11.EndOfMessage())
        await self.stream.send(data)
        return await self.response()

    async def response(self) -> Response:
        status, head, parts = 0, {}, []
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                try:
                    self.h11.receive_data(await self.stream.receive(65536))
                except anyio.EndOfStream:
                    self.h11.receive_data(b"")
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                head = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
                    self.h11.start_next_cycle()
                return Response(status, head, b"".join(parts))

    async def closed_by_peer(self) -> bool:
        """True once the server closed the connection (waits for it)."""
        try:
            data = await self.stream.receive(65536)
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            return True
        return not data


class RawWebSocket:
    """A WebSocket client built on wsproto, frame by frame, for testing the server."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.closed: int | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, port: int, target: str) -> AsyncIterator[RawWebSocket]:
        stream = await anyio.connect_tcp("127.0.0.1", port)
        async with stream:
            client = cls(stream)
            await stream.send(client.ws.send(WSRequest(host="127.0.0.1", target=target)))
            while True:
                client.ws.receive_data(await stream.receive(65536))
                if any(isinstance(e, AcceptConnection) for e in client.ws.events()):
                    break
            yield client

    async def send_text(self, text: str) -> None:
        await self.stream.send(self.ws.send(TextMessage(data=text)))

    async def send_json(self, obj: Any) -> None:
        await self.send_text(json.dumps(obj))

    async def send_bytes(self, data: bytes) -> None:
        await self.stream.send(self.ws.send(BytesMessage(data=data)))

    async def receive(self) -> Any:
        """The next text message as JSON; None once the server closed."""
        parts: list[str] = []
        while True:
            for event in self.ws.events():
                if isinstance(event, TextMessage):
                    parts.append(event.data)
                    if event.message_finished:
                        return json.loads("".join(parts))
                if isinstance(event, CloseConnection):
                    self.closed = event.code
                    return None
            try:
                data = await self.stream.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return None
            self.ws.receive_data(data)

    async def reply_to(self, command_id: int) -> dict[str, Any]:
        """Read until the reply to ``command_id`` (events before it are skipped)."""
        while True:
            message = await self.receive()
            assert message is not None, "the socket closed before the reply"
            if message.get("type") in ("success", "error") and message.get("id") == command_id:
                return dict(message)


# -- wire builders ----------------------------------------------------------------------


def response(
    status: int,
    body: bytes = b"",
    *,
    headers: Sequence[tuple[str, str]] = (),
    chunked: bool = False,
    chunks: Sequence[bytes] | None = None,
    reason: str = "X",
) -> bytes:
    """A complete HTTP/1.1 response, with a content-length or chunked body."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if chunked:
        lines.append("transfer-encoding: chunked")
        parts = chunks if chunks is not None else ([body] if body else [])
        payload = b"".join(chunk(p) for p in parts) + b"0\r\n\r\n"
    else:
        lines.append(f"content-length: {len(body)}")
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def sse_head(*, chunked: bool = True, length: int | None = None) -> bytes:
    """The head of a 200 ``text/event-stream`` response."""
    lines = ["HTTP/1.1 200 OK", "content-type: text/event-stream", "cache-control: no-store"]
    if length is not None:
        lines.append(f"content-length: {length}")
    elif chunked:
        lines.append("transfer-encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def event_obj(
    seq: int, method: str, data: Any, namespace: Sequence[str] = (), *, run_id: str = "run-1"
) -> dict[str, Any]:
    """An event envelope as the server sends it."""
    return {
        "type": "event",
        "event_id": f"{run_id}:{seq}",
        "seq": seq,
        "method": method,
        "params": {
            "namespace": list(namespace),
            "timestamp": 1_700_000_000_000 + seq,
            "data": data,
        },
    }


def sse_block(obj: Mapping[str, Any]) -> bytes:
    """One SSE block carrying an envelope."""
    return (
        f"event: {obj.get('method', 'message')}\r\ndata: {json.dumps(obj)}\r\n"
        f"id: {obj.get('seq', '')}\r\n\r\n"
    ).encode()


def success(
    command_id: int | None, result: Any = None, *, applied: int | None = None
) -> dict[str, Any]:
    reply: dict[str, Any] = {"type": "success", "id": command_id, "result": result or {}}
    if applied is not None:
        reply["meta"] = {"applied_through_seq": applied}
    return reply


def failure(command_id: int | None, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "id": command_id, "error": code, "message": message}


# -- a path-prefix proxy ----------------------------------------------------------------


class Rewriter:
    """Forwards HTTP requests to a server, stripping a path prefix from each target.

    Requests carry their bodies with ``content-length`` (the client always does
    so); after a ``101`` the connection is piped as is. ``targets`` lists the
    targets received (before rewriting); a target outside the prefix gets 404.
    """

    def __init__(self, prefix: str, target: tuple[str, int]) -> None:
        self.prefix = prefix
        self.target = target
        self.targets: list[str] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    async def handle(self, peer: Peer) -> None:
        upstream = await anyio.connect_tcp(*self.target)
        async with upstream, anyio.create_task_group() as tg:

            async def down() -> None:
                with contextlib.suppress(
                    anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError
                ):
                    while True:
                        await peer.send(await upstream.receive(65536))
                tg.cancel_scope.cancel()

            tg.start_soon(down)
            while True:
                request = await peer.read_request()
                if request is None:
                    break
                self.targets.append(request.target)
                if not request.target.startswith(self.prefix + "/"):
                    await peer.send(response(404, b'{"detail":"outside the prefix"}'))
                    continue
                head = request.raw.replace(
                    f" {request.target} ".encode(),
                    f" {request.target[len(self.prefix) :]} ".encode(),
                    1,
                )
                await upstream.send(head)
                if request.header("upgrade"):
                    # A WebSocket: from now on, bytes both ways as they are.
                    if peer._buffer:
                        await upstream.send(peer._buffer)
                        peer._buffer = b""
                    while await peer._fill():
                        data, peer._buffer = peer._buffer, b""
                        await upstream.send(data)
                    break
            tg.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def prefix_proxy(prefix: str, host: str, port: int) -> AsyncIterator[Rewriter]:
    rewriter = Rewriter(prefix, (host, port))
    async with fake_server(rewriter.handle) as fake:
        rewriter.port = fake.port
        yield rewriter


# -- TLS ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def tls_server(
    ca: trustme.CA, hostnames: Sequence[str] = ("127.0.0.1", "localhost"), **options: Any
) -> AsyncIterator[tuple[ReferenceServer, str]]:
    """The reference server behind TLS with a certificate for ``hostnames`` from ``ca``.

    Yields the server and its ``https://127.0.0.1:port`` URL.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hostnames).configure_cert(context)
    options.setdefault("pace", 0)
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener = TLSListener(tcp, context, standard_compatible=False)
    async with listener, anyio.create_task_group() as tg:
        server = ReferenceServer(tg, **options)
        server.port = port

        async def handle(stream: ByteStream) -> None:
            await server.handle(stream)

        tg.start_soon(listener.serve, handle)
        try:
            yield server, f"https://127.0.0.1:{port}"
        finally:
            tg.cancel_scope.cancel()
