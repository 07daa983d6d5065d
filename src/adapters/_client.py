"""``connect(url)``: the client, its command pool, and ``client.threads.stream``.

::

    async with threadwire.adapters.connect("http://127.0.0.1:2024") as client:
        async with client.threads.stream(assistant_id="agent") as thread:
            await thread.run.start(input={"messages": [...]})
            async for message in thread.messages:
                async for delta in message.text:
                    print(delta, end="")
            print(await thread.output)

Works unchanged under asyncio and trio. ``url`` may be http, https, ws or
wss, with a path prefix; TLS verifies certificates unless given another
``ssl_context``. ``api_key`` is sent as ``x-api-key``; ``headers`` go with
every request (the stream's own ``accept``/``cache-control``/
``accept-encoding`` cannot be overridden).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

from threadwire.protocol import Limits
from threadwire.protocol._http import parse_url
from threadwire.protocol._limits import DEFAULT_LIMITS

from ._http_commands import CommandPool
from ._thread import ThreadStream

__all__ = ["Client", "connect", "Threads"]


class Threads:
    """``client.threads``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def stream(
        self,
        thread_id: str | None = None,
        *,
        assistant_id: str,
        transport: str = "sse",
        headers: Mapping[str, str] | None = None,
        max_queue_size: int = 1024,
        overflow: str = "block",
        run_start_timeout: float | None = None,
        idle_timeout: float | None = None,
        **options: Any,
    ) -> ThreadStream:
        """A :class:`ThreadStream` for ``thread_id`` (a fresh id when None).

        Use it with ``async with``.
        """
        return ThreadStream(
            self._client,
            assistant_id=assistant_id,
            thread_id=thread_id,
            transport=transport,
            headers=headers,
            max_queue_size=max_queue_size,
            overflow=overflow,
            run_start_timeout=run_start_timeout,
            command_timeout=self._client.command_timeout,
            idle_timeout=idle_timeout if idle_timeout is not None else self._client.idle_timeout,
            limits=self._client.limits,
            **options,
        )


class Client:
    """Connection settings and the shared command pool. Made by :func:`connect`."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float | None = 10.0,
        command_timeout: float | None = 60.0,
        idle_timeout: float = 20.0,
        pool_timeout: float | None = 30.0,
        max_connections: int = 64,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.endpoint = parse_url(url)
        self.headers = dict(headers or {})
        self.api_key = api_key
        self.ssl_context = ssl_context
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.idle_timeout = idle_timeout
        self.limits = limits
        self.commands = CommandPool(
            self.endpoint,
            headers=self.headers,
            api_key=api_key,
            ssl_context=ssl_context,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
            pool_timeout=pool_timeout,
            max_connections=max_connections,
            limits=limits,
        )
        self.threads = Threads(self)

    async def aclose(self) -> None:
        await self.commands.aclose()


@contextlib.asynccontextmanager
async def connect(url: str, **options: Any) -> AsyncIterator[Client]:
    """A :class:`Client` for the Agent Server at ``url`` (see the module docstring)."""
    client = Client(url, **options)
    try:
        yield client
    finally:
        await client.aclose()
