"""TLS: verified by default, a caller's ``ssl_context`` accepted.

Charter, on asyncio and trio, over SSE and WebSocket: the reference server
behind TLS with a certificate from a throwaway CA made in the test (trustme);
with a context that trusts that CA a whole run works over https (commands and
event stream) and wss; without it (the default context verifies against the
system's CAs) connecting fails with ``ConnectError`` (a command at once; the
event stream after its retries, as the cause of ``RetriesExhausted``); a
certificate for another host name fails the same way.
"""

from __future__ import annotations

import ssl

import anyio
import pytest
import trustme
from adapters.helpers import FAST, open_thread, tls_server

from threadwire.adapters import ConnectError, RetriesExhausted
from threadwire.adapters._demo_script import DEMO_ANSWER
from threadwire.protocol import Backoff

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.mark.parametrize(
    ("transport", "scheme"), [("sse", "https"), ("websocket", "https"), ("websocket", "wss")]
)
async def test_a_run_over_tls_with_a_custom_context(
    ca: trustme.CA, transport: str, scheme: str
) -> None:
    async with tls_server(ca) as (server, url):
        url = url.replace("https", scheme)
        async with open_thread(
            url, transport, client_options={"ssl_context": _trusting(ca)}
        ) as thread:
            with anyio.fail_after(10):
                await thread.run.start(input=FAST)
                output = await thread.output
    assert output["messages"][-1]["content"][0]["text"] == DEMO_ANSWER
    assert thread.thread_id in server.registry.threads


async def test_verification_is_on_by_default(ca: trustme.CA, transport: str) -> None:
    async with tls_server(ca) as (server, url):
        async with open_thread(url) as thread:
            with anyio.fail_after(5), pytest.raises(ConnectError, match="CERTIFICATE"):
                await thread.run.start(input=FAST)
        with anyio.fail_after(5), pytest.raises(RetriesExhausted) as info:
            async with open_thread(
                url, transport, "t-1", reconnect=Backoff(max_attempts=1, base=0.01)
            ):
                await anyio.sleep_forever()
        assert isinstance(info.value.__cause__, ConnectError)
    assert server.registry.threads == {}


async def test_a_certificate_for_another_host_is_refused(ca: trustme.CA) -> None:
    async with (
        tls_server(ca, hostnames=("example.org",)) as (server, url),
        open_thread(url, client_options={"ssl_context": _trusting(ca)}) as thread,
    ):
        with anyio.fail_after(5), pytest.raises(ConnectError):
            await thread.run.start(input=FAST)
    assert server.registry.threads == {}
