"""The loopback harness for the HTTP and WebSocket bindings (no anyio: bytes in memory).

Modelled on h11's ``tests/helpers.py::ConnectionPair``: a client binding and a
server binding joined by two :class:`Pipe` objects, each of which records what
one side sent and hands it to the other in pieces (whole, byte by byte, seeded
random splits, or cuts drawn by hypothesis), asserting that what was delivered
is exactly what was sent.

* :class:`HonestServer`: the server end, :class:`ServerConnection` (and after an
  upgrade :class:`WebSocketServer`) driven with the producer's
  :class:`ServerSession` over one :class:`EventLog`, routed the way the
  reference server routes (``POST .../stream/events``, ``POST .../commands``,
  ``GET .../stream/events`` with an upgrade).
* :class:`StreamPair`, :class:`CommandPair`, :class:`WSPair`: the three client
  bindings wired to it.
* Builders for valid (and deliberately broken) wire input, like h2's
  ``FrameFactory``: :func:`http_response`, :func:`chunked`, :func:`ws_frame`,
  and a reader, :func:`read_frames`, for the (masked) frames a client writes.
* Table drivers (:func:`feed_exchange`, :func:`feed_commands`,
  :func:`feed_server`, :func:`feed_ws_client`, :func:`feed_ws_server`) feed
  raw bytes to one binding in given pieces and return an :class:`Outcome`
  whose :meth:`Outcome.key` compares strictly across splits.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import pairwise
from typing import Any

import attrs

from threadwire.protocol import (
    DEFAULT_LIMITS,
    END_OF_STREAM,
    NEED_DATA,
    CommandFailure,
    CommandSuccess,
    Event,
    HTTPStatusError,
    LimitExceeded,
    Limits,
    ProtocolError,
    RemoteProtocolError,
    Sentinel,
    SSEComment,
    UnknownMessage,
    encode_command,
)
from threadwire.protocol._commands import Command
from threadwire.protocol._http import Endpoint, parse_url
from threadwire.protocol._http_client import CommandConnection, EventStreamExchange, ResponseHead
from threadwire.protocol._http_server import HTTPRequest, ServerConnection, split_path
from threadwire.protocol._ws_client import Closed, Opened, WebSocketClient
from threadwire.protocol._ws_server import WebSocketServer
from threadwire.protocol.producer import (
    BaseHandler,
    CommandHandler,
    CommandReply,
    EventLog,
    Part,
    RunProducer,
    ServerSession,
    StreamRequestError,
    Transport,
    parse_stream_request,
)

HTTP: Endpoint = parse_url("http://api.test:8123")
WS: Endpoint = parse_url("ws://api.test:8123")
THREAD = "thread-1"
EVERYTHING: dict[str, Any] = {
    "channels": [
        "values",
        "updates",
        "messages",
        "tools",
        "custom",
        "lifecycle",
        "input",
        "tasks",
        "checkpoints",
        "custom:progress",
    ]
}

Splitter = Callable[[bytes], list[bytes]]


# -- splitting ------------------------------------------------------------------------


def whole(data: bytes) -> list[bytes]:
    return [data] if data else []


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def at_cuts(cuts: Iterable[int]) -> Splitter:
    """Cut every transmission at ``cut % len(data)`` (hypothesis draws the cuts)."""
    chosen = list(cuts)

    def split(data: bytes) -> list[bytes]:
        if len(data) < 2:
            return whole(data)
        bounds = sorted({0, len(data), *(1 + c % (len(data) - 1) for c in chosen)})
        return [data[a:b] for a, b in pairwise(bounds)]

    return split


def randomly(seed: int) -> Splitter:
    """Seeded random cuts, different for every transmission of one exchange."""
    rng = random.Random(seed)

    def split(data: bytes) -> list[bytes]:
        if len(data) < 2:
            return whole(data)
        cuts = rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 12)))
        bounds = [0, *sorted(cuts), len(data)]
        return [data[a:b] for a, b in pairwise(bounds)]

    split.__name__ = f"random{seed}"
    return split


SPLITS: tuple[Splitter, ...] = (whole, bytewise, *(randomly(seed) for seed in range(5)))
"""Every table case and every loopback scenario runs with each of these."""

SPLIT_IDS = [split.__name__ for split in SPLITS]


class Pipe:
    """One direction of a connection: records what was sent and what was delivered."""

    def __init__(self, split: Splitter) -> None:
        self.split = split
        self.sent = bytearray()
        self.delivered = bytearray()
        self.pieces = 0

    def carry(self, data: bytes) -> Iterator[bytes]:
        self.sent += data
        for piece in self.split(data):
            assert piece, "an empty piece would mean end of input"
            self.delivered += piece
            self.pieces += 1
            yield piece
        assert self.delivered == self.sent, "what one side sent is not what the other received"


# -- the honest server ------------------------------------------------------------------


class HonestServer:
    """ServerConnection / WebSocketServer plus the producer, routed like the reference server."""

    def __init__(
        self,
        log: EventLog,
        handler: CommandHandler | None = None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        prefix: str = "",
    ) -> None:
        self.log = log
        self.handler = handler if handler is not None else BaseHandler()
        self.limits = limits
        self.prefix = split_path(prefix)
        self.http = ServerConnection(limits=limits)
        self.requests: list[HTTPRequest] = []
        self.errors: list[RemoteProtocolError] = []
        self.replies: list[CommandReply] = []
        self.texts: list[str] = []
        self.thread_ids: list[str] = []
        self.session: ServerSession | None = None
        self.ws: WebSocketServer | None = None
        self.client_gone = False

    def receive(self, data: bytes) -> bytes:
        """Take bytes from the client (``b""``: it closed); return what to write back."""
        if self.ws is not None:
            self.ws.receive_data(data)
            return self._ws_output()
        self.http.receive_data(data)
        out = bytearray()
        while self.ws is None:
            try:
                request = self.http.next_request()
            except RemoteProtocolError as exc:
                self.errors.append(exc)
                out += self.http.error_response(exc)
                break
            if request is NEED_DATA:
                break
            if request is None:
                self.client_gone = True
                break
            assert isinstance(request, HTTPRequest)
            self.requests.append(request)
            out += self._route(request)
        return bytes(out)

    def _route(self, request: HTTPRequest) -> bytes:
        parts = split_path(request.path)
        if parts[: len(self.prefix)] == self.prefix:
            parts = parts[len(self.prefix) :]
            if len(parts) == 4 and parts[0] == "threads" and parts[2:] == ["stream", "events"]:
                self.thread_ids.append(parts[1])
                if request.method == "GET" and request.upgrade == "websocket":
                    return self._upgrade(request)
                if request.method == "POST":
                    return self._stream(request)
            if len(parts) == 3 and parts[0] == "threads" and parts[2] == "commands":
                self.thread_ids.append(parts[1])
                if request.method == "POST":
                    return self._command(request)
        return self.http.respond_json(
            404, {"detail": f"Not Found: {request.method} {request.path}"}
        )

    def _stream(self, request: HTTPRequest) -> bytes:
        session = ServerSession(self.log, transport=Transport.SSE, limits=self.limits)
        try:
            session.open_stream(parse_stream_request(request.body))
        except StreamRequestError as exc:
            session.close()
            return self.http.respond(exc.status, exc.body)
        self.session = session
        return self.http.start_stream() + self.flush()

    def _command(self, request: HTTPRequest) -> bytes:
        session = ServerSession(
            self.log, self.handler, transport=Transport.HTTP, limits=self.limits
        )
        reply = session.receive_command(request.body)
        self.replies.append(reply)
        body = b"".join(session.data_to_send())
        session.close()
        return self.http.respond(reply.http_status, body)

    def _upgrade(self, request: HTTPRequest) -> bytes:
        self.ws = WebSocketServer(
            request.raw_headers,
            request.target,
            trailing_data=self.http.trailing_data,
            limits=self.limits,
        )
        self.session = ServerSession(
            self.log, self.handler, transport=Transport.WEBSOCKET, limits=self.limits
        )
        return self.ws.accept() + self._ws_output()

    def _ws_output(self) -> bytes:
        assert self.ws is not None and self.session is not None
        out = self.ws.data_to_send()
        if self.ws.closed is None:
            for text in self.ws.messages():
                self.texts.append(text)
                self.replies.append(self.session.receive_command(text))
            out += self.flush()
        return out

    def flush(self) -> bytes:
        """What the open session queued (events, replies, heartbeats), framed."""
        assert self.session is not None
        frames = self.session.data_to_send()
        if self.ws is not None:
            return b"".join(self.ws.send_text(frame) for frame in frames)
        return self.http.stream_data(b"".join(frames))

    def end_stream(self) -> bytes:
        assert self.session is not None
        out = self.flush()
        self.session.close()
        self.session = None
        return out + self.http.end_stream()

    def close_ws(self, code: int = 1000, reason: str = "") -> bytes:
        assert self.ws is not None
        return self.flush() + self.ws.close(code, reason)


# -- pairs --------------------------------------------------------------------------------


class ConnectionPair:
    """A client binding and an :class:`HonestServer` joined in memory."""

    def __init__(self, server: HonestServer, split: Splitter = whole) -> None:
        self.server = server
        self.up = Pipe(split)
        self.down = Pipe(split)

    def client_sends(self, data: bytes) -> None:
        for piece in self.up.carry(data):
            answer = self.server.receive(piece)
            if answer:
                self.server_sends(answer)

    def server_sends(self, data: bytes) -> None:
        for piece in self.down.carry(data):
            self.client_receives(piece)

    def client_receives(self, piece: bytes) -> None:
        raise NotImplementedError


class StreamPair(ConnectionPair):
    """An :class:`EventStreamExchange` against the honest server."""

    def __init__(
        self,
        server: HonestServer,
        split: Splitter = whole,
        *,
        body: Mapping[str, Any] = EVERYTHING,
        thread_id: str = THREAD,
        endpoint: Endpoint = HTTP,
        **options: Any,
    ) -> None:
        super().__init__(server, split)
        self.body = dict(body)
        self.client = EventStreamExchange(endpoint, thread_id, self.body, **options)
        self.items: list[Any] = []

    def client_receives(self, piece: bytes) -> None:
        self.client.receive_data(piece)
        self.items.extend(self.client.events())

    def open(self) -> None:
        self.client_sends(self.client.request_data())

    def publish(self) -> None:
        """Send what the server's session queued since the last flush."""
        self.server_sends(self.server.flush())

    def heartbeat(self) -> None:
        assert self.server.session is not None
        self.server.session.heartbeat()
        self.publish()

    def end(self) -> None:
        self.server_sends(self.server.end_stream())

    def client_eof(self) -> None:
        self.client.receive_data(b"")
        self.items.extend(self.client.events())

    @property
    def events(self) -> list[Event]:
        return [item for item in self.items if isinstance(item, Event)]


