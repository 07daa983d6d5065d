"""Reconnects: a dropped connection resumes where it stopped, or the caller hears why not.

Charter, on asyncio and trio, over SSE and WebSocket, with the reference server
behind a loopback proxy that cuts connections on demand:

* drops in the middle of a long run (several, at different points, also before
  the first event) resume with ``since``: the events seen are exactly the
  server's log, each once, in order, and the streamed text is whole; the SSE
  reconnect asks for ``since`` = the last seq seen minus one (the anchor);
* when reconnecting keeps failing, ``RetriesExhausted`` (with the last failure as
  its cause) reaches the caller out of ``async with``, also while the body is
  blocked in a projection loop, and within a bounded time.
"""

from __future__ import annotations

import anyio
import pytest
from adapters.helpers import FAST, demo_server, event_streams, open_thread
from support.proxy import running_proxy

from threadwire.adapters import NetworkError, RetriesExhausted
from threadwire.adapters._demo_script import demo_long_text
from threadwire.protocol import Backoff, Event, StreamTruncated

pytestmark = pytest.mark.anyio

TOKENS = 500
LONG = {**FAST, "tokens": TOKENS}
PACED = {**LONG, "delay": 0.0005}  # with pace=1: the run outlasts the drops


def _root_end(event: Event) -> bool:
    return (
        event.method == "lifecycle"
        and not event.namespace
        and event.data.get("event") in ("completed", "failed", "interrupted")
    )


@pytest.mark.parametrize("drop_at", [[200], [1, 200, 400]])
async def test_drops_mid_run_lose_and_repeat_nothing(transport: str, drop_at: list[int]) -> None:
    async with (
        demo_server(pace=1) as server,
        event_streams(server) as proxy,
        open_thread(proxy.url, transport, reconnect=Backoff(base=0.01)) as thread,
    ):
        seen: list[Event] = []
        drops = list(drop_at)
        with anyio.fail_after(20):
            await thread.run.start(input=PACED)
            async for event in thread.events:
                seen.append(event)
                if drops and len(seen) == drops[0]:
                    drops.pop(0)
                    proxy.drop()
                if _root_end(event):
                    break
            output = await thread.output
        reconnects = thread._pump.reconnects
        high = server.registry.threads[thread.thread_id].log.high_seq
    assert reconnects >= 1
    assert [e.seq for e in seen] == list(range(1, high + 1))
    deltas = [
        e.data["delta"]["text"]
        for e in seen
        if e.method == "messages"
        and e.data["event"] == "content-block-delta"
        and e.data["delta"]["type"] == "text-delta"
    ]
    assert demo_long_text(TOKENS) in "".join(deltas)
    assert output["messages"][-1]["type"] == "ai"
    if transport == "sse":
        # Each reopen resumes just before the last event seen (the anchor).
        sinces = [body.get("since") for body in proxy.bodies]
        assert all(s is None or 0 <= s < high for s in sinces)
        assert any(s is not None and s > 0 for s in sinces)


async def test_drop_under_a_projection_loop(transport: str) -> None:
    async with (
        demo_server(pace=1) as server,
        running_proxy("127.0.0.1", server.port) as proxy,
        open_thread(proxy.url, transport, reconnect=Backoff(base=0.01)) as thread,
    ):
        await thread.run.start(input=PACED)
        texts = []
        with anyio.fail_after(20):
            async for message in thread.messages:
                pieces = []
                async for piece in message.text:
                    pieces.append(piece)
                    if len(pieces) in (50, 300):
                        proxy.drop()
                texts.append("".join(pieces))
            await thread.output
    assert texts[1] == demo_long_text(TOKENS)
    assert thread._pump.reconnects >= 1


async def test_exhausted_retries_reach_the_caller(transport: str) -> None:
    async with demo_server(pace=1) as server, running_proxy("127.0.0.1", server.port) as proxy:
        started = anyio.current_time()
        with anyio.fail_after(10), pytest.raises(RetriesExhausted) as info:
            async with open_thread(
                proxy.url, transport, reconnect=Backoff(max_attempts=2, base=0.01)
            ) as thread:
                await thread.run.start(input={**FAST, "delay": 0.01})
                async for message in thread.messages:
                    # The proxy now leads nowhere: every reconnect fails.
                    proxy.target = ("127.0.0.1", 9)
                    proxy.drop()
                    await message  # blocked here when the pump gives up
                raise AssertionError("the loop must not end normally")
        assert anyio.current_time() - started < 5
    assert isinstance(info.value.__cause__, NetworkError | OSError) or info.value.__cause__
    assert "gave up after 2 attempts" in str(info.value)


async def test_a_peer_that_hangs_up_before_answering_is_retried(transport: str) -> None:
    """No response head (or half of one) before the close: a network failure, retried."""
    async with demo_server() as server, running_proxy("127.0.0.1", server.port) as proxy:
        proxy.target = ("127.0.0.1", 9)  # accepts, then hangs up: nothing upstream
        with anyio.fail_after(5), pytest.raises(RetriesExhausted) as info:
            async with open_thread(
                proxy.url, transport, "t-1", reconnect=Backoff(max_attempts=2, base=0.01)
            ):
                await anyio.sleep_forever()
    assert proxy.connections == 3
    assert isinstance(info.value.__cause__, NetworkError | StreamTruncated)
