"""threadwire.protocol.producer: the server role of the Agent Streaming Protocol, sans IO.

* :class:`EventLog` (one per thread): numbers parts into envelopes with a
  seq monotonic across runs and a durable event id, keeps a bounded replay
  buffer, answers ``since`` exactly or with a :class:`Gap`, and fans each
  event out to the attached connections (encoded once).
* :class:`RunProducer`: root ``running`` and exactly one terminal per run,
  child ``started`` before a namespace's first event and a terminal at its
  end, ``input.requested`` per interrupt, the agent tree, and the
  validation of ``input.respond``.
* :class:`ServerSession` (one per connection, WebSocket, SSE or HTTP):
  decodes commands, answers subscriptions, dispatches the rest to a
  :class:`CommandHandler` the embedding server implements, and queues
  replies and events, in order, in a bounded :class:`Outbox` whose overflow
  cuts the slow subscriber off.
* :func:`parse_stream_request` validates an event-stream request body.

Nothing here performs I/O, reads a clock or draws random numbers:
timestamps, run ids and interrupt ids come in as arguments.
"""

from ._framing import (
    HEARTBEAT,
    SSE_HEADERS,
    WS_CLOSE_FELL_BEHIND,
    StreamRequestError,
    Transport,
    channels_error,
    parse_stream_request,
)
from ._handler import BaseHandler, CommandHandler, CommandRejected
from ._lifecycle import OUTCOMES, PendingInterrupt, RunProducer
from ._log import DEFAULT_BUFFER_SIZE, EventLog, Gap, LogEntry, Sink
from ._outbox import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_EVENTS,
    DEFAULT_MAX_REPLAY_EVENTS,
    Outbox,
)
from ._parts import InterruptSpec, Part
from ._server import CommandReply, ServerSession

__all__ = [
    # log
    "Part",
    "EventLog",
    "LogEntry",
    "Gap",
    "Sink",
    "DEFAULT_BUFFER_SIZE",
    # runs
    "RunProducer",
    "PendingInterrupt",
    "InterruptSpec",
    "OUTCOMES",
    # sessions
    "ServerSession",
    "CommandReply",
    "CommandHandler",
    "BaseHandler",
    "CommandRejected",
    "Outbox",
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_REPLAY_EVENTS",
    # framing
    "Transport",
    "HEARTBEAT",
    "SSE_HEADERS",
    "WS_CLOSE_FELL_BEHIND",
    "StreamRequestError",
    "parse_stream_request",
    "channels_error",
]