class CommandPair(ConnectionPair):
    """A :class:`CommandConnection` against the honest server."""

    def __init__(
        self,
        server: HonestServer,
        split: Splitter = whole,
        *,
        endpoint: Endpoint = HTTP,
        **options: Any,
    ) -> None:
        super().__init__(server, split)
        self.client = CommandConnection(endpoint, **options)
        self.replies: list[CommandSuccess | CommandFailure] = []

    def client_receives(self, piece: bytes) -> None:
        self.client.receive_data(piece)
        reply = self.client.next_reply()
        if reply is not NEED_DATA:
            assert isinstance(reply, CommandSuccess | CommandFailure)
            self.replies.append(reply)

    def send_raw(
        self, thread_id: str, command_id: int, data: bytes
    ) -> CommandSuccess | CommandFailure:
        before = len(self.replies)
        self.client_sends(self.client.request(thread_id, command_id, data))
        assert len(self.replies) == before + 1, "one request, one reply"
        return self.replies[-1]

    def command(
        self, command_id: int, command: Command, thread_id: str = THREAD
    ) -> CommandSuccess | CommandFailure:
        data = encode_command(command_id, command)
        reply = self.send_raw(thread_id, command_id, data)
        assert self.server.requests[-1].body == data
        return reply


class WSPair(ConnectionPair):
    """A :class:`WebSocketClient` against the honest server."""

    def __init__(
        self,
        server: HonestServer,
        split: Splitter = whole,
        *,
        thread_id: str = THREAD,
        endpoint: Endpoint = WS,
        **options: Any,
    ) -> None:
        super().__init__(server, split)
        self.client = WebSocketClient(endpoint, thread_id, **options)
        self.items: list[Any] = []

    def client_receives(self, piece: bytes) -> None:
        self.client.receive_data(piece)
        self.items.extend(self.client.events())
        out = self.client.data_to_send()
        if out:
            self.client_sends(out)

    def connect(self) -> None:
        self.client_sends(self.client.connect_data())

    def send(self, command_id: int, command: Command) -> None:
        self.client_sends(self.client.send_text(encode_command(command_id, command)))

    def publish(self) -> None:
        self.server_sends(self.server.flush())

    def server_close(self, code: int = 1000, reason: str = "") -> None:
        self.server_sends(self.server.close_ws(code, reason))

    def client_close(self, code: int = 1000, reason: str = "") -> None:
        self.client_sends(self.client.close(code, reason))

    @property
    def events(self) -> list[Event]:
        return [item for item in self.items if isinstance(item, Event)]

    @property
    def replies(self) -> list[CommandSuccess | CommandFailure]:
        return [item for item in self.items if isinstance(item, CommandSuccess | CommandFailure)]


