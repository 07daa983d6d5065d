"""Fuzz the codec: one JSON frame -> Event / reply / UnknownMessage, or RemoteProtocolError.

The input is one message as it arrives in an SSE ``data`` field or a
WebSocket text frame (and, for the producer role, one command). Invariant:

* ``decode_message`` and ``decode_command`` return their types or raise
  ``RemoteProtocolError``; an event's ``.payload`` is typed or raises
  ``RemoteProtocolError``; nothing else escapes;
* bytes and the same text as ``str`` decode alike, and so does the frame
  carried through SSE (``serialize_message``, then ``SSEParser`` fed in
  pieces split at points derived from the input);
* what decodes re-encodes to the same thing: ``encode_event``,
  ``encode_success``/``encode_failure`` and ``encode_command`` round-trip,
  and an event's channel is ``channel_of(method, data)``.

Run: ``python fuzz/fuzz_codec.py fuzz/corpus/fuzz_codec -atheris_runs=100000``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from _fuzzlib import chunks, parse_sse, run_atheris, split_points

from threadwire.protocol import (
    DEFAULT_LIMITS,
    CommandFailure,
    CommandSuccess,
    Event,
    RemoteProtocolError,
    UnknownMessage,
    channel_of,
    decode_command,
    decode_message,
    encode_command,
    encode_event,
    encode_failure,
    encode_success,
    serialize_message,
)

_INVALID_JSON = "message is not valid JSON"


def _decoded(raw: bytes | str) -> Any:
    """The message, or what its error means (a JSON error quotes the input's repr)."""
    try:
        message = decode_message(raw)
    except RemoteProtocolError as exc:
        return ("error", _INVALID_JSON if exc.message.startswith(_INVALID_JSON) else exc.message)
    assert type(message) in (Event, CommandSuccess, CommandFailure, UnknownMessage), message
    return message


def _check_message(message: Any) -> None:
    if isinstance(message, Event):
        assert message.channel == channel_of(message.method, message.data)
        assert decode_message(encode_event(message)) == message
        with contextlib.suppress(RemoteProtocolError):
            message.payload  # noqa: B018 - typed, or a RemoteProtocolError
    elif isinstance(message, CommandSuccess):
        again = decode_message(
            encode_success(message.id, message.result, message.applied_through_seq)
        )
        assert (again.id, again.result, again.applied_through_seq) == (
            message.id,
            message.result,
            message.applied_through_seq,
        )
    elif isinstance(message, CommandFailure):
        wire = encode_failure(
            message.id,
            message.code,
            message.message,
            applied_through_seq=message.applied_through_seq,
            extra=message.extra,
        )
        assert decode_message(wire) == CommandFailure(
            id=message.id,
            code=message.code,
            message=message.message,
            extra=message.extra,
            applied_through_seq=message.applied_through_seq,
        )


def _check_command(data: bytes) -> None:
    try:
        command_id, command = decode_command(data)
    except RemoteProtocolError as exc:
        assert exc.hint == "invalid_argument"
        return
    assert decode_command(encode_command(command_id, command)) == (command_id, command)


def check(data: bytes) -> None:
    message = _decoded(data)
    if not isinstance(message, tuple):
        _check_message(message)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        assert _decoded(text) == message
        if "\r" not in text:  # SSE turns CR into LF
            wire = serialize_message(text, event="fuzz", id=1)
            items, error, _, _ = parse_sse(
                chunks(wire, split_points(data)), DEFAULT_LIMITS, on_item=lambda item: item
            )
            assert error is None and len(items) == 1, (items, error)
            assert _decoded(items[0].data) == message
    _check_command(data)


if __name__ == "__main__":
    run_atheris(check)
