"""The one read loop of a thread stream: connect, read, dispatch, reconnect.

:class:`EventPump` keeps exactly one event connection open for a thread (an
SSE response or a WebSocket), opened with what
:meth:`ClientSession.stream_request` asks for. Every item read goes through
the session (dedup, routing, runs) and then to :func:`dispatch`, in order, so a
slow consumer slows the read (backpressure) and nothing is lost. An SSE read is
decoded by a consumer that waits for events, in its own task, when there is
one (:meth:`EventPump.run_handoff`), so that decoded events never wait for the
scheduler to reach their consumer. The pump:

* reopens the stream when a new subscription needs a wider filter or history
  (:meth:`request_reopen`), resuming with the session's cursor;
* reconnects after a drop, an error status worth retrying, a clean end of an
  SSE response before the run's terminal event (after it, waits until a new
  subscription or run needs the stream), or an idle stream (no bytes,
  heartbeats included, for the watchdog's timeout), carrying out the core's
  backoff decisions with ``anyio.sleep``; an exhausted budget or a failure
  that is not retryable raises :class:`RetriesExhausted` or the failure
  itself, which the owning task group delivers to the caller;
* over WebSocket, subscribes the union filter in band and sends commands on
  the same socket, failing the commands in flight when the socket drops, and
  pings a socket that has been quiet for half the idle timeout.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Final, NamedTuple, Protocol

import anyio

from threadwire.protocol import (
    Backoff,
    ClientSession,
    CommandFailure,
    CommandSuccess,
    Event,
    Failure,
    GiveUp,
    IdleWatchdog,
    LocalProtocolError,
    ReplayMismatch,
    StreamRequest,
    SubscriptionSubscribe,
)
from threadwire.protocol._errors import HTTPStatusError, StreamTruncated

from ._errors import NetworkError, RetriesExhausted, StreamIdle, TransportError
from ._streams import SSEConnection, WSConnection

__all__ = ["EventPump", "Helper"]

Dispatch = Callable[[list[Event], tuple[Any, ...]], "Awaitable[None] | None"]
"""Hands events, in order, to their consumers: None when done at once, else an awaitable
for the rest. The events share one targets tuple (the session's routing of each), and an
event that changes the session's run state (:data:`RUN_STATE_METHODS`) comes alone."""
Opener = Callable[[StreamRequest], Awaitable[SSEConnection | WSConnection]]


class Helper(Protocol):
    """A consumer waiting for events that can take over the decoding of a read."""

    def poke(self) -> None:
        """Wake the consumer: it calls :meth:`EventPump.run_handoff` first thing."""


class _Ended(enum.Enum):
    ENDED = "ENDED"


_ENDED: Final = _Ended.ENDED
"""The response ended (the read brought its last bytes)."""


class _Blocked(NamedTuple):
    """A dispatch that must wait (``rest``), then the groups after it (``routes``)."""

    rest: Awaitable[None]
    routes: Iterator[tuple[Any, list[Any]]]


class _Raise(NamedTuple):
    """An error raised while a consumer took over a read: the pump raises it."""

    error: Exception


def _close(awaitable: Awaitable[None]) -> None:
    """Close a coroutine that will not be awaited now (no "never awaited" warning)."""
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()


_Settled = tuple[Failure, BaseException] | _Ended | None
"""How a read went: all dispatched (None), a failure to act on, or the end."""
_Outcome = _Settled | _Blocked | _Raise


class EventPump:
    """See the module docstring."""

    def __init__(
        self,
        session: ClientSession,
        *,
        open_connection: Opener,
        dispatch: Dispatch,
        on_reply: Callable[[CommandSuccess | CommandFailure], None],
        on_connection: Callable[[SSEConnection | WSConnection | None], None],
        run_finished: Callable[[], bool],
        backoff: Backoff,
        watchdog: IdleWatchdog,
        find_helper: Callable[[], Helper | None] = lambda: None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._session = session
        self._open = open_connection
        self._dispatch = dispatch
        self._on_reply = on_reply
        self._on_connection = on_connection
        self._run_finished = run_finished
        self._backoff = backoff
        self._watchdog = watchdog
        self._jitter = jitter
        self._find_helper = find_helper
        self._handoff: tuple[SSEConnection, bytes] | None = None
        self._handed_back: anyio.Event | None = None
        self._outcome: _Outcome = None
        self._reopen = anyio.Event()
        self.connection: SSEConnection | WSConnection | None = None
        self.connected = anyio.Event()
        self.events_seen = 0
        self.reconnects = 0
        self.parked = False
        """True while no stream is open because the server ended it after a run."""
        self._progressed = False
        self._receive_scope: anyio.CancelScope | None = None

    def request_reopen(self) -> None:
        """Ask the loop to reopen the stream with the session's current request."""
        self._reopen.set()
        if self._receive_scope is not None:
            self._receive_scope.cancel()  # only the read is cancelled, never a dispatch

    def wake(self) -> None:
        """Reopen the stream if the server ended it after a run (a new run is coming)."""
        if self.parked:
            self._reopen.set()

    async def _park(self) -> None:
        self.parked = True
        try:
            await self._reopen.wait()  # reset by _read when the next stream opens
        finally:
            self.parked = False

    async def run(self) -> None:
        """Run until cancelled; raises when reconnecting is not possible or allowed."""
        attempt = 0
        while True:
            request = self._session.stream_request()
            try:
                conn = await self._open(request)
            except Exception as exc:
                attempt = await self._after_failure(self._classify(exc), exc, attempt)
                continue
            self._session.stream_opened(request)
            self.connection = conn
            self._on_connection(conn)
            self.connected.set()
            self._progressed = False
            try:
                failure, cause = await self._read(conn)
            finally:
                self.connection = None
                self._on_connection(None)
                self.connected = anyio.Event()
                await conn.aclose()
            if failure is None:
                attempt = 0  # a deliberate reopen: no backoff
                continue
            if failure.kind == "clean_end" and not failure.retryable:
                # The server ended the stream after the run's terminal event: nothing
                # was lost and nothing is wrong. Open it again when it is needed (a new
                # subscription or run: request_reopen / wake).
                attempt = 0
                await self._park()
                continue
            if self._progressed:
                attempt = 0  # the connection worked for a while: start the budget afresh
            attempt = await self._after_failure(failure, cause, attempt)

    async def _after_failure(
        self, failure: Failure, cause: BaseException | None, attempt: int
    ) -> int:
        decision = self._backoff.decide(failure, attempt, self._jitter())
        if isinstance(decision, GiveUp):
            if not failure.retryable and cause is not None:
                raise cause
            raise RetriesExhausted(decision.reason) from cause
        self.reconnects += 1
        await anyio.sleep(decision.delay)
        return attempt + 1

    @staticmethod
    def _classify(exc: BaseException) -> Failure:
        if isinstance(exc, HTTPStatusError):
            return Failure.http_status(exc.status, exc.detail or "")
        if isinstance(exc, TransportError | OSError | StreamTruncated):
            return Failure.network(str(exc))
        raise exc

    async def _read(
        self, conn: SSEConnection | WSConnection
    ) -> tuple[Failure | None, BaseException | None]:
        """Read until the stream ends, fails, idles or must be reopened.

        A WebSocket is pinged when it has been quiet for half the idle timeout:
        the server sends nothing on a quiet socket, and the pong shows it is
        alive (SSE servers send heartbeats instead).
        """
        if not isinstance(conn, WSConnection):
            return await self._read_items(conn)
        result: tuple[Failure | None, BaseException | None] = (None, None)
        error: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._keepalive, conn)
            try:
                result = await self._read_items(conn)
            except Exception as exc:  # re-raised below, outside the group
                error = exc
            tg.cancel_scope.cancel()
        if error is not None:
            raise error
        return result

    async def _keepalive(self, conn: WSConnection) -> None:
        half = self._watchdog.timeout / 2
        while True:
            quiet = anyio.current_time() - conn.last_activity
            if quiet < half:
                await anyio.sleep(half - quiet)
                continue
            try:
                await conn.ping()
            except (NetworkError, LocalProtocolError):
                return  # closing or gone: the reader reports why
            await anyio.sleep(half)

    async def _read_items(
        self, conn: SSEConnection | WSConnection
    ) -> tuple[Failure | None, BaseException | None]:
        session = self._session
        if isinstance(conn, WSConnection):
            await self._subscribe_in_band(conn)
        reopen = self._reopen
        if reopen.is_set():
            self._reopen = reopen = anyio.Event()
        if session.needs_reopen():
            return None, None  # a subscription came while this stream was being opened
        while True:
            if reopen.is_set():
                return None, None
            now = anyio.current_time()
            deadline = now + max(self._watchdog.remaining(now, conn.last_activity), 0)
            items: list[Any] | None = None
            data: bytes | None = None
            # One cancel scope per read: its deadline is the idle watchdog, and
            # request_reopen cancels it (a dispatch in progress is never cut).
            try:
                with anyio.CancelScope(deadline=deadline) as scope:
                    self._receive_scope = scope
                    if isinstance(conn, SSEConnection):
                        items = conn.ready()
                        if not items:
                            if conn.ended:
                                items = None
                            else:
                                data = await conn.read()
                    else:
                        items = await conn.receive()
            except (TransportError, OSError, StreamTruncated) as exc:
                return Failure.network(str(exc)), exc
            finally:
                self._receive_scope = None
            if scope.cancelled_caught:
                if reopen.is_set():
                    return None, None
                return Failure.idle(self._watchdog.timeout), StreamIdle(
                    f"no data for {self._watchdog.timeout} s"
                )
            if data is not None:
                assert isinstance(conn, SSEConnection)
                outcome = await self._take_read(conn, data)
            elif items is None:
                outcome = _ENDED
            else:
                outcome = await self._settle(self._route(self._session.route_events(items)))
            if outcome is _ENDED:
                return self._ended(conn)
            if outcome is not None:
                return outcome

    def _ended(self, conn: SSEConnection | WSConnection) -> tuple[Failure, BaseException]:
        if isinstance(conn, WSConnection) and conn.closed is not None:
            return Failure.ws_close(conn.closed.code, conn.closed.reason), NetworkError(
                f"WebSocket closed ({conn.closed.code} {conn.closed.reason})"
            )
        return Failure.clean_end(run_finished=self._run_finished()), NetworkError(
            "the event stream ended"
        )

    async def _take_read(self, conn: SSEConnection, data: bytes) -> _Settled:
        """Decode and dispatch one read's bytes: in a consumer's task if one waits.

        A consumer that waits for events (:meth:`Helper.poke`) does the work as
        soon as it runs, and then takes its events at once. Done here instead,
        the decoded events would wait for that consumer until the scheduler
        got round to it, after every other task that was ready: with a
        thousand open streams, a read's worth of events for each (measured:
        bench/many_threads.py). The pump waits meanwhile, so reads and
        dispatches stay in order.
        """
        helper = self._find_helper()
        if helper is None:
            return await self._settle(self._process(conn, data))
        self._handoff = (conn, data)
        self._handed_back = handed_back = anyio.Event()
        try:
            helper.poke()
            await handed_back.wait()
        except BaseException:
            leftover, self._outcome = self._outcome, None
            if type(leftover) is _Blocked:
                _close(leftover.rest)
            raise
        finally:
            self._handoff = None
            self._handed_back = None
        outcome, self._outcome = self._outcome, None
        if type(outcome) is _Raise:
            raise outcome.error
        return await self._settle(outcome)

    def run_handoff(self) -> None:
        """Decode and dispatch the read the pump handed over, if any, in the calling task.

        Consumers call this when they would wait for events. Whatever happens
        goes back to the pump (its errors too, raised there), which goes on
        from it: the caller never waits for anyone here.
        """
        handoff = self._handoff
        if handoff is None:
            return
        self._handoff = None
        # Should the caller's task be interrupted on the way (KeyboardInterrupt), the
        # pump reconnects from the session's cursor: nothing the session took is
        # taken twice, nothing after it is lost.
        outcome: _Outcome = (
            Failure.network("the task decoding a read was interrupted"),
            NetworkError("the task decoding a read was interrupted"),
        )
        try:
            outcome = self._process(*handoff)
        except Exception as exc:
            outcome = _Raise(exc)
        finally:
            self._outcome = outcome
            assert self._handed_back is not None
            self._handed_back.set()

    def _process(self, conn: SSEConnection, data: bytes) -> _Outcome:
        """Decode ``data`` and dispatch what it completes, as far as it goes without waiting."""
        try:
            items = conn.process(data)
        except (TransportError, OSError, StreamTruncated) as exc:
            return Failure.network(str(exc)), exc
        if items is None:
            return _ENDED
        return self._route(self._session.route_events(items))

    def _route(self, routes: Iterator[tuple[Any, list[Any]]]) -> _Outcome:
        """Dispatch the session's groups, in order, until one must wait (:class:`_Blocked`).

        The session hands out events in groups (:meth:`ClientSession.route_events`):
        one call per run of events with the same targets rather than one per
        event, and nothing of a group taken before the group ahead of it was
        dispatched.
        """
        dispatch = self._dispatch
        seen = 0
        try:
            for targets, group in routes:
                if targets is None:  # not an event
                    item = group[0]
                    if type(item) is CommandSuccess or type(item) is CommandFailure:
                        self._on_reply(item)
                    # A heartbeat comment needs nothing: last_activity already moved.
                    # Unknown message types are ignored, as the protocol asks.
                    continue
                seen += len(group)
                rest = dispatch(group, targets)
                if rest is not None:
                    return _Blocked(rest, routes)
        except ReplayMismatch as exc:
            return Failure.network(str(exc)), exc
        finally:
            if seen:
                # Only events count as the connection having worked: a response
                # head or a subscribe reply followed by silence or a drop must
                # spend the retry budget, not reset it.
                self._progressed = True
                self.events_seen += seen
        return None

    async def _settle(self, outcome: _Outcome) -> _Settled:
        """Finish the dispatches that had to wait (a full feed, a run's end), in order."""
        while type(outcome) is _Blocked:
            await outcome.rest
            outcome = self._route(outcome.routes)
        return outcome  # type: ignore[return-value]

    async def _subscribe_in_band(self, conn: WSConnection) -> None:
        """Subscribe the union filter on a new socket, resuming after ``since``.

        ``subscription.subscribe`` rather than ``reconnect``: the real server
        answers ``reconnect`` on a fresh socket with ``no_such_run``. It ignores
        ``since`` and replays all it holds, which the session drops as known; a
        threadwire server honours ``since``.
        """
        request = self._session.stream_request()
        f = request.filter
        command = SubscriptionSubscribe(
            channels=sorted(f.channels),
            namespaces=f.namespaces,
            depth=f.depth,
            since=request.since,
        )
        outgoing = self._session.send(command)
        await conn.send_command(outgoing)
