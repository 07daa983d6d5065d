"""Projections as async iterables: ``thread.values``, ``thread.messages``, ...

Each ``async for`` over a projection opens its own subscription (with history,
so a late loop still sees the run from its start) and a *sink*: the pump hands
the sink every event of the subscription, in order, and the sink runs the pure
reducer right there, updating the live objects (messages, tool calls,
subgraphs) and queueing what the loop yields. A loop covers one run: the run
in progress when it starts (or the latest one, or the next one if none has
started yet); it ends after that run's terminal lifecycle event, settling what
is still open with the run's outcome.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from threadwire.protocol import Event, StreamFilter
from threadwire.protocol.projections import (
    ExtensionsReducer,
    MessagesReducer,
    RunOutcome,
    SubgraphNode,
    ToolCallsReducer,
    TreeReducer,
)

from ._feeds import Feed
from ._handles import MessageStream, NodeWatch, ToolCallHandle

if TYPE_CHECKING:
    from ._thread import ThreadStream

__all__ = [
    "Sink",
    "RawSink",
    "ValuesView",
    "MessagesView",
    "ToolCallsView",
    "SubgraphsView",
    "ExtensionsView",
    "SubgraphHandle",
    "interleave",
    "PROJECTION_NAMES",
]

_TERMINAL: Final = frozenset({"completed", "failed", "interrupted"})
_STARTS: Final = frozenset({"running", "started"})
_SUBTREE_CHANNELS: Final = frozenset(
    {"lifecycle", "values", "updates", "messages", "tools", "custom", "tasks", "input"}
)


class RunScope:
    """Which events belong to the run a loop follows.

    ``start_seq`` set: the run that began at that seq. Otherwise the first root
    ``running`` after ``after_seq``.
    """

    def __init__(self, *, start_seq: int | None, after_seq: int) -> None:
        self.start_seq = start_seq
        self.after_seq = after_seq
        self.inside = False

    @classmethod
    def for_thread(cls, thread: ThreadStream) -> RunScope:
        runs = thread.session.runs
        current = runs.current
        pending = thread._latest_run
        if (
            pending is not None
            and pending.failed is None
            and (
                current is None
                or current.started_seq is None
                or current.started_seq <= pending.after_seq
            )
        ):
            # A run was asked for and has not started yet: follow it.
            return cls(start_seq=None, after_seq=pending.after_seq)
        if current is not None and current.started_seq is not None:
            return cls(start_seq=current.started_seq, after_seq=0)
        return cls(start_seq=None, after_seq=thread.session.last_seq if current else 0)

    def admit(self, event: Event) -> tuple[bool, str | None]:
        """(belongs to the run, terminal status if this event ends it)."""
        root_lifecycle = event.method == "lifecycle" and not event.namespace
        status = event.data.get("event") if root_lifecycle and type(event.data) is dict else None
        seq = event.seq if event.seq is not None else 0
        if not self.inside:
            if status in _STARTS and (
                (self.start_seq is not None and seq >= self.start_seq)
                or (self.start_seq is None and seq > self.after_seq)
            ):
                self.inside = True
                return True, None
            if self.start_seq is not None and seq >= self.start_seq:
                self.inside = True  # resumed past the run's start
            else:
                return False, None
        if status in _TERMINAL:
            return True, str(status)
        return True, None


class Sink:
    """The pump's end of one projection loop (see the module docstring)."""

    def __init__(self, thread: ThreadStream, scope: RunScope | None) -> None:
        self.thread = thread
        self.scope = scope
        self.feed: Feed[Any] = Feed(max_queue_size=thread.max_queue_size, overflow=thread.overflow)

    def offer(self, event: Event) -> Awaitable[None] | None:
        """Apply ``event`` and queue its items while the feed has room, without awaiting.

        Returns None when that was all, or an awaitable (not yet started) that
        does the rest in order: the items the feed had no room for, then the
        end of the run. The caller awaits it before anything else.
        """
        terminal = None
        scope = self.scope
        # Inside the run, only a root lifecycle event can change anything.
        if scope is not None and not (scope.inside and event[0] != "lifecycle"):
            inside, terminal = scope.admit(event)
            if not inside:
                return None
        feed = self.feed
        waiting: list[Any] | None = None
        for item in self.apply(event):
            if waiting is None:
                if feed.offer(item):
                    continue
                waiting = []
            waiting.append(item)
        if waiting is None and terminal is None:
            return None
        return self._put_rest(event, waiting or [], terminal)

    async def put(self, event: Event) -> None:
        """Apply ``event`` and queue its items, waiting for room when the feed is full."""
        rest = self.offer(event)
        if rest is not None:
            await rest

    async def _put_rest(self, event: Event, waiting: list[Any], terminal: str | None) -> None:
        feed = self.feed
        for item in waiting:
            await feed.put(item)
        if terminal is not None:
            error = event.data.get("error") if type(event.data) is dict else None
            run = self.thread.session.runs.current
            outcome = RunOutcome(
                status=terminal,
                error=error if type(error) is str else None,
                run_id=run.run_id if run else None,
            )
            for item in self.end_of_run(outcome):
                await feed.put(item)
            feed.finish()

    def apply(self, event: Event) -> Iterable[Any]:
        return (event,)

    def end_of_run(self, outcome: RunOutcome) -> Iterable[Any]:
        return ()

    def close(self, reason: str) -> None:
        """The thread is closing: settle live objects."""

    def fail_closed(self) -> None:
        self.close("the thread stream was closed")
        self.feed.fail_closed()

    def finish(self, error: BaseException | None = None) -> None:
        self.feed.finish(error)