# -- builders -------------------------------------------------------------------------


def chunked(*pieces: bytes, end: bool = True) -> bytes:
    """A chunked body: one chunk per piece, then (``end``) the last chunk."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces if piece)
    return out + (b"0\r\n\r\n" if end else b"")


def http_response(
    status: int = 200,
    body: bytes = b"",
    *,
    headers: Sequence[tuple[str, str]] = (("content-type", "text/event-stream"),),
    framing: str = "chunked",
    reason: str | None = None,
    version: str = "1.1",
) -> bytes:
    """A response head plus ``body``: ``framing`` is ``chunked`` (``body`` given already
    chunk-encoded), ``length`` (a Content-Length) or ``close`` (neither: ends at EOF)."""
    phrase = (
        reason if reason is not None else {200: "OK", 101: "Switching Protocols"}.get(status, "X")
    )
    lines = [f"HTTP/{version} {status} {phrase}", *(f"{k}: {v}" for k, v in headers)]
    if framing == "chunked":
        lines.append("transfer-encoding: chunked")
    elif framing == "length":
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def ws_frame(
    opcode: int, payload: bytes | str = b"", *, fin: bool = True, mask: bytes | None = None
) -> bytes:
    """One WebSocket frame (RFC 6455 section 5.2); a client's frames carry a ``mask``."""
    data = payload.encode() if isinstance(payload, str) else payload
    first = (0x80 if fin else 0) | opcode
    bit = 0x80 if mask is not None else 0
    size = len(data)
    if size < 126:
        head = bytes([first, bit | size])
    elif size < 1 << 16:
        head = bytes([first, bit | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([first, bit | 127]) + size.to_bytes(8, "big")
    if mask is not None:
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        head += mask
    return head + data


MASK = b"\x11\x22\x33\x44"


def client_frame(opcode: int, payload: bytes | str = b"", *, fin: bool = True) -> bytes:
    return ws_frame(opcode, payload, fin=fin, mask=MASK)


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


def read_frames(data: bytes) -> list[tuple[int, bytes]]:
    """``(opcode, unmasked payload)`` of every whole frame in ``data``."""
    frames = []
    at = 0
    while at < len(data):
        opcode = data[at] & 0x0F
        masked = data[at + 1] & 0x80
        size = data[at + 1] & 0x7F
        at += 2
        if size == 126:
            size = int.from_bytes(data[at : at + 2], "big")
            at += 2
        elif size == 127:
            size = int.from_bytes(data[at : at + 8], "big")
            at += 8
        mask = data[at : at + 4] if masked else b"\x00\x00\x00\x00"
        at += 4 if masked else 0
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data[at : at + size]))
        frames.append((opcode, payload))
        at += size
    return frames


