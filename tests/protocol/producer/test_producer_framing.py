"""Event-stream request validation and framing constants.

Charter: a body the server would accept gives the same filter and since; what
the server rejects is a 400 with its message; what the server silently
ignores (a malformed namespaces, depth or since) is a clear 400 here.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from threadwire.protocol import (
    RemoteProtocolError,
    SSEComment,
    SSEParser,
    StreamFilter,
    StreamRequest,
)
from threadwire.protocol.producer import (
    HEARTBEAT,
    SSE_HEADERS,
    WS_CLOSE_FELL_BEHIND,
    StreamRequestError,
    Transport,
    channels_error,
    parse_stream_request,
)

ALLOWED = (
    "Allowed: values, updates, messages, tools, lifecycle, input, custom, tasks, checkpoints, "
    "or any `custom:<name>`."
)


def test_valid_bodies() -> None:
    body = {
        "channels": ["values", "lifecycle", "custom:progress", "checkpoints"],
        "namespaces": [[], ["child"]],
        "depth": 2,
        "since": 42,
        "unknown": "ignored",
    }
    expected = StreamRequest(
        filter=StreamFilter(
            channels=["values", "lifecycle", "custom:progress", "checkpoints"],
            namespaces=[[], ["child"]],
            depth=2,
        ),
        since=42,
    )
    assert parse_stream_request(orjson.dumps(body)) == expected
    assert parse_stream_request(orjson.dumps(body).decode()) == expected
    assert parse_stream_request(body) == expected
    minimal = parse_stream_request(b'{"channels":["input"],"namespaces":null,"depth":null}')
    assert minimal == StreamRequest(filter=StreamFilter(channels=["input"]), since=None)
    assert (
        parse_stream_request({"channels": ["values"], "namespaces": []}).filter.namespaces is None
    )
    assert parse_stream_request({"channels": ["values"], "since": 0}).since == 0


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{bad", "Invalid JSON body"),
        (b"[1]", "the request body must be a JSON object"),
        (b"{}", "channels is required and must be a non-empty array"),
        (b'{"channels": []}', "channels is required and must be a non-empty array"),
        (b'{"channels": "values"}', "channels is required and must be a non-empty array"),
        (
            b'{"channels": ["values", "debug", "bogus", "custom:"]}',
            f"channels contains unsupported entries: debug, bogus, custom:. {ALLOWED}",
        ),
        (
            b'{"channels": [1, null, {"a": 1}, "a", "b", "c", "d"]}',
            f'channels contains unsupported entries: 1, null, {{"a":1}}, a, b. {ALLOWED}',
        ),
        (b'{"channels": ["values"], "namespaces": "x"}', "namespaces must be an array"),
        (
            b'{"channels": ["values"], "namespaces": [["a", 1]]}',
            'namespaces must be an array of namespaces (arrays of strings), got ["a",1]',
        ),
        (b'{"channels": ["values"], "namespaces": ["a"]}', "namespaces must be an array"),
        (
            b'{"channels": ["values"], "depth": false}',
            "depth must be a non-negative integer, got false",
        ),
        (b'{"channels": ["values"], "depth": -1}', "depth must be a non-negative integer, got -1"),
        (
            b'{"channels": ["values"], "since": "5"}',
            'since must be a non-negative integer, got "5"',
        ),
        (
            b'{"channels": ["values"], "since": 1.5}',
            "since must be a non-negative integer, got 1.5",
        ),
    ],
)
def test_rejected_bodies(body: bytes, detail: str) -> None:
    with pytest.raises(StreamRequestError) as info:
        parse_stream_request(body)
    error = info.value
    assert isinstance(error, RemoteProtocolError)
    assert error.status == 400
    assert error.hint == "invalid_argument"
    assert error.detail.startswith(detail) or error.detail == detail
    assert orjson.loads(error.body) == {"detail": error.detail}


def test_unserializable_entries_are_shown() -> None:
    detail = channels_error([object()])
    assert detail is not None and detail.startswith(
        'channels contains unsupported entries: "<object'
    )


def test_error_body_with_extra() -> None:
    error = StreamRequestError("gone", status=410, hint="resume_gap", extra={"since": 1})
    assert (error.status, error.hint, error.message) == (410, "resume_gap", "gone")
    assert orjson.loads(error.body) == {"detail": "gone", "since": 1}


def test_channels_error() -> None:
    assert channels_error(["values", "custom:x"]) is None
    assert channels_error(None) == "channels is required and must be a non-empty array"


def test_heartbeat_and_constants() -> None:
    assert HEARTBEAT == b": heartbeat\r\n\r\n"
    parser = SSEParser()
    parser.receive_data(HEARTBEAT)
    assert parser.events() == [SSEComment("heartbeat")]
    headers: dict[bytes, Any] = dict(SSE_HEADERS)
    assert headers[b"content-type"] == b"text/event-stream; charset=utf-8"
    assert headers[b"cache-control"] == b"no-store"
    assert WS_CLOSE_FELL_BEHIND == 1013
    assert {t.value for t in Transport} == {"websocket", "sse", "http"}
