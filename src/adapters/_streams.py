"""Event connections: one SSE response or one WebSocket, read in one loop.

Both kinds present the same small surface to the thread stream:
``await conn.receive()`` returns the next batch of decoded items (events,
replies, heartbeats) or None once the server ended the stream cleanly, and
``conn.last_activity`` is the clock reading of the last bytes received
(heartbeats included), for the idle watchdog. The WebSocket kind also sends
commands in band. Only the owner's single reader task calls ``receive``; a
lock serializes writes.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable, Mapping
from typing import Any

import anyio
from anyio.abc import ByteStream

from threadwire.protocol import Limits, OutgoingCommand, RemoteProtocolError, StreamRequest
from threadwire.protocol._http import Endpoint
from threadwire.protocol._http_client import EventStreamExchange
from threadwire.protocol._limits import DEFAULT_LIMITS
from threadwire.protocol._ws_client import Closed, Opened, WebSocketClient

from ._errors import NetworkError
from ._net import ReadSize, aclose_quietly, open_stream, read_chunk, send_all

__all__ = ["SSEConnection", "WSConnection", "EventConnection"]

Headers = Mapping[str, str] | Iterable[tuple[str, str]] | None


class SSEConnection:
    """``POST /threads/{id}/stream/events`` and its response body."""

    kind = "sse"

    def __init__(self, stream: ByteStream, exchange: EventStreamExchange) -> None:
        self._stream = stream
        self._exchange = exchange
        self.last_activity = anyio.current_time()
        self._done = False
        self._read_size = ReadSize()

    @classmethod
    async def open(
        cls,
        endpoint: Endpoint,
        thread_id: str,
        request: StreamRequest,
        *,
        headers: Headers = None,
        api_key: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float | None = 10.0,
        limits: Limits = DEFAULT_LIMITS,
    ) -> SSEConnection:
        """Connect, send the request, and wait for the response head (2xx or an error)."""
        stream = await open_stream(
            endpoint, ssl_context=ssl_context, connect_timeout=connect_timeout
        )
        try:
            exchange = EventStreamExchange(
                endpoint,
                thread_id,
                request.to_json(),
                headers=headers,
                api_key=api_key,
                limits=limits,
            )
            conn = cls(stream, exchange)
            await send_all(stream, exchange.request_data())
            with anyio.fail_after(connect_timeout):
                while exchange.head is None:
                    data = await read_chunk(stream, conn._read_size)
                    exchange.receive_data(data)  # raises HTTPStatusError on 4xx/5xx
                    if not data and exchange.head is None:
                        raise NetworkError("connection closed before the response head")
        except TimeoutError:
            await aclose_quietly(stream)
            raise NetworkError(
                f"no response head within {connect_timeout} s from the event stream"
            ) from None
        except BaseException:
            await aclose_quietly(stream)
            raise
        conn.last_activity = anyio.current_time()
        return conn

    async def receive(self) -> list[Any] | None:
        """The next items; None after a clean end of the response.

        Empty when the bytes read completed no item (part of a large event): the
        caller's idle watchdog sees the activity at once. The same as
        :meth:`ready` or else :meth:`read` then :meth:`process`, which a caller
        uses to decode a read in another task than the one that read it.
        """
        items = self.ready()
        if items:
            return items
        if self.ended:
            return None
        return self.process(await self.read())

    def ready(self) -> list[Any]:
        """Items decoded already (those that came with the response head), else ``[]``."""
        return self._exchange.events()

    @property
    def ended(self) -> bool:
        """Whether the response is over: nothing more to read."""
        if self._exchange.ended:
            self._done = True
        return self._done

    async def read(self) -> bytes:
        """The next bytes of the response, undecoded (``b""`` when the peer closed)."""
        data = await read_chunk(self._stream, self._read_size)
        self.last_activity = anyio.current_time()
        return data

    def process(self, data: bytes) -> list[Any] | None:
        """Decode what :meth:`read` returned: the items it completes; None at the end."""
        self._exchange.receive_data(data)
        if not data:
            self._done = True
            items = self._exchange.events()
            return items or None
        return self._exchange.events()

    async def aclose(self) -> None:
        await aclose_quietly(self._stream)


class WSConnection:
    """A WebSocket carrying commands, replies and events."""

    kind = "websocket"

    def __init__(self, stream: ByteStream, client: WebSocketClient) -> None:
        self._stream = stream
        self._client = client
        self._write_lock = anyio.Lock()
        self.last_activity = anyio.current_time()
        self.closed: Closed | None = None
        self._read_size = ReadSize()
        self._pending: list[Any] = []

    @classmethod
    async def open(
        cls,
        endpoint: Endpoint,
        thread_id: str,
        *,
        headers: Headers = None,
        api_key: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float | None = 10.0,
        limits: Limits = DEFAULT_LIMITS,
    ) -> WSConnection:
        """Connect and complete the handshake (a rejection raises HTTPStatusError)."""
        stream = await open_stream(
            endpoint, ssl_context=ssl_context, connect_timeout=connect_timeout
        )
        client = WebSocketClient(
            endpoint, thread_id, headers=headers, api_key=api_key, limits=limits
        )
        conn = cls(stream, client)
        try:
            await send_all(stream, client.connect_data())
            with anyio.fail_after(connect_timeout):
                while True:
                    data = await read_chunk(stream)
                    try:
                        client.receive_data(data)
                    except RemoteProtocolError:
                        if data:
                            raise
                        # The peer hung up before (or in the middle of) its answer: a
                        # network failure worth a retry, as for an SSE response head.
                        raise NetworkError(
                            "connection closed during the WebSocket handshake"
                        ) from None
                    items = client.events()
                    if items and isinstance(items[0], Opened):
                        conn._pending = items[1:]
                        break
                    if not data:
                        raise NetworkError("connection closed during the WebSocket handshake")
        except TimeoutError:
            await aclose_quietly(stream)
            raise NetworkError(f"WebSocket handshake took more than {connect_timeout} s") from None
        except BaseException:
            await aclose_quietly(stream)
            raise
        return conn

    async def send_command(self, outgoing: OutgoingCommand) -> None:
        frame = self._client.send_text(outgoing.data)
        async with self._write_lock:
            await send_all(self._stream, frame)

    async def ping(self) -> None:
        frame = self._client.ping(b"threadwire")
        async with self._write_lock:
            await send_all(self._stream, frame)

    async def receive(self) -> list[Any] | None:
        """The next items; None once the socket closed (see ``closed`` for the code).

        Empty when only control frames came (a pong): the caller's idle watchdog
        sees the activity at once instead of at the end of its current wait.
        """
        while True:
            if self._pending:
                items, self._pending = self._pending, []
                return items
            if self.closed is not None:
                return None
            data = await read_chunk(self._stream, self._read_size)
            self.last_activity = anyio.current_time()
            self._client.receive_data(data)
            reply = self._client.data_to_send()
            if reply:
                # If the peer is gone, its close is what we report.
                async with self._write_lock:
                    with contextlib.suppress(NetworkError):
                        await send_all(self._stream, reply)
            items = []
            for item in self._client.events():
                if isinstance(item, Closed):
                    self.closed = item
                else:
                    items.append(item)
            return items

    async def aclose(self, code: int = 1000) -> None:
        frame = self._client.close(code)
        if frame:
            with anyio.move_on_after(1, shield=True):
                async with self._write_lock:
                    with contextlib.suppress(NetworkError):
                        await send_all(self._stream, frame)
        await aclose_quietly(self._stream)


EventConnection = SSEConnection | WSConnection
