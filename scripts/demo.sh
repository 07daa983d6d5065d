#!/usr/bin/env bash
# Set up threadwire in a virtualenv and run the demo: the reference server with the
# scripted demo agent on a free loopback port, and the client rendering a run live.
# Extra arguments go to `threadwire demo` (e.g. --backend trio --transport websocket).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-$ROOT/.venv}"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import threadwire.adapters" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e .
fi
exec "$VENV/bin/threadwire" demo "$@"