# -- outcomes ---------------------------------------------------------------------------


def item_key(item: Any) -> tuple[Any, ...]:
    """A strictly comparable form of one item (NamedTuples of different classes would
    compare equal as plain tuples)."""
    if isinstance(item, HTTPRequest):
        return ("request", item.method, item.target, dict(item.headers), item.body, item.upgrade)
    if isinstance(item, Event):
        return ("Event", *item)
    return (type(item).__name__, item)


def kind(item: Any) -> str:
    """A short name of an item, for the expectations of table cases."""
    if isinstance(item, ResponseHead):
        return f"head:{item.status}"
    if isinstance(item, Event):
        return f"event:{item.method}:{item.seq}"
    if isinstance(item, SSEComment):
        return f"comment:{item.text}"
    if isinstance(item, CommandSuccess):
        return f"success:{item.id}"
    if isinstance(item, CommandFailure):
        return f"failure:{item.id}:{item.code}"
    if isinstance(item, UnknownMessage):
        return f"unknown:{item.type}"
    if isinstance(item, Opened):
        return "opened"
    if isinstance(item, Closed):
        return f"closed:{item.code}"
    if isinstance(item, HTTPRequest):
        return f"{item.method} {item.target}"
    if isinstance(item, tuple):  # (opcode, payload) of a frame a binding wrote
        return f"frame:{item[0]}:{item[1]!r}"
    if isinstance(item, str):
        return f"text:{item}"
    raise AssertionError(f"no kind for {item!r}")


