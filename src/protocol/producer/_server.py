"""One connection of the producer role: commands in, replies and events out.

A :class:`ServerSession` serves one connection to one thread, over one
:class:`Transport`:

* ``WEBSOCKET``: commands in (:meth:`ServerSession.receive_command`);
  replies and the events of the socket's subscriptions out, interleaved in
  order, one JSON text frame each. Subscriptions live on the socket.
* ``SSE``: one event stream (:meth:`ServerSession.open_stream` with the
  request :func:`parse_stream_request` validated); SSE blocks and heartbeat
  comments out.
* ``HTTP``: one or more stateless ``POST /commands`` bodies; the reply is the
  response body, with :attr:`CommandReply.http_status`.

Everything to write comes from :meth:`ServerSession.data_to_send`, in order
(h2's ``data_to_send``): the session queues replay, live events (the thread's
:class:`EventLog` delivers them as they are appended) and replies in one
bounded :class:`Outbox`, so a reply always follows the events it reflects and
``meta.applied_through_seq`` is exactly the highest seq queued on this
connection before the reply. An event that several subscriptions of one socket
match is sent once; a replay for a new subscription re-sends what the socket
already had (each subscription gets its own history; clients dedup by
``event_id``, which is durable here).

Replays: ``subscription.reconnect`` and ``subscription.subscribe`` replay
``seq > since`` (``subscribe`` honours ``since`` too, which the server ignores,
B14, although the SDK's WebSocket transport sends it on reconnect), or answer
``resume_gap`` with ``since`` and ``min_available_seq`` when events after
``since`` were evicted; ``since`` beyond the newest event is
``invalid_argument``. Without ``since`` everything held is replayed, and when
that no longer starts at seq 1 the answer says so (``min_available_seq`` in the
result; an SSE comment before the replay).

Commands are decoded by :func:`threadwire.protocol.decode_command`.
Malformed input never breaks the session: it is answered with an error
envelope (``id`` echoed, or null) and the next command is read as usual.
Subscription commands are answered here; the others go to the
:class:`CommandHandler`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import attrs
import orjson

from .._codec import decode_command, encode_failure, encode_success
from .._commands import (
    AgentGetTree,
    Command,
    InputInject,
    InputRespond,
    InputRespondBatch,
    RunStart,
    StateFork,
    StateGet,
    StateListCheckpoints,
    SubscriptionReconnect,
    SubscriptionSubscribe,
    SubscriptionUnsubscribe,
)
from .._errors import LocalProtocolError, RemoteProtocolError
from .._filters import StreamFilter
from .._limits import DEFAULT_LIMITS, Limits
from .._session import StreamRequest
from .._sse import serialize_comment
from ._framing import (
    HEARTBEAT,
    WS_CLOSE_FELL_BEHIND,
    StreamRequestError,
    Transport,
    channels_error,
)
from ._handler import BaseHandler, CommandHandler, CommandRejected
from ._log import EventLog, Gap, LogEntry
from ._outbox import DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, DEFAULT_MAX_REPLAY_EVENTS, Outbox

__all__ = ["ServerSession", "CommandReply"]

_ROUTE_CACHE: Final = 4096
_T = TypeVar("_T")
_C = TypeVar("_C", bound=Command)


@attrs.frozen(kw_only=True)
class CommandReply:
    """What :meth:`ServerSession.receive_command` answered.

    The reply frame is also queued: write :meth:`ServerSession.data_to_send`,
    never ``data`` besides it.
    """

    id: Any
    """The command id (the offending value echoed, or None, for a malformed one)."""
    method: str | None
    ok: bool
    data: bytes
    """The reply envelope's JSON (an HTTP response body)."""
    http_status: int = 200
    """400 for a malformed envelope (as the server), 413 for an oversized one, else 200."""
    code: str | None = None
    message: str | None = None
    command: Command | None = None
    result: Any = None
    exception: BaseException | None = None
    """A handler exception answered as ``unknown_error``: log or re-raise it."""


class _HandlerFailed(Exception):
    pass


