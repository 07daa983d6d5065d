"""Commands over HTTP: POSTs on a small pool of keep-alive connections.

Idle connections wait in a LIFO list (taking one is O(1); nothing scans the
pool), at most ``max_connections`` are open at once, and a caller that cannot
get one within ``pool_timeout`` gets :class:`PoolExhausted` rather than
waiting forever. Long-lived event streams never come from this pool.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping

import anyio
from anyio.abc import ByteStream

from threadwire.protocol import CommandFailure, CommandSuccess, Limits, OutgoingCommand
from threadwire.protocol._http import Endpoint
from threadwire.protocol._http_client import CommandConnection
from threadwire.protocol._limits import DEFAULT_LIMITS
from threadwire.protocol._sse import NEED_DATA

from ._errors import CommandTimeout, NetworkError, TransportError
from ._net import aclose_quietly, open_stream, read_chunk, send_all

__all__ = ["CommandPool", "PoolExhausted"]


class PoolExhausted(TransportError):
    """No command connection became free within the pool timeout."""


class _Conn:
    __slots__ = ("http", "stream", "used")

    def __init__(self, stream: ByteStream, http: CommandConnection) -> None:
        self.stream = stream
        self.http = http
        self.used = False


class CommandPool:
    """See the module docstring."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        api_key: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float | None = 10.0,
        command_timeout: float | None = 60.0,
        pool_timeout: float | None = 30.0,
        max_connections: int = 64,
        limits: Limits = DEFAULT_LIMITS,
        path: str = "commands",
    ) -> None:
        self._endpoint = endpoint
        self._headers = (
            list(headers.items()) if isinstance(headers, Mapping) else list(headers or ())
        )
        self._api_key = api_key
        self._ssl_context = ssl_context
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._pool_timeout = pool_timeout
        self._limits = limits
        self._path = path
        self._idle: list[_Conn] = []
        self._slots = anyio.Semaphore(max_connections)
        self._closed = False

    async def send(
        self, thread_id: str, outgoing: OutgoingCommand
    ) -> CommandSuccess | CommandFailure:
        """POST one command and return its reply (errors as typed exceptions)."""
        if self._closed:
            raise TransportError("the command pool is closed")
        try:
            with anyio.fail_after(self._pool_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise PoolExhausted(
                f"no command connection free within {self._pool_timeout} s "
                "(raise max_connections or pool_timeout)"
            ) from None
        try:
            return await self._send_on_a_connection(thread_id, outgoing)
        finally:
            self._slots.release()

    async def _send_on_a_connection(
        self, thread_id: str, outgoing: OutgoingCommand
    ) -> CommandSuccess | CommandFailure:
        while True:
            conn = self._idle.pop() if self._idle else None
            reused = conn is not None
            if conn is None:
                conn = await self._open()
            try:
                reply = await self._exchange(conn, thread_id, outgoing)
            except NetworkError:
                await aclose_quietly(conn.stream)
                # A kept-alive connection the server had already closed: the request never
                # reached it, so sending it once more on a fresh connection is safe.
                if reused and not conn.used:
                    continue
                raise
            except BaseException:
                await aclose_quietly(conn.stream)
                raise
            if conn.http.closed or self._closed:
                await aclose_quietly(conn.stream)
            else:
                self._idle.append(conn)
            return reply

    async def _open(self) -> _Conn:
        stream = await open_stream(
            self._endpoint, ssl_context=self._ssl_context, connect_timeout=self._connect_timeout
        )
        http = CommandConnection(
            self._endpoint,
            headers=self._headers,
            api_key=self._api_key,
            path=self._path,
            limits=self._limits,
        )
        return _Conn(stream, http)

    async def _exchange(
        self, conn: _Conn, thread_id: str, outgoing: OutgoingCommand
    ) -> CommandSuccess | CommandFailure:
        conn.used = False
        try:
            with anyio.fail_after(self._command_timeout):
                await send_all(
                    conn.stream, conn.http.request(thread_id, outgoing.id, outgoing.data)
                )
                while True:
                    reply = conn.http.next_reply()
                    if reply is not NEED_DATA:
                        return reply  # type: ignore[return-value]
                    data = await read_chunk(conn.stream)
                    if not data and not conn.used:
                        raise NetworkError("connection closed before any reply byte arrived")
                    conn.used = True
                    conn.http.receive_data(data)
        except TimeoutError:
            raise CommandTimeout(
                f"{outgoing.command.method} (id {outgoing.id}) got no reply within "
                f"{self._command_timeout} s"
            ) from None

    async def aclose(self) -> None:
        """Close the idle connections; connections in use close when their command ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await aclose_quietly(conn.stream)
