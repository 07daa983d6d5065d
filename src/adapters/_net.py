"""Opening byte streams: TCP on loopback or anywhere, TLS verified by default.

The one place that maps the socket layer's exceptions to
:class:`ConnectError` / :class:`NetworkError`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Final

import anyio
from anyio.abc import ByteStream, SocketStream

from threadwire.protocol._http import Endpoint

from ._errors import ConnectError, ConnectTimeout, NetworkError

__all__ = [
    "open_stream",
    "map_network_errors",
    "default_ssl_context",
    "read_chunk",
    "ReadSize",
    "stream_from_socket",
]

READ_SIZE = 128 * 1024
"""The most one read asks for."""
SMALL_READ_SIZE = 16 * 1024
"""What a :class:`ReadSize` asks for while reads come back short."""


class ReadSize:
    """How much the next read of a long-lived stream asks for.

    A read's bytes become decoded events, several times their size, that wait
    in memory until their consumer runs; with a thousand open streams the
    scheduler may run many reads before their consumers. So a stream reads
    16 KB at a time, and 128 KB once four reads in a row brought 16 KB or
    more: a sustained backlog (a replay, a catch-up), where the larger read
    saves work per event. A read that brings less than 16 KB ends the backlog
    (not one that merely fills less than the large size: loopback reads often
    stop short of it in the middle of a backlog).

    Measured (bench/end_to_end.py, trio, where a read costs the most): 128 KB
    backlog reads took 1.29-1.33x the lean reader's time against 1.35-1.41x
    with 64 KB (on trio about half of the 64 KB reads came back with 28 KB);
    256 KB did no better than 128 KB. The read that brings an SSE response's
    head is a first read like any other: at 128 KB it brought a whole run of
    bench/many_threads.py with the head, decoded at once for a consumer that
    had not run yet. Reads of 4 or 8 KB there only made the loop turn more.
    """

    __slots__ = ("_full_reads", "size")

    def __init__(self) -> None:
        self.size = SMALL_READ_SIZE
        self._full_reads = 0

    def update(self, received: int) -> None:
        """Record that the last read brought ``received`` bytes."""
        if received < SMALL_READ_SIZE:
            self._full_reads = 0
            self.size = SMALL_READ_SIZE
            return
        self._full_reads += 1
        if self._full_reads >= 4:
            self.size = READ_SIZE


def default_ssl_context() -> ssl.SSLContext:
    """A client context that verifies certificates and host names."""
    return ssl.create_default_context()


_LOST: Final = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)


class _NetworkErrors:
    """The context manager behind :func:`map_network_errors`.

    A class rather than a ``@contextmanager`` generator: it is entered around
    every read, and while a read waits the generator, its frame and cells
    would be more objects per open stream for the garbage collector to walk.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if exc is None:
            return
        if isinstance(exc, _LOST):
            raise NetworkError(f"connection lost: {exc!r}") from exc
        if isinstance(exc, ssl.SSLError):
            raise NetworkError(f"TLS error: {exc}") from exc
        if isinstance(exc, OSError):
            raise NetworkError(f"network error: {exc}") from exc


_NETWORK_ERRORS: Final = _NetworkErrors()


def map_network_errors() -> _NetworkErrors:
    """Turn the backend's I/O exceptions into :class:`NetworkError` (a context manager)."""
    return _NETWORK_ERRORS


async def open_stream(
    endpoint: Endpoint,
    *,
    ssl_context: ssl.SSLContext | None = None,
    connect_timeout: float | None = 10.0,
) -> ByteStream:
    """Connect to ``endpoint`` (TLS for https/wss), within ``connect_timeout`` seconds."""
    try:
        with anyio.fail_after(connect_timeout):
            if endpoint.tls:
                return await anyio.connect_tcp(
                    endpoint.host,
                    endpoint.port,
                    tls=True,
                    ssl_context=ssl_context or default_ssl_context(),
                    tls_hostname=endpoint.host,
                    tls_standard_compatible=False,
                )
            family = _ip_family(endpoint.host)
            if family is not None:
                return await _connect_ip(family, endpoint.host, endpoint.port)
            return await anyio.connect_tcp(endpoint.host, endpoint.port)
    except TimeoutError:
        raise ConnectTimeout(
            f"connecting to {endpoint.host}:{endpoint.port} took more than {connect_timeout} s"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise ConnectError(f"cannot connect to {endpoint.host}:{endpoint.port}: {exc}") from exc


def _ip_family(host: str) -> socket.AddressFamily | None:
    """The address family of ``host`` if it is an IP address, else None (a name)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


async def _connect_ip(family: socket.AddressFamily, host: str, port: int) -> ByteStream:
    """A TCP connection to an IP address.

    ``anyio.connect_tcp`` runs happy eyeballs in a task group of its own even for
    one address; for a literal there is nothing to race (measured: 186 against
    316 us a connection on asyncio, 119 against 274 us on trio, over loopback).
    """
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        try:
            sock.connect((host, port))
        except BlockingIOError:
            await anyio.wait_writable(sock)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise OSError(error, os.strerror(error)) from None
    except BaseException:
        sock.close()
        raise
    return await stream_from_socket(sock)


async def stream_from_socket(sock: socket.socket) -> SocketStream:
    """An anyio stream over a connected socket (no Nagle delay on TCP); closed on failure."""
    try:
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return await SocketStream.from_socket(sock)
    except BaseException:
        sock.close()
        raise


async def read_chunk(stream: ByteStream, size: ReadSize | None = None) -> bytes:
    """Read up to READ_SIZE, or what ``size`` says (updating it); ``b""`` at the end."""
    with map_network_errors():
        try:
            data = await stream.receive(READ_SIZE if size is None else size.size)
        except anyio.EndOfStream:
            return b""
    if size is not None:
        size.update(len(data))
    return data


async def send_all(stream: ByteStream, data: bytes) -> None:
    with map_network_errors():
        await stream.send(data)


async def aclose_quietly(stream: ByteStream) -> None:
    """Close ``stream`` even from a cancelled scope; errors while closing are moot."""
    with (
        anyio.CancelScope(shield=True),
        contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError),
    ):
        await anyio.aclose_forcefully(stream)


@contextlib.asynccontextmanager
async def connected(
    endpoint: Endpoint, *, ssl_context: ssl.SSLContext | None, connect_timeout: float | None
) -> AsyncIterator[ByteStream]:
    stream = await open_stream(endpoint, ssl_context=ssl_context, connect_timeout=connect_timeout)
    try:
        yield stream
    finally:
        await aclose_quietly(stream)
