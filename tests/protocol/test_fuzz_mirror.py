"""The fuzz harnesses' invariants, run by hypothesis in the normal test suite.

Charter: each harness in ``fuzz/`` exposes ``check(data: bytes) -> None``,
which raises (AssertionError, or any exception other than
``RemoteProtocolError``) exactly when its invariant breaks; see the harness
docstrings and ``fuzz/README.md``. Here every check runs on its whole seed
corpus, on arbitrary bytes, on bytes built from the grammar's tokens, on
structured JSON built from the protocol's field names, and on fixture seeds
mutated by hypothesis, for a bounded number of examples, so CI exercises the
same invariants the fuzzer does.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"


def _load(name: str) -> ModuleType:
    sys.path.insert(0, str(FUZZ))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(FUZZ))


HARNESSES = {name: _load(f"fuzz_{name}") for name in ("sse", "codec", "session")}
SEEDS = {name: sorted((FUZZ / "corpus" / f"fuzz_{name}").iterdir()) for name in HARNESSES}
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check(name: str) -> Callable[[bytes], None]:
    return HARNESSES[name].check  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", HARNESSES)
def test_seed_corpus(name: str) -> None:
    assert len(SEEDS[name]) >= 20
    for path in SEEDS[name]:
        check(name)(path.read_bytes())


@pytest.mark.parametrize("name", HARNESSES)
@SETTINGS
@given(data=st.binary(max_size=512))
def test_any_bytes(name: str, data: bytes) -> None:
    check(name)(data)


SSE_TOKENS = st.sampled_from(
    [
        b"data:", b"data: ", b"event: ", b"id: ", b"id:", b"retry: ", b": heartbeat", b":",
        b"\r", b"\n", b"\r\n", b"\r\n\r\n", b"\n\n", b" ", b"\x00", b"\xef\xbb\xbf", b"\xef",
        b"5", b"x", b"\xe2\x80\xa8", b"\xff", b'{"type":"event","seq":', b'"method":"values",',
        b'"params":{"namespace":[],"data":{}}}', b'{"type":"success","id":1,"result":{}}',
    ]
)  # fmt: skip


@pytest.mark.parametrize("name", ["sse", "session"])
@SETTINGS
@given(tokens=st.lists(SSE_TOKENS, max_size=60))
def test_sse_token_soup(name: str, tokens: list[bytes]) -> None:
    check(name)(b"".join(tokens))


KEYS = [
    "type", "id", "method", "params", "event_id", "eventId", "seq", "namespace", "timestamp",
    "data", "node", "event", "delta", "content", "content_block", "index", "interrupt_id",
    "payload", "value", "name", "tool_call_id", "toolCallId", "tool_name", "input", "output",
    "error", "message", "meta", "applied_through_seq", "result", "channels", "namespaces",
    "since", "depth", "responses", "response", "assistant_id", "multitaskStrategy", "cause",
    "from_node", "text", "reasoning", "args", "fields", "encoding", "status", "children", "tree",
    "subscription_id", "replayed_events", "graph_name", "usage", "role", "step", "keys",
    "checkpoint_id", "message_id", "goto", "update", "config",
]  # fmt: skip
WORDS = [
    "event", "success", "error", "values", "updates", "messages", "tools", "lifecycle", "custom",
    "input.requested", "tasks", "checkpoints", "message-start", "content-block-start",
    "content-block-delta", "content-block-finish", "message-finish", "text-delta",
    "reasoning-delta", "data-delta", "block-delta", "tool-call-delta", "tool-started",
    "tool-output-delta", "tool-finished", "tool-error", "running", "started", "completed",
    "failed", "interrupted", "toolCall", "send", "edge", "run.start", "input.respond",
    "input.inject", "subscription.subscribe", "subscription.unsubscribe",
    "subscription.reconnect", "agent.getTree", "state.get", "state.listCheckpoints",
    "state.fork", "enqueue", "reject", "",
]  # fmt: skip
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(WORDS)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), inner, max_size=5)
    ),
    max_leaves=14,
)
OBJECTS = st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6)


@SETTINGS
@given(value=OBJECTS)
def test_codec_structured(value: dict[str, Any]) -> None:
    check("codec")(orjson.dumps(value))


@pytest.mark.parametrize("name", ["sse", "session"])
@SETTINGS
@given(frames=st.lists(OBJECTS, max_size=6))
def test_structured_frames_as_sse(name: str, frames: list[dict[str, Any]]) -> None:
    blocks = (b"event: x\r\ndata: " + orjson.dumps(frame) + b"\r\n\r\n" for frame in frames)
    check(name)(b"".join(blocks))


@st.composite
def mutated_seed(draw: st.DrawFn, name: str) -> bytes:
    """A corpus file with a few byte-level edits, as a mutation fuzzer makes them."""
    data = bytearray(draw(st.sampled_from(SEEDS[name])).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8) | SSE_TOKENS)
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        else:
            del data[at:]
    return bytes(data)


@pytest.mark.parametrize("name", HARNESSES)
@SETTINGS
@given(data=st.data())
def test_mutated_seeds(name: str, data: st.DataObject) -> None:
    check(name)(data.draw(mutated_seed(name)))


def test_checks_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken invariant must surface: split-dependent parsing is caught."""
    sse = HARNESSES["sse"]
    real = sse.parse_sse

    def split_dependent(pieces: Any, *args: Any, **kwargs: Any) -> Any:
        items, error, last_id, retry = real(pieces, *args, **kwargs)
        return items, error, last_id + "!" * (len(pieces) > 1), retry

    monkeypatch.setattr(sse, "parse_sse", split_dependent)
    with pytest.raises(AssertionError):
        sse.check(b"data: a\n\ndata: b\n\n")
