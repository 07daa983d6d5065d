"""The thread stream: one thread's runs, events and projections, on asyncio or trio.

``async with client.threads.stream(...) as thread:`` opens a task group that
owns every task of the stream (the event pump, and nothing else); leaving the
block, normally, by an exception or by cancellation (also from an already
cancelled scope), closes the event connection, finishes every feed and joins
the pump. An error in the pump (retries exhausted, a status that is not worth
a retry) reaches the caller through the task group.

There is one event connection per thread, carrying the union of what every
subscription asks for (plus root lifecycle, input and values, which the stream
needs for runs, interrupts and ``output``). A subscription that needs more, or
that wants history, reopens it; the session makes sure nobody sees an event
twice and nobody misses one.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import anyio

from threadwire.protocol import (
    ALL_CHANNELS,
    AgentTreeNode,
    Backoff,
    ClientSession,
    Command,
    CommandFailure,
    CommandSuccess,
    Event,
    IdleWatchdog,
    Interrupt,
    Limits,
    LocalProtocolError,
    StreamFilter,
    StreamRequest,
    Subscription,
    SubscriptionReconnect,
    SubscriptionSubscribe,
)
from threadwire.protocol._limits import DEFAULT_LIMITS

from ._errors import CommandTimeout, NetworkError, RunFailed, RunInterrupted, ThreadClosed
from ._feeds import EMPTY, Feed
from ._handles import Signal
from ._pump import EventPump
from ._run_api import AgentAPI, Ended, RunAPI, RunWaiter
from ._streams import SSEConnection, WSConnection
from ._views import (
    ExtensionsView,
    MessagesView,
    RawSink,
    RunScope,
    Sink,
    SubgraphsView,
    ToolCallsView,
    ValuesView,
    interleave,
)

__all__ = ["ThreadStream", "TRANSPORTS"]

TRANSPORTS = ("sse", "websocket")

_TERMINAL = frozenset({"completed", "failed", "interrupted"})
# What the stream itself needs: runs and interrupts everywhere, the root's values.
_RUN_FILTER = StreamFilter(channels={"lifecycle", "input"})
_ROOT_VALUES = StreamFilter(channels={"values"}, namespaces=[()], depth=0)
_ROOT_LIFECYCLE = StreamFilter(channels={"lifecycle"}, namespaces=[()], depth=0)


class _SinkLoop(AsyncIterator[Any]):
    """One ``async for`` over a projection: subscribes on the first step, yields the sink's items.

    A sink also needs the root's lifecycle events to know where its run ends;
    when the filter does not carry them, a second subscription does. A plain
    async iterator rather than an async generator: a loop left early
    (``break``) unsubscribes as soon as the iterator is dropped, with no
    generator for trio to finalize and warn about, and ``aclose()`` does it
    explicitly.
    """

    def __init__(
        self,
        thread: ThreadStream,
        make_sink: Callable[[], Sink],
        stream_filter: StreamFilter,
        history: bool,
    ) -> None:
        self._thread = thread
        self._make_sink = make_sink
        self._filter = stream_filter
        self._history = history
        self._sink: Sink | None = None
        self._take: Callable[[], Any] | None = None  # the sink's feed's take, once there is one
        self._subs: list[Subscription] = []
        self._done = False

    def __aiter__(self) -> _SinkLoop:
        return self

    async def __anext__(self) -> Any:
        take = self._take
        if take is not None:
            item = take()  # queued items need no second coroutine
            if item is not EMPTY:
                return item
        if self._done:
            raise StopAsyncIteration
        pump = self._thread._pump
        try:
            if self._sink is None:
                await self._start()
            assert self._sink is not None
            feed = self._sink.feed
            while True:
                # A read the pump handed over is decoded here, and its events taken
                # at once (see EventPump._take_read).
                pump.run_handoff()
                item = feed.take()
                if item is not EMPTY:
                    return item
                if feed.done:
                    return await feed.get()  # the end, or the feed's error
                await feed.wait()
        except BaseException:
            pump.run_handoff()  # never leave the pump waiting on a loop that is over
            self._finish()  # ended, failed or cancelled: this loop is over
            raise

    async def _start(self) -> None:
        thread = self._thread
        await thread._ensure_pump_soon()
        sink = self._make_sink()
        self._sink = sink
        self._take = sink.feed.take
        session = thread.session
        self._subs.append(session.subscribe(self._filter, history=self._history))
        if not self._filter.matches("lifecycle", ()):
            self._subs.append(session.subscribe(_ROOT_LIFECYCLE, history=self._history))
        for sub in self._subs:
            thread._sinks[sub.id] = sink
        if session.needs_reopen():
            thread._pump.request_reopen()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        thread = self._thread
        for sub in self._subs:
            thread._sinks.pop(sub.id, None)
            thread.session.unsubscribe(sub)
        if self._sink is not None:
            self._sink.feed.close()

    async def aclose(self) -> None:
        """End this loop now (also what dropping the iterator does)."""
        self._finish()

    def __del__(self) -> None:
        self._finish()


class ThreadStream:
    """See the module docstring. Made by ``client.threads.stream(...)``."""

    def __init__(
        self,
        client: Any,
        *,
        assistant_id: str,
        thread_id: str | None = None,
        transport: str = "sse",
        headers: Mapping[str, str] | None = None,
        max_queue_size: int = 1024,
        overflow: str = "block",
        run_start_timeout: float | None = None,
        command_timeout: float | None = 60.0,
        idle_timeout: float = 20.0,
        reconnect: Backoff | None = None,
        limits: Limits = DEFAULT_LIMITS,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
        self._client = client
        self.assistant_id = assistant_id
        self.minted = thread_id is None
        self.thread_id = thread_id if thread_id is not None else str(uuid.uuid4())
        self.transport = transport
        self.headers = dict(headers or {})
        self.max_queue_size = max_queue_size
        self.overflow = overflow
        self.run_start_timeout = run_start_timeout
        self.command_timeout = command_timeout
        self.limits = limits
        self.session = ClientSession(limits=limits)
        self.run = RunAPI(self)
        self.agent = AgentAPI(self)
        self._sinks: dict[int, Sink] = {}
        self._runs_sub = self.session.subscribe(_RUN_FILTER, history=False)
        self._values_sub = self.session.subscribe(_ROOT_VALUES, history=False)
        self._tree: dict[tuple[str, ...], dict[str, Any]] = {}
        self._pump = EventPump(
            self.session,
            open_connection=self._open_connection,
            dispatch=self._dispatch,
            on_reply=self._on_reply,
            on_connection=self._on_connection,
            run_finished=self._run_finished,
            backoff=reconnect or Backoff(),
            watchdog=IdleWatchdog(timeout=idle_timeout),
            find_helper=self._find_helper,
            **({"jitter": jitter} if jitter is not None else {}),
        )
        self._tg: Any = None
        self._pump_started = False
        self._closed = False
        self._waiters: dict[int, tuple[anyio.Event, list[Any]]] = {}
        self._ended: deque[Ended] = deque(maxlen=256)
        self._latest_run: RunWaiter | None = None
        self._run_changed = Signal()
        self._progress: anyio.Event | None = None  # made by the first waiter
        self._progress_waiters = 0

    # -- lifetime ----------------------------------------------------------

    async def __aenter__(self) -> ThreadStream:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        if not self.minted or self.transport == "websocket":
            try:
                await self._ensure_pump()
            except BaseException as exc:
                # The pump failed (or we were cancelled) before the socket was up: leave
                # the task group here, so its scope is exited in this task and the pump's
                # error (RetriesExhausted, HTTPStatusError), not a bare cancellation,
                # reaches the caller.
                if not await self.__aexit__(type(exc), exc, exc.__traceback__):
                    raise
                raise ThreadClosed("the thread stream closed while opening") from None
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        await self.close()
        tg, self._tg = self._tg, None
        try:
            return await tg.__aexit__(*exc_info)  # type: ignore[no-any-return]
        except BaseExceptionGroup as group:
            # The task group wraps even a single error (the body's or the pump's);
            # callers expect `except RunFailed:` or `except RetriesExhausted:` to work.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from group.exceptions[0].__cause__
            raise

    async def close(self) -> None:
        """Stop the stream: feeds end with :class:`ThreadClosed`, the pump is cancelled."""
        if self._closed:
            return
        self._closed = True
        for sink in list(self._sinks.values()):
            sink.fail_closed()
        self._sinks.clear()
        for event, slot in self._waiters.values():
            slot.append(ThreadClosed("the thread stream was closed"))
            event.set()
        self._run_changed.set()
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    async def _ensure_pump(self) -> None:
        if self._closed:
            raise ThreadClosed("the thread stream is closed")
        if self._tg is None:
            raise LocalProtocolError("use the thread stream inside `async with`")
        if not self._pump_started:
            self._pump_started = True
            self._tg.start_soon(self._pump.run)
        if self.transport == "websocket" and self._pump.connection is None:
            await self._pump.connected.wait()

    # -- connections -------------------------------------------------------

    async def _open_connection(self, request: StreamRequest) -> SSEConnection | WSConnection:
        client = self._client
        headers = {**client.headers, **self.headers}
        if self.transport == "websocket":
            return await WSConnection.open(
                client.endpoint,
                self.thread_id,
                headers=headers,
                api_key=client.api_key,
                ssl_context=client.ssl_context,
                connect_timeout=client.connect_timeout,
                limits=self.limits,
            )
        return await SSEConnection.open(
            client.endpoint,
            self.thread_id,
            request,
            headers=headers,
            api_key=client.api_key,
            ssl_context=client.ssl_context,
            connect_timeout=client.connect_timeout,
            limits=self.limits,
        )

    def _find_helper(self) -> Feed[Any] | None:
        """A feed whose consumer waits for events: it can decode the next read itself."""
        for sink in self._sinks.values():
            feed = sink.feed
            if feed.parked:
                return feed
        return None

    def _on_connection(self, conn: SSEConnection | WSConnection | None) -> None:
        if conn is None and self.transport == "websocket":
            # Replies to commands sent on the socket that dropped will never come.
            for command_id, (event, slot) in list(self._waiters.items()):
                if command_id in self.session.pending_commands:
                    self.session.send_failed(command_id)
                slot.append(NetworkError("the WebSocket closed before the command's reply"))
                event.set()
            self._waiters.clear()

    def _run_finished(self) -> bool:
        current = self.session.runs.current
        return current is not None and current.status in _TERMINAL

    # -- commands -----------------------------------------------------------

    async def command(self, command: Command) -> Any:
        """Send ``command`` and return its typed result (raise its CommandError)."""
        if self._closed:
            raise ThreadClosed("the thread stream is closed")
        if self.transport == "websocket":
            return await self._command_in_band(command)
        outgoing = self.session.send(command)
        try:
            reply = await self._client.commands.send(self.thread_id, outgoing)
        except BaseException:
            self.session.send_failed(outgoing.id)
            raise
        outcome = self.session.receive_reply(reply)
        if outcome.error is not None:
            raise outcome.error
        return outcome.result

    async def _command_in_band(self, command: Command) -> Any:
        await self._ensure_pump()
        conn = self._pump.connection
        if not isinstance(conn, WSConnection):
            raise NetworkError("the WebSocket is not connected")
        outgoing = self.session.send(command)
        done = anyio.Event()
        slot: list[Any] = []
        self._waiters[outgoing.id] = (done, slot)
        try:
            await conn.send_command(outgoing)
            with anyio.fail_after(self.command_timeout):
                await done.wait()
        except TimeoutError:
            raise CommandTimeout(
                f"{command.method} (id {outgoing.id}) got no reply within {self.command_timeout} s"
            ) from None
        finally:
            if self._waiters.pop(outgoing.id, None) is not None and outgoing.id in (
                self.session.pending_commands
            ):
                self.session.send_failed(outgoing.id)
        result = slot[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def _on_reply(self, reply: CommandSuccess | CommandFailure) -> None:
        outcome = self.session.receive_reply(reply)
        waiter = self._waiters.pop(outcome.id, None) if outcome.id is not None else None
        if waiter is not None:
            event, slot = waiter
            slot.append(outcome.error if outcome.error is not None else outcome.result)
            event.set()
        elif outcome.error is not None and isinstance(
            outcome.command, SubscriptionSubscribe | SubscriptionReconnect
        ):
            # resume_gap: what we missed is no longer held by the server. Say so.
            raise outcome.error

    # -- runs -----------------------------------------------------------------

    def _expect_run(self) -> RunWaiter:
        """A run is about to be asked for: ``output`` and new loops follow it."""
        waiter = RunWaiter(self.session.last_seq)
        self._latest_run = waiter
        self._run_changed.set()
        self._pump.wake()
        return waiter

    def _start_pump(self) -> None:
        """Start the pump now that the thread exists, without waiting for it.

        Called once the run's command succeeded, before control returns to the
        caller: the subscriptions the caller opens next are then in the first
        stream's request, and the stream is opened once, not twice.
        """
        if self._tg is not None and not self._pump_started and not self._closed:
            self._pump_started = True
            self._tg.start_soon(self._pump.run)

    def _on_root_lifecycle(self, event: Event) -> None:
        data = event.data if type(event.data) is dict else {}
        status = data.get("event")
        if status not in _TERMINAL:
            return
        runs = self.session.runs
        current = runs.current
        error = data.get("error") if status == "failed" else None
        self._ended.append(
            Ended(
                run_id=current.run_id if current is not None else None,
                started_seq=current.started_seq if current is not None else None,
                seq=event.seq,
                status=str(status),
                error=error if type(error) is str else None,
                values=runs.last_values,
                interrupts=runs.pending_interrupts,
            )
        )
        self._run_changed.set()

    def _find_ended(self, waiter: RunWaiter) -> Ended | None:
        for ended in self._ended:
            if waiter.matches(ended):
                return ended
        return None

    @property
    def output(self) -> Any:
        """Awaitable: the final root values of the latest run (started here, or current).

        Resolves when the run completes, raises :class:`RunFailed` when it
        fails and :class:`RunInterrupted` when it stops at an interrupt (answer
        it with ``thread.run.respond`` and await ``output`` again). Waits up to
        ``run_start_timeout`` for a run to be started when none was.
        """
        return self._output()

    async def _output(self) -> Any:
        waiter = self._latest_run
        if waiter is None:
            # No run asked for here: the run the stream shows (in progress, or the
            # last one), else the next one started here, within run_start_timeout.
            with anyio.fail_after(self.run_start_timeout):
                while self._latest_run is None:
                    current = self.session.runs.current
                    if self._ended and (current is None or current.status in _TERMINAL):
                        return self._finished(self._ended[-1])
                    if self._closed:
                        raise ThreadClosed("the thread stream is closed")
                    await self._run_changed.wait()
            waiter = self._latest_run
        await self._ensure_pump()
        while True:
            if waiter.failed is not None:
                raise waiter.failed
            ended = self._find_ended(waiter)
            if ended is not None:
                return self._finished(ended)
            if self._closed:
                raise ThreadClosed("the thread stream closed before the run ended")
            await self._run_changed.wait()

    @staticmethod
    def _finished(ended: Ended) -> Any:
        if ended.status == "failed":
            raise RunFailed(ended.error, run_id=ended.run_id)
        if ended.status == "interrupted":
            raise RunInterrupted(list(ended.interrupts), run_id=ended.run_id)
        return ended.values

    @property
    def interrupted(self) -> bool:
        """True while an interrupt waits for an answer."""
        return self.session.runs.interrupted

    @property
    def interrupts(self) -> list[Interrupt]:
        """The pending interrupts (id, namespace, payload)."""
        return self.session.runs.pending_interrupts

    async def observe_applied_through_seq(self, seq: int) -> None:
        """Wait until the event stream has delivered every event up to ``seq``."""
        await self._ensure_pump()
        while not self.session.caught_up(seq):
            self._progress = progress = anyio.Event()
            self._progress_waiters += 1
            try:
                await progress.wait()
            finally:
                self._progress_waiters -= 1

    # -- dispatch --------------------------------------------------------------

    def _dispatch(
        self, events: list[Event], targets: tuple[Subscription, ...]
    ) -> Awaitable[None] | None:
        """Hand ``events`` (in order, all routed to ``targets``) to their sinks.

        None when done without awaiting. Otherwise (a feed is full, or a run
        ended) an awaitable, not yet started, that the pump awaits at once: it
        does the rest, in order. Raw sinks with room for all of the events take
        them in one step; anything else goes event by event.
        """
        if self._queue_all(events, targets):
            return None
        for index, event in enumerate(events):
            rest = self._dispatch_one(event, targets)
            if rest is not None:
                return self._dispatch_later(rest, events[index + 1 :], targets)
        return None

    def _queue_all(self, events: list[Event], targets: tuple[Subscription, ...]) -> bool:
        """Queue ``events`` in every target's feed at once, if all are raw sinks with room.

        False, and nothing queued, otherwise. A lifecycle event (it comes
        alone) always goes the long way: the thread's run watch reads it, and
        it is the one event a sink's two subscriptions can both match.
        """
        if events[0][0] == "lifecycle":
            return False
        sinks = self._sinks
        takers: list[RawSink] = []
        for sub in targets:
            sink = sinks.get(sub.id)
            if sink is None:
                continue  # the thread's own subscriptions: nothing to do but for lifecycle
            if type(sink) is not RawSink or not sink.takes_all(len(events)):
                return False
            takers.append(sink)
        for sink in takers:
            sink.feed.offer_all(events)
        if self._progress_waiters and self._progress is not None:
            self._progress.set()
        return True

    async def _dispatch_later(
        self, rest: Awaitable[None], events: list[Event], targets: tuple[Subscription, ...]
    ) -> None:
        await rest
        for event in events:
            more = self._dispatch_one(event, targets)
            if more is not None:
                await more

    def _dispatch_one(
        self, event: Event, targets: tuple[Subscription, ...], last: Sink | None = None
    ) -> Awaitable[None] | None:
        """Hand ``event`` to its sinks; None when done without awaiting, else the rest."""
        runs_sub, values_sub, sinks = self._runs_sub, self._values_sub, self._sinks
        for sub in targets:
            if sub is runs_sub:
                if event.method == "lifecycle":
                    self._observe_tree(event)
                    if not event.namespace:
                        self._on_root_lifecycle(event)
                continue
            if sub is values_sub:
                continue
            sink = sinks.get(sub.id)
            if sink is not None and sink is not last:
                last = sink  # a sink's two subscriptions both match a root lifecycle event
                rest = sink.offer(event)
                if rest is not None:
                    after = targets[targets.index(sub) + 1 :]
                    return self._dispatch_rest(rest, event, after, last)
        if self._progress_waiters and self._progress is not None:
            self._progress.set()
        return None

    async def _dispatch_rest(
        self,
        rest: Awaitable[None],
        event: Event,
        targets: tuple[Subscription, ...],
        last: Sink,
    ) -> None:
        await rest
        more = self._dispatch_one(event, targets, last)
        if more is not None:
            await more

    def _observe_tree(self, event: Event) -> None:
        data = event.data if type(event.data) is dict else {}
        status = data.get("event")
        if type(status) is not str:
            return
        node = self._tree.setdefault(event.namespace, {"status": status})
        node["status"] = status
        if type(data.get("graph_name")) is str:
            node["graph_name"] = data["graph_name"]

    def _tree_from_lifecycle(self) -> AgentTreeNode:
        def build(ns: tuple[str, ...]) -> AgentTreeNode:
            node = self._tree.get(ns, {})
            children = sorted(k for k in self._tree if len(k) == len(ns) + 1 and k[: len(ns)] == ns)
            return AgentTreeNode(
                namespace=ns,
                status=node.get("status", "running"),
                graph_name=node.get("graph_name") or (ns[-1].partition(":")[0] if ns else None),
                children=tuple(build(c) for c in children),
            )

        return build(())

    # -- subscriptions -------------------------------------------------------------

    def _run_sink(
        self, make_sink: Callable[[], Sink], stream_filter: StreamFilter, *, history: bool = True
    ) -> AsyncIterator[Any]:
        """Subscribe ``stream_filter``, feed a new sink from the pump, yield what it queues."""
        return _SinkLoop(self, make_sink, stream_filter, history)

    def subscribe(
        self,
        channels: Iterable[str],
        *,
        namespaces: Sequence[Sequence[str]] | None = None,
        depth: int | None = None,
        history: bool = True,
        whole_thread: bool = False,
    ) -> AsyncIterator[Event]:
        """Raw events of ``channels`` in the given scope.

        Like every projection, the loop covers one run (from its start, with
        ``history``) and ends after its terminal event; ``whole_thread=True``
        follows every run until the loop or the thread stream is closed.
        """
        stream_filter = StreamFilter(
            channels=frozenset(channels), namespaces=namespaces, depth=depth
        )
        return self._run_sink(
            lambda: RawSink(self, None if whole_thread else RunScope.for_thread(self)),
            stream_filter,
            history=history,
        )

    @property
    def events(self) -> AsyncIterator[Event]:
        """Every event of every channel of the whole thread, from its start."""
        return self._run_sink(
            lambda: RawSink(self, None), StreamFilter(channels=ALL_CHANNELS), history=True
        )

    # -- projections ------------------------------------------------------------------

    @property
    def values(self) -> ValuesView:
        """Each root state snapshot of the run (see :class:`ValuesView`)."""
        return ValuesView(self)

    @property
    def messages(self) -> MessagesView:
        """A live :class:`MessageStream` per root message of the run."""
        return MessagesView(self)

    @property
    def tool_calls(self) -> ToolCallsView:
        """A live :class:`ToolCallHandle` per root tool call of the run."""
        return ToolCallsView(self)

    @property
    def subgraphs(self) -> SubgraphsView:
        """A :class:`SubgraphHandle` per child namespace of the root; theirs go deeper."""
        return SubgraphsView(self)

    subagents = subgraphs

    @property
    def extensions(self) -> ExtensionsView:
        """``thread.extensions[name]``: payloads of the run's named custom events."""
        return ExtensionsView(self)

    def interleave_projections(self, names: Sequence[str]) -> AsyncIterator[tuple[str, Any]]:
        """``(name, item)`` of several projections, in the server's order."""
        return interleave(self, names)

    async def _ensure_pump_soon(self) -> None:
        """Start the pump if the thread exists (explicit id) or a run was started."""
        if self._closed:
            raise ThreadClosed("the thread stream is closed")
        if not self.minted or self._latest_run is not None or self.transport == "websocket":
            await self._ensure_pump()