def error_key(exc: BaseException | None) -> tuple[Any, ...] | None:
    if exc is None:
        return None
    if isinstance(exc, LimitExceeded):
        return ("LimitExceeded", exc.limit, exc.value)
    if isinstance(exc, HTTPStatusError):
        return ("HTTPStatusError", exc.status, exc.body, exc.detail, exc.reason, dict(exc.headers))
    hint = getattr(exc, "hint", None)
    return (type(exc).__name__, str(exc), hint, getattr(exc, "partial", None))


@attrs.define
class Outcome:
    """Everything one binding produced from one input, and how it ended."""

    items: list[Any] = attrs.field(factory=list)
    error: BaseException | None = None
    binding: Any = None
    written: bytearray = attrs.field(factory=bytearray)
    """What the binding wrote back on its own (server role: its answers)."""

    def key(self) -> tuple[Any, ...]:
        return ([item_key(item) for item in self.items], error_key(self.error))

    @property
    def kinds(self) -> list[str]:
        return [kind(item) for item in self.items]


def _run(outcome: Outcome, step: Callable[[], None]) -> Outcome:
    try:
        step()
    except (ProtocolError, HTTPStatusError) as exc:
        outcome.error = exc
    return outcome


def feed_exchange(
    data: bytes,
    split: Splitter = whole,
    *,
    eof: bool = True,
    limits: Limits = DEFAULT_LIMITS,
    via: str = "events",
) -> Outcome:
    """An event-stream request answered with ``data`` (then EOF when ``eof``)."""
    exchange = EventStreamExchange(HTTP, THREAD, {"channels": ["values"]}, limits=limits)
    exchange.request_data()
    outcome = Outcome(binding=exchange)

    def drain() -> None:
        if via == "events":
            outcome.items.extend(exchange.events())
            return
        while True:
            item = exchange.next_event()
            if isinstance(item, Sentinel):
                if item is END_OF_STREAM:
                    assert exchange.ended
                return
            outcome.items.append(item)

    def step() -> None:
        try:
            for piece in split(data):
                exchange.receive_data(piece)
                drain()
            if eof:
                exchange.receive_data(b"")
                drain()
        finally:
            drain()

    return _run(outcome, step)


def feed_commands(
    data: bytes,
    split: Splitter = whole,
    *,
    eof: bool = True,
    limits: Limits = DEFAULT_LIMITS,
    command_id: int = 7,
) -> Outcome:
    """One command request answered with ``data`` (then EOF when ``eof``)."""
    connection = CommandConnection(HTTP, limits=limits)
    connection.request(
        THREAD, command_id, b'{"id":%d,"method":"state.get","params":{}}' % command_id
    )
    outcome = Outcome(binding=connection)

    def poll() -> None:
        reply = connection.next_reply()
        if reply is not NEED_DATA:
            outcome.items.append(reply)

    def step() -> None:
        for piece in split(data):
            if outcome.items:
                return  # the reply is complete: the rest is the next cycle's
            connection.receive_data(piece)
            poll()
        if eof and not outcome.items:
            connection.receive_data(b"")
            poll()

    return _run(outcome, step)


def feed_server(
    data: bytes,
    split: Splitter = whole,
    *,
    eof: bool = True,
    limits: Limits = DEFAULT_LIMITS,
    answer: Callable[[ServerConnection, HTTPRequest], bytes] | None = None,
) -> Outcome:
    """Requests read from ``data``; each answered (by default 200 with an empty body)."""
    server = ServerConnection(limits=limits)
    outcome = Outcome(binding=server)
    written = outcome.written

    def drain() -> None:
        while True:
            request = server.next_request()
            if request is NEED_DATA or request is None:
                return
            assert isinstance(request, HTTPRequest)
            outcome.items.append(request)
            if request.upgrade:
                return  # the socket now belongs to the WebSocket binding
            written.extend(answer(server, request) if answer else server.respond(200))

    def step() -> None:
        for piece in split(data):
            server.receive_data(piece)
            drain()
        if eof:
            server.receive_data(b"")
            drain()

    return _run(outcome, step)


