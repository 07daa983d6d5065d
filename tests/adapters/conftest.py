"""Fixtures of the adapter tests (helpers live in helpers.py)."""

from __future__ import annotations

import pytest

TRANSPORTS = ["sse", "websocket"]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Each test that asks for it runs over SSE and over WebSocket."""
    return str(request.param)
