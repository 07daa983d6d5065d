"""Fixtures for interop tests against the real LangGraph Agent Server.

``langgraph_server`` (session scope) starts ``langgraph dev`` once for the
whole session from the interop virtualenv and stops it (process group,
SIGTERM then SIGKILL) at the end. It yields a handle with ``.url``.

Environment:

* ``THREADWIRE_INTEROP_URL``: use an already running server; nothing is
  started or stopped.
* ``THREADWIRE_INTEROP_VENV``: the virtualenv made by
  ``scripts/setup-interop-server.sh`` (default ``<repo>/.venv-interop``).
* ``THREADWIRE_INTEROP_REQUIRED=1``: fail instead of skip when the
  virtualenv is missing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from server import DEFAULT_GRAPHS_DIR, DEFAULT_VENV_DIR, start_langgraph_dev  # noqa: E402


@pytest.fixture(scope="session")
def langgraph_server() -> Iterator[Any]:
    url = os.environ.get("THREADWIRE_INTEROP_URL")
    if url:
        yield SimpleNamespace(url=url.rstrip("/"), pid=None, log_path=None)
        return
    venv = Path(os.environ.get("THREADWIRE_INTEROP_VENV", str(DEFAULT_VENV_DIR)))
    if not (venv / "bin" / "langgraph").exists():
        msg = (
            f"interop server virtualenv not found at {venv}; "
            f"run scripts/setup-interop-server.sh {venv}"
        )
        if os.environ.get("THREADWIRE_INTEROP_REQUIRED") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    srv = start_langgraph_dev(venv, DEFAULT_GRAPHS_DIR)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def langgraph_url(langgraph_server: Any) -> str:
    """Base URL (``http://127.0.0.1:<port>``) of the session's server."""
    return str(langgraph_server.url)