class RawSink(Sink):
    """Raw events, unchanged."""

    def takes_all(self, count: int) -> bool:
        """Whether ``count`` events (no lifecycle event among them) can be queued at once.

        True inside the sink's run (or when it follows no run) with room in the
        feed for all of them: then :meth:`Feed.offer_all` is all there is to do.
        """
        scope = self.scope
        return (scope is None or scope.inside) and self.feed.has_room(count)

    def offer(self, event: Event) -> Awaitable[None] | None:
        # The usual case in one step: inside the run, not a lifecycle event, room.
        scope = self.scope
        if (scope is None or (scope.inside and event[0] != "lifecycle")) and self.feed.offer(event):
            return None
        return super().offer(event)


class _ValuesSink(Sink):
    def __init__(
        self, thread: ThreadStream, scope: RunScope | None, namespace: tuple[str, ...] = ()
    ) -> None:
        super().__init__(thread, scope)
        self.namespace = namespace

    def apply(self, event: Event) -> Iterable[Any]:
        if event.method == "values" and event.namespace == self.namespace:
            return (event.data,)
        return ()


class _MessagesSink(Sink):
    def __init__(
        self, thread: ThreadStream, scope: RunScope | None, namespace: tuple[str, ...] = ()
    ) -> None:
        super().__init__(thread, scope)
        self.namespace = namespace
        self.reducer = MessagesReducer()
        self.streams: dict[int, MessageStream] = {}

    def apply(self, event: Event) -> Iterable[Any]:
        if event.method != "messages" or event.namespace != self.namespace:
            return ()
        update = self.reducer.apply(event)
        if update is None:
            return ()
        return self._on_update(update.kind, update.message, event, update.block_index, update.delta)

    def _on_update(
        self, kind: str, message: Any, event: Event | None, index: Any, delta: Any
    ) -> Iterable[Any]:
        key = id(message)
        stream = self.streams.get(key)
        new = stream is None
        if stream is None:
            stream = self.streams[key] = MessageStream(message)
        stream.update(kind, event, index, delta)
        if message.done:
            self.streams.pop(key, None)
        if kind == "ambiguous" and isinstance(delta, tuple):
            for other in delta:
                other_stream = self.streams.pop(id(other), None)
                if other_stream is not None:
                    other_stream.update("error", None, None, None)
        return (stream,) if new else ()

    def end_of_run(self, outcome: RunOutcome) -> Iterable[Any]:
        for update in self.reducer.end_of_run(outcome):
            self._on_update(update.kind, update.message, None, update.block_index, update.delta)
        return ()

    def close(self, reason: str) -> None:
        for update in self.reducer.close(reason):
            self._on_update(update.kind, update.message, None, update.block_index, update.delta)


class _ToolCallsSink(Sink):
    def __init__(
        self, thread: ThreadStream, scope: RunScope | None, namespace: tuple[str, ...] = ()
    ) -> None:
        super().__init__(thread, scope)
        self.namespace = namespace
        self.messages = MessagesReducer()
        self.reducer = ToolCallsReducer(messages=self.messages)
        self.handles: dict[str, ToolCallHandle] = {}

    def apply(self, event: Event) -> Iterable[Any]:
        if event.namespace != self.namespace:
            return ()
        if event.method == "messages":
            self.messages.apply(event)
            return ()
        if event.method != "tools":
            return ()
        update = self.reducer.apply(event)
        if update is None:
            return ()
        return self._on_update(update.kind, update.call, update.delta)

    def _on_update(self, kind: str, call: Any, delta: Any) -> Iterable[Any]:
        handle = self.handles.get(call.tool_call_id)
        new = handle is None or handle.call is not call
        if new:
            handle = self.handles[call.tool_call_id] = ToolCallHandle(call)
        assert handle is not None
        handle.update(kind, delta)
        if call.done:
            self.handles.pop(call.tool_call_id, None)
        return (handle,) if new else ()

    def end_of_run(self, outcome: RunOutcome) -> Iterable[Any]:
        for update in self.reducer.end_of_run(outcome):
            self._on_update(update.kind, update.call, update.delta)
        return ()

    def close(self, reason: str) -> None:
        for update in self.reducer.close(reason):
            self._on_update(update.kind, update.call, update.delta)


