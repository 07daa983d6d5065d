"""A consumer that waits for events decodes the next read itself (EventPump._take_read).

Charter, on asyncio and trio:

* :class:`Feed` ``wait`` returns when an item is queued, the feed ends, or it
  is poked, and ``parked`` says whether a consumer waits there;
* against the reference server, a waiting consumer's task decodes reads the
  pump handed over, and every event still arrives once, in order;
* an error while a consumer decodes a read is raised by the pump (the caller
  gets it from the ``async with``); a dispatch that must wait is finished by
  the pump, in order; a pump cancelled before it took back a handed-over read
  leaves no coroutine un-awaited; a consumer interrupted while decoding makes
  the pump reconnect (a retryable failure) rather than wait forever;
* with no consumer waiting the pump decodes the read itself.
"""

from __future__ import annotations

import gc
import warnings
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from adapters.helpers import FAST, demo_server, open_thread

from threadwire.adapters._feeds import Feed
from threadwire.adapters._pump import _ENDED, EventPump
from threadwire.protocol import (
    ALL_CHANNELS,
    Backoff,
    ClientSession,
    Event,
    IdleWatchdog,
    RemoteProtocolError,
    StreamFilter,
)

pytestmark = pytest.mark.anyio


async def test_feed_wait_returns_on_an_item_the_end_or_a_poke() -> None:
    feed: Feed[int] = Feed()
    woke: list[str] = []

    async def waiter(label: str) -> None:
        await feed.wait()
        woke.append(label)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter, "poke")
        await anyio.wait_all_tasks_blocked()
        assert feed.parked
        feed.poke()
        await anyio.wait_all_tasks_blocked()
        assert woke == ["poke"] and not feed.parked

        tg.start_soon(waiter, "item")
        await anyio.wait_all_tasks_blocked()
        assert feed.offer(1)
        await anyio.wait_all_tasks_blocked()
        assert woke == ["poke", "item"]

    await feed.wait()  # an item is queued: at once
    assert feed.take() == 1
    feed.poke()  # nobody waits: nothing happens
    feed.finish()
    await feed.wait()  # ended: at once
    assert not feed.parked


async def test_a_waiting_consumer_decodes_the_reads_itself() -> None:
    deciders: list[bool] = []
    original = EventPump._process

    def spy(self: EventPump, conn: Any, data: bytes) -> Any:
        deciders.append(anyio.get_current_task().name.endswith("run"))
        return original(self, conn, data)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EventPump, "_process", spy)
        async with demo_server() as server, open_thread(server.url, "sse") as thread:
            await thread.run.start(input={**FAST, "tokens": 2000})
            seqs = [event.seq async for event in thread.subscribe(ALL_CHANNELS)]
            await thread.output
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # each once, in order
    assert len(seqs) > 2000
    assert False in deciders  # read by the pump, decoded in the consumer's task


def _pump(session: ClientSession, dispatch: Any) -> EventPump:
    async def never_opens(request: Any) -> Any:
        raise AssertionError("not used")

    return EventPump(
        session,
        open_connection=never_opens,
        dispatch=dispatch,
        on_reply=lambda reply: None,
        on_connection=lambda conn: None,
        run_finished=lambda: False,
        backoff=Backoff(),
        watchdog=IdleWatchdog(timeout=5),
    )


class _Conn:
    """What the pump needs of an SSE connection to decode a read."""

    def __init__(self, items: list[Any] | BaseException | None) -> None:
        self.items = items

    def process(self, data: bytes) -> list[Any] | None:
        if isinstance(self.items, BaseException):
            raise self.items
        return self.items


class _Helper:
    """A consumer that takes the read over the moment it is poked."""

    def __init__(self) -> None:
        self.pump: EventPump | None = None

    def poke(self) -> None:
        assert self.pump is not None
        self.pump.run_handoff()


def _session() -> ClientSession:
    session = ClientSession()
    session.subscribe(StreamFilter(channels=ALL_CHANNELS))
    session.stream_opened(session.stream_request())
    return session


EVENT = Event("values", "values", (), {"a": 1}, seq=1, event_id="e1")


async def test_an_error_in_a_handed_over_read_is_raised_by_the_pump() -> None:
    pump = _pump(_session(), lambda events, targets: None)
    helper = _Helper()
    helper.pump = pump
    pump._find_helper = lambda: helper  # type: ignore[method-assign]
    with pytest.raises(RemoteProtocolError, match="bad"):
        await pump._take_read(_Conn(RemoteProtocolError("bad")), b"x")  # type: ignore[arg-type]
    pump.run_handoff()  # nothing handed over any more: nothing to do


async def test_a_blocked_dispatch_is_finished_by_the_pump_in_order() -> None:
    done: list[str] = []

    async def rest() -> None:
        await anyio.lowlevel.checkpoint()
        done.append("rest")

    pump = _pump(_session(), lambda events, targets: rest())
    helper = _Helper()
    helper.pump = pump
    pump._find_helper = lambda: helper  # type: ignore[method-assign]
    assert await pump._take_read(_Conn([EVENT]), b"x") is None  # type: ignore[arg-type]
    assert done == ["rest"] and pump.events_seen == 1
    pump._find_helper = lambda: None  # type: ignore[method-assign]
    assert await pump._take_read(_Conn(None), b"") is not None  # type: ignore[arg-type]


async def test_a_pump_cancelled_before_it_took_back_a_read_leaves_nothing_unawaited() -> None:
    async def rest() -> None:
        raise AssertionError("never awaited")

    pump = _pump(_session(), lambda events, targets: rest())
    helper = _Helper()
    helper.pump = pump
    pump._find_helper = lambda: helper  # type: ignore[method-assign]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would fail here
        with anyio.CancelScope() as scope:
            scope.cancel()
            await pump._take_read(_Conn([EVENT]), b"x")  # type: ignore[arg-type]
        assert scope.cancelled_caught
        gc.collect()
    assert pump._handoff is None and pump._outcome is None


async def test_a_read_whose_decoding_task_was_interrupted_makes_the_pump_reconnect() -> None:
    class _Interrupted(BaseException):
        pass

    class _Interrupting(_Helper):
        def poke(self) -> None:
            with pytest.raises(_Interrupted):
                super().poke()

    pump = _pump(_session(), lambda events, targets: None)
    helper = _Interrupting()
    helper.pump = pump
    pump._find_helper = lambda: helper  # type: ignore[method-assign]
    outcome = await pump._take_read(_Conn(_Interrupted()), b"x")  # type: ignore[arg-type]
    assert outcome is not None and outcome is not _ENDED
    failure, cause = outcome  # type: ignore[misc]
    assert failure.retryable and "interrupted" in str(cause)
