"""Feeds: where the pump puts the events a subscription is owed.

A feed is the adapter-side end of one :class:`~threadwire.protocol.Subscription`.
The pump calls :meth:`Feed.put` for each event routed to it, in stream order,
and :meth:`Feed.finish` when the feed's scope is over (its run ended, the
thread closed, or an error). Consumers iterate with ``async for`` (once; one that
stops early calls :meth:`Feed.close`).

Backpressure is real: a feed holds at most ``max_queue_size`` items. With
``overflow="block"`` (the default) a full feed makes the pump wait, which
slows the socket read; with ``overflow="raise"`` a full feed is finished with
:class:`QueueOverflow`, which its consumer gets after the items already
queued, and the pump goes on for everyone else. The end of a feed is never
dropped: it is a flag, not an item in the bounded queue.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Final, Generic, TypeVar

import anyio

from ._errors import QueueOverflow, ThreadClosed

__all__ = ["Feed", "OVERFLOW_POLICIES", "EMPTY", "Empty"]

T = TypeVar("T")
OVERFLOW_POLICIES = ("block", "raise")


class Empty(enum.Enum):
    """The type of :data:`EMPTY`."""

    EMPTY = "EMPTY"


EMPTY: Final = Empty.EMPTY
"""What :meth:`Feed.take` returns when no item is queued."""


class Feed(Generic[T]):
    """A bounded, single-consumer queue with an unlosable end (see the module docstring)."""

    def __init__(
        self,
        *,
        max_queue_size: int = 1024,
        overflow: str = "block",
        on_close: Callable[[], None] | None = None,
    ) -> None:
        if overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be one of {OVERFLOW_POLICIES}, got {overflow!r}")
        if max_queue_size < 1:
            raise ValueError("max_queue_size must be at least 1")
        self._items: deque[T] = deque()
        self._max = max_queue_size
        self._overflow = overflow
        # Made when a side waits, not before: most feeds never wait, and each
        # event is several objects for the garbage collector to walk while the
        # feed lives. Waking costs a backend call: only a side that waits is woken.
        self._readable: anyio.Event | None = None
        self._writable: anyio.Event | None = None
        self._reader_waits = False
        self._writer_waits = False
        self._reader_parked = False  # waiting in wait(): it takes over a read when poked
        self._done = False
        self._error: BaseException | None = None
        self._consumer_gone = False
        self._on_close = on_close
        self._iterating = False

    @property
    def done(self) -> bool:
        return self._done

    async def put(self, item: T) -> None:
        """Queue ``item``; waits while the feed is full (policy ``block``)."""
        if self._done or self._consumer_gone:
            return
        while len(self._items) >= self._max:
            if self._overflow == "raise":
                self.finish(
                    QueueOverflow(
                        f"consumer fell behind by {self._max} items (max_queue_size); "
                        "the feed was closed rather than drop anything"
                    )
                )
                return
            self._writable = writable = anyio.Event()
            self._writer_waits = True
            try:
                await writable.wait()
            finally:
                self._writer_waits = False
            if self._done or self._consumer_gone:
                return
        self._items.append(item)
        if self._reader_waits:
            self._wake_reader()

    def offer(self, item: T) -> bool:
        """Queue ``item`` if there is room, without awaiting; False: use :meth:`put`."""
        if len(self._items) >= self._max or self._done or self._consumer_gone:
            return False
        self._items.append(item)
        if self._reader_waits:
            self._wake_reader()
        return True

    def has_room(self, count: int) -> bool:
        """Whether :meth:`offer_all` would queue ``count`` items."""
        return len(self._items) + count <= self._max and not (self._done or self._consumer_gone)

    def offer_all(self, items: list[T]) -> bool:
        """Queue all of ``items`` if there is room for all; False: none was queued."""
        if not self.has_room(len(items)):
            return False
        self._items.extend(items)
        if self._reader_waits:
            self._wake_reader()
        return True

    def put_nowait(self, item: T) -> None:
        """Queue ``item`` without waiting (for a consumer that takes everything)."""
        if self._done or self._consumer_gone:
            return
        self._items.append(item)
        if self._reader_waits:
            self._wake_reader()

    def finish(self, error: BaseException | None = None) -> None:
        """End the feed after what is queued; ``error`` is raised to the consumer then."""
        if self._done:
            return
        self._done = True
        self._error = error
        if self._reader_waits:
            self._wake_reader()
        if self._writer_waits:
            self._wake_writer()

    def _wake_reader(self) -> None:
        # Once is enough: the flag stays down until the reader waits again, so a
        # batch of items costs one wake-up, not one per item.
        self._reader_waits = False
        assert self._readable is not None
        self._readable.set()

    def _wake_writer(self) -> None:
        self._writer_waits = False
        assert self._writable is not None
        self._writable.set()

    @property
    def parked(self) -> bool:
        """Whether the consumer waits in :meth:`wait` (so :meth:`poke` wakes it)."""
        return self._reader_parked

    async def wait(self) -> None:
        """Wait until an item is queued, the feed ends, or :meth:`poke` is called.

        For a consumer that takes items with :meth:`take` and checks for work of
        its own after each wake-up (see :meth:`EventPump.run_handoff`).
        """
        if not (self._items or self._done):
            await self._wait_readable(parked=True)

    async def _wait_readable(self, *, parked: bool) -> None:
        """Wait for the next wake-up of the reader (``parked``: :meth:`poke` may wake it)."""
        self._readable = readable = anyio.Event()
        self._reader_waits = True
        self._reader_parked = parked
        try:
            await readable.wait()
        finally:
            self._reader_waits = False
            self._reader_parked = False

    def poke(self) -> None:
        """Wake a consumer parked in :meth:`wait` without queueing anything."""
        if self._reader_waits:
            self._wake_reader()

    def take(self) -> T | Empty:
        """The next queued item without awaiting, or :data:`EMPTY` when none is queued.

        The consumer's fast path: one coroutine fewer per item than :meth:`get`
        while the feed has items (the end and errors are for :meth:`get`).
        """
        if not self._items:
            return EMPTY
        item = self._items.popleft()
        if self._writer_waits:
            self._wake_writer()
        return item

    async def get(self) -> T:
        """The next item; raises StopAsyncIteration at the end (or the feed's error)."""
        while not self._items:
            if self._done:
                if self._error is not None:
                    error, self._error = self._error, None
                    raise error
                raise StopAsyncIteration
            await self._wait_readable(parked=False)
        item = self._items.popleft()
        if self._writer_waits:
            self._wake_writer()
        return item

    def __aiter__(self) -> AsyncIterator[T]:
        if self._iterating:
            raise RuntimeError("this feed already has a consumer; iterate it once")
        self._iterating = True
        return self

    async def __anext__(self) -> T:
        # A plain async iterator, not an async generator: leaving the loop early
        # leaves no generator for trio to finalize (and warn about); a consumer
        # that stops early calls close().
        item = self.take()
        if item is not EMPTY:
            return item
        try:
            return await self.get()
        except BaseException:
            self.close()  # ended, failed or cancelled: the consumer is gone
            raise

    def close(self) -> None:
        """The consumer is gone: drop what is queued and stop taking more."""
        if self._consumer_gone:
            return
        self._consumer_gone = True
        self._items.clear()
        if self._writer_waits:
            self._wake_writer()
        if self._on_close is not None:
            self._on_close()

    def fail_closed(self) -> None:
        """Finish with :class:`ThreadClosed` (the thread stream closed under the consumer)."""
        self.finish(ThreadClosed("the thread stream was closed"))