class _SubgraphsSink(Sink):
    """Yields a handle per direct child of ``scope`` (deeper ones via the handle)."""

    def __init__(
        self, thread: ThreadStream, scope: RunScope | None, parent: tuple[str, ...]
    ) -> None:
        super().__init__(thread, scope)
        self.parent = parent
        self.reducer = TreeReducer()
        self.watches: dict[tuple[str, ...], NodeWatch] = {}

    def apply(self, event: Event) -> Iterable[Any]:
        update = self.reducer.apply(event)
        if update is None:
            return ()
        items = []
        nodes: list[SubgraphNode] = [update.node]
        if update.kind == "discovered":
            # Ancestors discovered along with the node come first.
            node = update.node.parent
            while node is not None and node.namespace and node.namespace not in self.watches:
                nodes.insert(0, node)
                node = node.parent
        for node in nodes:
            watch = self.watches.get(node.namespace)
            if watch is None:
                watch = self.watches[node.namespace] = NodeWatch(node)
                if len(node.namespace) == len(self.parent) + 1:
                    items.append(SubgraphHandle(self.thread, node, watch))
            watch.update()
        return items

    def _settle(self) -> None:
        for watch in self.watches.values():
            watch.update()

    def end_of_run(self, outcome: RunOutcome) -> Iterable[Any]:
        self.reducer.end_of_run(outcome)
        self._settle()
        return ()

    def close(self, reason: str) -> None:
        self.reducer.close(reason)
        self._settle()


class _ExtensionSink(Sink):
    def __init__(self, thread: ThreadStream, scope: RunScope | None, name: str | None) -> None:
        super().__init__(thread, scope)
        self.name = name
        self.reducer = ExtensionsReducer()

    def apply(self, event: Event) -> Iterable[Any]:
        update = self.reducer.apply(event)
        if update is None or update.name != self.name:
            return ()
        return (update.payload,)


def _scoped_filter(
    channels: Iterable[str], namespace: tuple[str, ...], depth: int | None
) -> StreamFilter:
    return StreamFilter(
        channels=frozenset(channels) | {"lifecycle"}, namespaces=[namespace], depth=depth
    )


class _View:
    """An async iterable that opens a sink per loop."""

    channels: frozenset[str] = frozenset()

    def __init__(
        self, thread: ThreadStream, namespace: tuple[str, ...] = (), depth: int | None = 0
    ) -> None:
        self._thread = thread
        self._namespace = namespace
        self._depth = depth

    def _sink(self) -> Sink:
        raise NotImplementedError

    def stream_filter(self) -> StreamFilter:
        return _scoped_filter(self.channels, self._namespace, self._depth)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._thread._run_sink(self._sink, self.stream_filter())


class ValuesView(_View):
    """``thread.values``: each state snapshot of the scope's namespace during the run."""

    channels = frozenset({"values"})

    def _sink(self) -> Sink:
        return _ValuesSink(self._thread, RunScope.for_thread(self._thread), self._namespace)


class MessagesView(_View):
    """``thread.messages``: a :class:`MessageStream` per message the run sends."""

    channels = frozenset({"messages"})

    def _sink(self) -> Sink:
        return _MessagesSink(self._thread, RunScope.for_thread(self._thread), self._namespace)


class ToolCallsView(_View):
    """``thread.tool_calls``: a :class:`ToolCallHandle` per tool execution."""

    channels = frozenset({"tools", "messages"})

    def _sink(self) -> Sink:
        return _ToolCallsSink(self._thread, RunScope.for_thread(self._thread), self._namespace)


class SubgraphsView(_View):
    """``thread.subgraphs`` / ``subagents``: a handle per child namespace, any depth below."""

    channels = _SUBTREE_CHANNELS

    def __init__(self, thread: ThreadStream, namespace: tuple[str, ...] = ()) -> None:
        super().__init__(thread, namespace, None)

    def _sink(self) -> Sink:
        return _SubgraphsSink(self._thread, RunScope.for_thread(self._thread), self._namespace)


class ExtensionsView:
    """``thread.extensions[name]``: payloads of the named custom events during the run."""

    def __init__(
        self, thread: ThreadStream, namespace: tuple[str, ...] = (), depth: int | None = None
    ) -> None:
        self._thread = thread
        self._namespace = namespace
        self._depth = depth

    def __getitem__(self, name: str) -> AsyncIterator[Any]:
        thread = self._thread
        stream_filter = _scoped_filter({f"custom:{name}"}, self._namespace, self._depth)
        return thread._run_sink(
            lambda: _ExtensionSink(thread, RunScope.for_thread(thread), name), stream_filter
        )

    @property
    def unnamed(self) -> AsyncIterator[Any]:
        """Payloads of custom events without a name."""
        thread = self._thread
        stream_filter = _scoped_filter({"custom"}, self._namespace, self._depth)
        return thread._run_sink(
            lambda: _ExtensionSink(thread, RunScope.for_thread(thread), None), stream_filter
        )


