#!/usr/bin/env bash
# Set up and run every check of threadwire on a fresh machine: lint, types, the
# core's tests with 100% branch coverage, the adapter tests on asyncio and trio,
# and the interop suite against the real LangGraph Agent Server (installed into
# its own virtualenv by scripts/setup-interop-server.sh, started and stopped by
# the tests). Needs python3 (>= 3.11) and access to PyPI. Non-interactive.
#
#   bash scripts/test.sh            # everything
#   SKIP_INTEROP=1 bash scripts/test.sh   # without the real server
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-$ROOT/.venv}"

log() { printf '\n== %s\n' "$*" >&2; }

log "virtualenv ($VENV)"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.threadwire-test-deps.sha256"
want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[test]"
  echo "$want" > "$stamp"
else
  # The package itself may have new modules: keep the editable install current.
  "$VENV/bin/python" -m pip install -q --no-deps -e . >/dev/null
fi

if [[ "${SKIP_INTEROP:-0}" != "1" ]]; then
  log "the real Agent Server for the interop tests"
  bash scripts/setup-interop-server.sh "$ROOT/.venv-interop"
  export THREADWIRE_INTEROP_VENV="$ROOT/.venv-interop"
  export THREADWIRE_INTEROP_REQUIRED=1
fi

log "ruff"
"$VENV/bin/ruff" check src tests bench fuzz

log "mypy --strict"
bash scripts/typecheck.sh

log "core tests (no I/O) with branch coverage of src/protocol"
"$VENV/bin/coverage" erase
"$VENV/bin/coverage" run -m pytest tests/protocol -q
"$VENV/bin/coverage" report

log "adapter tests (asyncio and trio), CLI, benchmarks' smoke runs"
"$VENV/bin/pytest" tests/adapters tests/bench -q

if [[ "${SKIP_INTEROP:-0}" != "1" ]]; then
  log "interop with the real LangGraph Agent Server"
  "$VENV/bin/pytest" tests/interop -q
fi

log "all checks passed"
