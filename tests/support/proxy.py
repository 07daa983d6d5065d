"""A loopback TCP proxy that can cut every connection on demand.

Used to test reconnects: the client talks to the proxy, the proxy to the
server; ``drop()`` closes every open connection in both directions, as a
network failure would. Runs inside the test's task group; ``aclose`` (or
leaving ``running_proxy``) stops it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
from anyio.abc import SocketStream


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0
        self.bytes_down = 0
        self._streams: list[SocketStream] = []
        self._scopes: list[anyio.CancelScope] = []
        self.drop_after_bytes: int | None = None
        """Cut the next connection once this many bytes went to the client."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _pipe(self, src: SocketStream, dst: SocketStream, down: bool) -> None:
        with contextlib.suppress(
            anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError
        ):
            while True:
                data = await src.receive(65536)
                if down:
                    self.bytes_down += len(data)
                await dst.send(data)
                if (
                    down
                    and self.drop_after_bytes is not None
                    and (self.bytes_down >= self.drop_after_bytes)
                ):
                    self.drop_after_bytes = None
                    self.drop()

    async def _handle(self, client: SocketStream) -> None:
        self.connections += 1
        async with client:
            try:
                server = await anyio.connect_tcp(*self.target)
            except OSError:
                return
            async with server, anyio.create_task_group() as tg:
                scope = tg.cancel_scope
                self._scopes.append(scope)
                self._streams += [client, server]
                tg.start_soon(self._pipe, client, server, False)
                tg.start_soon(self._pipe, server, client, True)
            self._scopes.remove(scope)

    def drop(self) -> None:
        """Cut every open connection (both sides see an abrupt close)."""
        for scope in self._scopes:
            scope.cancel()


@contextlib.asynccontextmanager
async def running_proxy(target_host: str, target_port: int) -> AsyncIterator[Proxy]:
    proxy = Proxy(target_host, target_port)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    proxy.port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, proxy._handle)
        try:
            yield proxy
        finally:
            tg.cancel_scope.cancel()