def _bad_envelope(data: bytes | str) -> bool:
    """Whether ``data`` fails before its params (the server's HTTP 400 cases)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return True
    return (
        type(obj) is not dict
        or type(obj.get("id")) is not int
        or type(obj.get("method")) is not str
    )


class ServerSession:
    """See the module docstring."""

    def __init__(
        self,
        log: EventLog,
        handler: CommandHandler | None = None,
        *,
        transport: Transport = Transport.WEBSOCKET,
        max_queued_events: int = DEFAULT_MAX_EVENTS,
        max_queued_bytes: int = DEFAULT_MAX_BYTES,
        max_replay_events: int = DEFAULT_MAX_REPLAY_EVENTS,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        if not isinstance(transport, Transport):
            raise LocalProtocolError(f"transport must be a Transport, got {transport!r}")
        self.log = log
        self.handler: CommandHandler = handler if handler is not None else BaseHandler()
        self.transport = transport
        self.limits = limits
        self._sse = transport is Transport.SSE
        self._outbox = Outbox(
            max_events=max_queued_events,
            max_bytes=max_queued_bytes,
            max_replay_events=max_replay_events,
        )
        if self._sse:
            self._outbox.closing_notice = lambda reason: serialize_comment(f"closed: {reason}")
        self._subs: dict[str, StreamFilter] = {}
        self._next_sub = 1
        self._routes: dict[tuple[str, tuple[str, ...]], bool] = {}
        self._attached = False
        self._stream_opened = False

    # -- state -------------------------------------------------------------------

    @property
    def on_ready(self) -> Callable[[], None] | None:
        """Called when output becomes available or the session closes (see Outbox)."""
        return self._outbox.on_ready

    @on_ready.setter
    def on_ready(self, callback: Callable[[], None] | None) -> None:
        self._outbox.on_ready = callback

    @property
    def applied_through_seq(self) -> int:
        """The highest seq queued on this connection (0 when none was)."""
        return self._outbox.written_seq

    @property
    def subscriptions(self) -> dict[str, StreamFilter]:
        """The active subscriptions by id (a copy)."""
        return dict(self._subs)

    @property
    def closed(self) -> bool:
        return self._outbox.closed

    @property
    def close_reason(self) -> str | None:
        return self._outbox.close_reason

    @property
    def fell_behind(self) -> bool:
        """True when the overflow policy cut this connection off."""
        return self._outbox.fell_behind

    @property
    def resume_since(self) -> int:
        """The highest seq handed to the writer: where a cut-off client resumes."""
        return self._outbox.taken_seq

    @property
    def close_code(self) -> int | None:
        """The WebSocket close code to use once closed (None: normal closure)."""
        return WS_CLOSE_FELL_BEHIND if self._outbox.fell_behind else None

    @property
    def queued(self) -> int:
        """Frames waiting in the outbox."""
        return len(self._outbox)

    # -- output --------------------------------------------------------------------

    def data_to_send(self) -> list[bytes]:
        """Every frame waiting, in order (WebSocket: one text frame each; SSE: blocks).

        After the session closed, this drains what is left (for SSE, the notice
        saying why), then returns nothing; the adapter then closes the
        connection (WebSocket: with :attr:`close_code` and :attr:`close_reason`).
        """
        return self._outbox.take()

    def heartbeat(self) -> bool:
        """Queue ``: heartbeat`` on an idle SSE stream; True if queued.

        Other transports have nothing to send (WebSocket uses ping frames).
        """
        if not self._sse or len(self._outbox):
            return False
        return self._outbox.push_extra(HEARTBEAT)

    def close(self, reason: str = "closed by the server") -> None:
        """Stop: detach from the log and drop what is queued."""
        self._outbox.close(reason)
        self._shutdown()

    def _shutdown(self) -> None:
        if self._attached:
            self.log.detach(self)
            self._attached = False
        self._subs.clear()
        self._routes.clear()

    def _attach(self) -> None:
        if not self._attached:
            self.log.attach(self)
            self._attached = True

    # -- events --------------------------------------------------------------------

    def deliver(self, entry: LogEntry) -> None:
        """Take one live event from the log (the :class:`Sink` interface)."""
        key = entry.key
        hit = self._routes.get(key)
        if hit is None:
            hit = False
            for stream_filter in self._subs.values():
                if stream_filter.matches(*key):
                    hit = True
                    break
            if len(self._routes) >= _ROUTE_CACHE:
                self._routes.clear()
            self._routes[key] = hit
        if hit and not self._outbox.push(entry.sse if self._sse else entry.json, entry.seq):
            self._shutdown()

    def _replay(self, entries: list[LogEntry]) -> None:
        push = self._outbox.push_replay
        for entry in entries:
            if not push(entry.sse if self._sse else entry.json, entry.seq):
                self._shutdown()
                return

    def open_stream(self, request: StreamRequest) -> int:
        """Start the SSE stream: replay ``seq > since`` that matches, then go live.

        Returns the number of events replayed. Raises :class:`StreamRequestError`
        (answer it with its ``status`` and ``body`` instead of a stream): 410
        ``resume_gap`` when ``since`` is older than the buffer, 400 when it is
        ahead of the log.
        """
        if not self._sse:
            raise LocalProtocolError("open_stream is for SSE sessions (Transport.SSE)")
        if self._stream_opened or self.closed:
            raise LocalProtocolError("open_stream may be called once, on an open session")
        try:
            entries = self.log.entries(request.since, request.filter)
        except LocalProtocolError as exc:  # since is ahead of the log
            raise StreamRequestError(exc.message) from None
        if isinstance(entries, Gap):
            raise StreamRequestError(
                entries.message,
                status=410,
                hint="resume_gap",
                extra={
                    "error": "resume_gap",
                    "since": entries.since,
                    "min_available_seq": entries.min_available_seq,
                },
            )
        self._stream_opened = True
        self._subs["stream"] = request.filter
        self._attach()
        oldest = self.log.min_available_seq
        if request.since is None and oldest > 1:
            # A replay of "everything" that no longer starts at seq 1 says so.
            self._outbox.push_extra(
                serialize_comment(f"replay starts at seq {oldest}: older events are no longer held")
            )
        self._replay(entries)
        return len(entries)

    # -- commands ------------------------------------------------------------------

    def receive_command(self, data: bytes | str) -> CommandReply:
        """Handle one command (a WebSocket text frame or an HTTP body); queue the reply."""
        if self._sse:
            raise LocalProtocolError("an SSE session takes no commands")
        if self.closed:
            raise LocalProtocolError("the session is closed")
        limit = self.limits.max_line_length
        if len(data) > limit:
            return self._failed(
                None,
                None,
                "invalid_argument",
                f"Protocol command of {len(data)} bytes exceeds the limit of {limit} bytes.",
                http_status=413,
            )
        try:
            command_id, command = decode_command(data)
        except RemoteProtocolError as exc:
            status = 400 if _bad_envelope(data) else 200
            return self._failed(
                getattr(exc, "command_id", None), None, exc.hint, exc.message, http_status=status
            )
        try:
            result = self._dispatch(command)
            frame = encode_success(command_id, result, self.applied_through_seq)
        except CommandRejected as exc:
            return self._failed(command_id, command, exc.code, exc.message, extra=exc.extra)
        except _HandlerFailed as exc:
            return self._failed(
                command_id, command, "unknown_error", str(exc), exception=exc.__cause__
            )
        except TypeError as exc:  # orjson could not encode the handler's result
            return self._failed(
                command_id,
                command,
                "unknown_error",
                f"{command.method} result is not JSON-serializable: {exc}",
                exception=exc,
            )
        self._queue_reply(frame)
        return CommandReply(
            id=command_id,
            method=command.method,
            ok=True,
            data=frame,
            command=command,
            result=result,
        )

    def _queue_reply(self, frame: bytes) -> None:
        if not self._outbox.push(frame):
            self._shutdown()

    def _failed(
        self,
        command_id: Any,
        command: Command | None,
        code: str,
        message: str,
        *,
        http_status: int = 200,
        extra: Mapping[str, Any] | None = None,
        exception: BaseException | None = None,
    ) -> CommandReply:
        frame = encode_failure(
            command_id, code, message, applied_through_seq=self.applied_through_seq, extra=extra
        )
        self._queue_reply(frame)
        return CommandReply(
            id=command_id,
            method=None if command is None else command.method,
            ok=False,
            data=frame,
            http_status=http_status,
            code=code,
            message=message,
            command=command,
            exception=exception,
        )

    def _call(self, method: Callable[[_C], _T], command: _C) -> _T:
        try:
            return method(command)
        except CommandRejected:
            raise
        except Exception as exc:  # the handler's bug: answer it, hand it to the adapter
            raise _HandlerFailed(f"{type(exc).__name__}: {exc}") from exc

    def _dispatch(self, command: Command) -> Any:
        handler = self.handler
        if isinstance(command, SubscriptionSubscribe):
            return self._subscribe(command)
        if isinstance(command, SubscriptionReconnect):
            return self._reconnect(command)
        if isinstance(command, SubscriptionUnsubscribe):
            return self._unsubscribe(command)
        if isinstance(command, RunStart):
            return {"run_id": self._call(handler.start_run, command)}
        if isinstance(command, InputRespond | InputRespondBatch):
            self._call(handler.respond, command)
            return {}
        if isinstance(command, AgentGetTree):
            return {"tree": self._call(handler.get_tree, command)}
        if isinstance(command, StateGet):
            return self._call(handler.get_state, command)
        if isinstance(command, StateListCheckpoints):
            return self._call(handler.list_checkpoints, command)
        if isinstance(command, StateFork):
            return self._call(handler.fork, command)
        if isinstance(command, InputInject):
            return self._call(handler.inject, command)
        raise CommandRejected("unknown_command", f"Unknown protocol command: {command.method}")

    # -- subscriptions ---------------------------------------------------------------

    def _require_socket(self, method: str) -> None:
        if self.transport is not Transport.WEBSOCKET:
            raise CommandRejected(
                "not_supported",
                f"{method} needs a WebSocket (subscriptions live on the socket); over HTTP, "
                "open POST /threads/{thread_id}/stream/events with the filter as its body",
            )

    def _filter(
        self, method: str, channels: tuple[str, ...], namespaces: Any, depth: int | None
    ) -> StreamFilter:
        self._require_socket(method)
        problem = channels_error(list(channels))
        if problem is not None:
            raise CommandRejected("invalid_argument", f"{method}: {problem}")
        return StreamFilter(channels=channels, namespaces=namespaces, depth=depth)

    def _add(self, sub_id: str | None, stream_filter: StreamFilter, since: int | None) -> Any:
        if sub_id not in self._subs and len(self._subs) >= self.limits.max_subscriptions:
            raise CommandRejected(
                "invalid_argument",
                f"this connection already has {len(self._subs)} subscriptions "
                f"(the limit is {self.limits.max_subscriptions})",
            )
        try:
            entries = self.log.entries(since, stream_filter)
        except LocalProtocolError as exc:  # since is ahead of the log
            raise CommandRejected("invalid_argument", exc.message) from None
        if isinstance(entries, Gap):
            raise CommandRejected(
                "resume_gap",
                entries.message,
                extra={"since": entries.since, "min_available_seq": entries.min_available_seq},
            )
        if sub_id is None:
            sub_id = self._new_id()
        self._subs[sub_id] = stream_filter
        self._routes.clear()
        self._attach()
        self._replay(entries)
        result: dict[str, Any] = {"subscription_id": sub_id, "replayed_events": len(entries)}
        oldest = self.log.min_available_seq
        if since is None and oldest > 1:
            # A replay of "everything" that no longer starts at seq 1 says so.
            result["min_available_seq"] = oldest
        return result

    def _new_id(self) -> str:
        while True:
            sub_id = f"sub-{self._next_sub}"
            self._next_sub += 1
            if sub_id not in self._subs:
                return sub_id

    def _subscribe(self, command: SubscriptionSubscribe) -> Any:
        # The codec reads since (the real server ignores it, B14; the SDK sends it).
        stream_filter = self._filter(
            command.method, command.channels, command.namespaces, command.depth
        )
        return self._add(None, stream_filter, command.since)

    def _reconnect(self, command: SubscriptionReconnect) -> Any:
        stream_filter = self._filter(
            command.method, command.channels, command.namespaces, command.depth
        )
        return self._add(command.subscription_id, stream_filter, command.since)

    def _unsubscribe(self, command: SubscriptionUnsubscribe) -> Any:
        self._require_socket(command.method)
        if self._subs.pop(command.subscription_id, None) is None:
            raise CommandRejected(
                "no_such_subscription", f"Unknown subscription: {command.subscription_id}"
            )
        self._routes.clear()
        if not self._subs:
            self.log.detach(self)
            self._attached = False
        return {}
