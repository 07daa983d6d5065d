#!/usr/bin/env bash
# Create (or reuse) the virtualenv that runs the real LangGraph Agent Server
# (`langgraph dev`, in-memory runtime) for threadwire's interop tests.
#
#   scripts/setup-interop-server.sh [VENV_DIR]     # default: <repo>/.venv-interop
#
# Environment:
#   PYTHON                   interpreter used to create the venv (>= 3.11;
#                            default: python3.11 if found, else python3)
#   INTEROP_NO_CONSTRAINTS=1 install only tests/interop/requirements.txt
#                            (top-level pins) without the full constraints lock
#   INTEROP_FORCE=1          reinstall even if the marker says up to date
#
# Idempotent: a marker file inside the venv records a hash of the pinned
# requirements (+ constraints + interpreter version); when it matches and the
# server imports, nothing is downloaded. Needs only PyPI access (pip honours
# PIP_INDEX_URL / PIP_FIND_LINKS as usual). Non-interactive.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="${1:-$REPO_ROOT/.venv-interop}"
REQ="$REPO_ROOT/tests/interop/requirements.txt"
CON="$REPO_ROOT/tests/interop/constraints.txt"
MARKER_NAME=".threadwire-interop-requirements.sha256"

log() { printf '[setup-interop-server] %s\n' "$*" >&2; }

if [[ -z "${PYTHON:-}" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  log "error: $PYTHON is missing or older than 3.11 (langgraph-api's in-memory server needs >= 3.11)"
  exit 2
fi

use_constraints=1
[[ "${INTEROP_NO_CONSTRAINTS:-0}" == "1" ]] && use_constraints=0

# Hash of everything that determines the install.
want_hash="$("$PYTHON" - "$REQ" "$CON" "$use_constraints" <<'PY'
import hashlib, sys, platform
req, con, use_con = sys.argv[1:4]
h = hashlib.sha256()
h.update(open(req, "rb").read())
if use_con == "1":
    h.update(open(con, "rb").read())
h.update(f"{platform.python_implementation()} {platform.python_version()}".encode())
print(h.hexdigest())
PY
)"

VENV_PY="$VENV_DIR/bin/python"
MARKER="$VENV_DIR/$MARKER_NAME"

healthy() {
  [[ -x "$VENV_PY" && -x "$VENV_DIR/bin/langgraph" ]] || return 1
  "$VENV_PY" - <<'PY' >/dev/null 2>&1
import langgraph_api, langgraph_runtime_inmem, langgraph.stream, langgraph.prebuilt  # noqa
from langgraph.prebuilt import ToolCallTransformer  # noqa
PY
}

if [[ "${INTEROP_FORCE:-0}" != "1" && -f "$MARKER" && "$(cat "$MARKER")" == "$want_hash" ]] && healthy; then
  log "up to date: $VENV_DIR"
  echo "$VENV_DIR"
  exit 0
fi

if [[ ! -x "$VENV_PY" ]]; then
  log "creating virtualenv $VENV_DIR with $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
  "$PYTHON" -m venv "$VENV_DIR"
fi
rm -f "$MARKER"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
pip_args=(install --quiet --progress-bar off -r "$REQ")
if [[ "$use_constraints" == "1" ]]; then
  pip_args+=(-c "$CON")
fi
log "installing pinned server stack (this may take a minute)"
"$VENV_PY" -m pip "${pip_args[@]}"

if ! healthy; then
  log "error: installation finished but the server packages do not import"
  exit 1
fi
"$VENV_PY" - <<'PY' >&2
from importlib.metadata import version
pkgs = ["langgraph-cli", "langgraph-api", "langgraph-runtime-inmem", "langgraph",
        "langgraph-prebuilt", "langchain-core", "langgraph-sdk"]
print("[setup-interop-server] installed: " + ", ".join(f"{p}=={version(p)}" for p in pkgs))
PY
echo "$want_hash" >"$MARKER"
log "ready: $VENV_DIR (start with: python tests/interop/server.py $VENV_DIR)"
echo "$VENV_DIR"