def handshake() -> tuple[WebSocketClient, WebSocketServer]:
    """A client and a server binding after an honest handshake."""
    client = WebSocketClient(WS, THREAD)
    http = ServerConnection()
    http.receive_data(client.connect_data())
    request = http.next_request()
    assert isinstance(request, HTTPRequest)
    server = WebSocketServer(request.raw_headers, request.target)
    client.receive_data(server.accept())
    assert client.events() == [Opened()]
    return client, server


def feed_ws_client(
    data: bytes,
    split: Splitter = whole,
    *,
    eof: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> Outcome:
    """Server frames ``data`` after a handshake; items are what the client decoded,
    then the frames it wrote on its own (pongs, the close reply) as ``(opcode, payload)``."""
    client, _server = handshake()
    client.limits = limits
    outcome = Outcome(binding=client)
    written = bytearray()

    def step() -> None:
        try:
            for piece in split(data):
                client.receive_data(piece)
                outcome.items.extend(client.events())
                written.extend(client.data_to_send())
            if eof:
                client.receive_data(b"")
                outcome.items.extend(client.events())
        finally:
            outcome.items.extend(read_frames(bytes(written)))

    return _run(outcome, step)


def feed_ws_server(
    data: bytes,
    split: Splitter = whole,
    *,
    eof: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> Outcome:
    """Client frames ``data`` after a handshake; items are the messages the server read,
    then the frames it wrote on its own, then ``closed:<code>``."""
    _client, server = handshake()
    server.limits = limits
    outcome = Outcome(binding=server)
    written = bytearray()

    def step() -> None:
        try:
            for piece in split(data):
                server.receive_data(piece)
                outcome.items.extend(server.messages())
                written.extend(server.data_to_send())
            if eof:
                server.receive_data(b"")
                outcome.items.extend(server.messages())
        finally:
            outcome.items.extend(read_frames(bytes(written)))
            if server.closed is not None:
                outcome.items.append(Closed(code=server.closed))

    return _run(outcome, step)


# -- producing ------------------------------------------------------------------------


class Clock:
    """Milliseconds, one more on every call."""

    def __init__(self, start: int = 1_795_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1
        return self.now


def run(
    producer: RunProducer,
    clock: Clock,
    run_id: str = "run-1",
    *,
    after: Callable[[], None] = lambda: None,
) -> None:
    """One run with every kind of event the producer makes; ``after`` runs after each step
    (a pair publishes there, so events go out live, one by one)."""
    producer.start_run(run_id, "agent", timestamp=clock())
    after()
    parts = [
        Part("values", (), {"messages": [], "note": "é \u2028 ✓ \r\n"}),
        Part("messages", (), {"event": "message-start", "role": "ai", "id": "m1"}),
        Part("messages", (), {"event": "message-finish"}),
        Part("custom:progress", (), {"step": 1}),
        Part("custom", (), "plain"),
        Part("values", ["child:1"], {"x": 1}),
        Part("updates", ["child:1"], {"n": {"x": 2}}),
        Part("values", (), {"x": 3}, interrupts=[{"id": f"int-{run_id}", "value": {"q": "ok?"}}]),
    ]
    for part in parts:
        producer.push(part, timestamp=clock())
        after()
    producer.finish(timestamp=clock())
    after()


def check(outcome: Any, items: list[str], error: tuple[type[BaseException], str] | None) -> None:
    """A table case's outcome: these item kinds, then this error (type and text) or none."""
    assert outcome.kinds == items
    if error is None:
        assert outcome.error is None, outcome.error
    else:
        cls, text = error
        assert isinstance(outcome.error, cls), outcome.error
        assert text in str(outcome.error)


def run_table_case(
    feed: Callable[..., Any],
    data: bytes,
    eof: bool,
    items: list[str],
    error: tuple[type[BaseException], str] | None,
    limits: Limits,
) -> Any:
    """Feed a table case whole (checking its items and error) and in every other split
    (checking each gives the same outcome); return the whole run's outcome."""
    expected = feed(data, whole, eof=eof, limits=limits)
    check(expected, items, error)
    for split in SPLITS[1:]:
        assert feed(data, split, eof=eof, limits=limits).key() == expected.key(), split.__name__
    return expected