class SubgraphHandle:
    """A child namespace (a subgraph or subagent), with projections scoped to it.

    ``status`` follows the lifecycle events (``started``, ``running``,
    ``completed``, ``failed``, ``interrupted``); ``await handle`` waits until it
    ended and returns the status. ``handle.subgraphs`` finds its own children,
    at any depth.
    """

    def __init__(self, thread: ThreadStream, node: SubgraphNode, watch: NodeWatch) -> None:
        self._thread = thread
        self.node = node
        self._watch = watch
        ns = node.namespace
        self.messages = MessagesView(thread, ns, 0)
        self.tool_calls = ToolCallsView(thread, ns, 0)
        self.values = ValuesView(thread, ns, 0)
        self.subgraphs = SubgraphsView(thread, ns)
        self.subagents = self.subgraphs
        self.extensions = ExtensionsView(thread, ns, None)

    @property
    def namespace(self) -> tuple[str, ...]:
        return self.node.namespace

    @property
    def path(self) -> str:
        return "/".join(self.node.namespace)

    @property
    def graph_name(self) -> str | None:
        return self.node.graph_name

    @property
    def trigger_call_id(self) -> str | None:
        return self.node.trigger_call_id

    @property
    def cause(self) -> Any:
        return self.node.cause

    @property
    def status(self) -> str:
        return self.node.status

    @property
    def error(self) -> str | None:
        return self.node.error

    def __await__(self) -> Any:
        return self._done().__await__()

    async def _done(self) -> str:
        await self._watch.wait_finished()
        return self.node.status

    def __repr__(self) -> str:
        return f"SubgraphHandle({self.node!r})"


PROJECTION_NAMES: Final = ("values", "messages", "tool_calls", "subgraphs", "updates", "custom")


class _InterleaveSink(Sink):
    def __init__(self, thread: ThreadStream, parts: dict[str, Sink]) -> None:
        super().__init__(thread, RunScope.for_thread(thread))
        self.parts = parts

    def apply(self, event: Event) -> Iterable[Any]:
        out: list[tuple[str, Any]] = []
        for name, part in self.parts.items():
            out.extend((name, item) for item in part.apply(event))
        return out

    def end_of_run(self, outcome: RunOutcome) -> Iterable[Any]:
        out: list[tuple[str, Any]] = []
        for name, part in self.parts.items():
            out.extend((name, item) for item in part.end_of_run(outcome))
        return out

    def close(self, reason: str) -> None:
        for part in self.parts.values():
            part.close(reason)


class _UpdatesSink(Sink):
    def apply(self, event: Event) -> Iterable[Any]:
        return (event.data,) if event.method == "updates" else ()


def interleave(thread: ThreadStream, names: Sequence[str]) -> AsyncIterator[tuple[str, Any]]:
    """Items of several projections as ``(name, item)``, in the server's order.

    Names: ``values``, ``messages``, ``tool_calls``, ``subgraphs``, ``updates``,
    or an extension name (its named custom events).
    """
    if not names:
        raise ValueError("interleave_projections needs at least one projection name")
    factories: dict[str, Callable[[], Sink]] = {}
    channels: set[str] = set()
    for name in names:
        if name == "values":
            factories[name] = lambda: _ValuesSink(thread, None)
            channels.add("values")
        elif name == "messages":
            factories[name] = lambda: _MessagesSink(thread, None)
            channels.add("messages")
        elif name == "tool_calls":
            factories[name] = lambda: _ToolCallsSink(thread, None)
            channels |= {"tools", "messages"}
        elif name == "subgraphs":
            factories[name] = lambda: _SubgraphsSink(thread, None, ())
            channels |= _SUBTREE_CHANNELS
        elif name == "updates":
            factories[name] = lambda: _UpdatesSink(thread, None)
            channels.add("updates")
        elif name in ("lifecycle", "tools", "input"):
            raise ValueError(f"{name!r} is a channel, not a projection; use thread.subscribe")
        else:
            factories[name] = lambda name=name: _ExtensionSink(thread, None, name)  # type: ignore[misc]
            channels.add(f"custom:{name}")
    scoped_to_root = "subgraphs" not in names
    stream_filter = StreamFilter(
        channels=frozenset(channels) | {"lifecycle"},
        namespaces=[()] if scoped_to_root else None,
        depth=0 if scoped_to_root else None,
    )
    return thread._run_sink(
        lambda: _InterleaveSink(thread, {n: f() for n, f in factories.items()}), stream_filter
    )
