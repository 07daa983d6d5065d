#!/usr/bin/env bash
# mypy --strict over the installed package names (threadwire.protocol and
# threadwire.adapters). The package maps src/protocol and src/adapters under one
# namespace, which mypy cannot see through an editable install, so a throwaway
# folder of symlinks gives it the installed layout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-$ROOT/.venv}"
mkdir -p .typecheck/threadwire
ln -sfn ../../src/protocol .typecheck/threadwire/protocol
ln -sfn ../../src/adapters .typecheck/threadwire/adapters
touch .typecheck/threadwire/py.typed
MYPYPATH=.typecheck exec "$VENV/bin/mypy" --strict -p threadwire.protocol -p threadwire.adapters "$@"
