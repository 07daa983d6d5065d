"""threadwire.adapters: the sans-IO core bound to sockets with anyio (asyncio and trio).

``connect(url)`` gives a :class:`Client`; ``client.threads.stream(...)`` a
:class:`ThreadStream` with the run API, raw subscriptions and projections.
"""

from ._client import Client, Threads, connect
from ._errors import (
    CommandTimeout,
    ConnectError,
    ConnectTimeout,
    NetworkError,
    QueueOverflow,
    RetriesExhausted,
    RunFailed,
    RunInterrupted,
    StreamIdle,
    ThreadClosed,
    TransportError,
)
from ._feeds import Feed
from ._http_commands import PoolExhausted
from ._run_api import AgentAPI, RunAPI
from ._thread import ThreadStream

__all__ = [
    "connect",
    "Client",
    "Threads",
    "ThreadStream",
    "RunAPI",
    "AgentAPI",
    "Feed",
    "TransportError",
    "ConnectError",
    "ConnectTimeout",
    "NetworkError",
    "StreamIdle",
    "CommandTimeout",
    "RetriesExhausted",
    "PoolExhausted",
    "ThreadClosed",
    "RunFailed",
    "RunInterrupted",
    "QueueOverflow",
]
