"""Fuzz the SSE parser: bytes -> SSEMessage / SSEComment, or RemoteProtocolError.

Invariant, for any input and for the default limits and for small ones:

* only ``SSEMessage``/``SSEComment`` items come out, and the only exception is
  ``RemoteProtocolError`` (``LimitExceeded`` included);
* the input fed whole, split at points derived from the input, and (when
  small) byte by byte gives the same items, the same error and the same final
  ``last_event_id``/``reconnection_time``;
* every parsed message and comment, re-serialized with ``serialize_message``
  / ``serialize_comment``, parses back to itself.

Run: ``python fuzz/fuzz_sse.py fuzz/corpus/fuzz_sse -atheris_runs=100000``.
"""

from __future__ import annotations

from _fuzzlib import feedings, parse_sse, run_atheris

from threadwire.protocol import (
    DEFAULT_LIMITS,
    Limits,
    SSEComment,
    SSEMessage,
    serialize_comment,
    serialize_message,
)

LIMITS = (DEFAULT_LIMITS, Limits(max_line_length=64, max_event_size=160))


def _reserialized(item: SSEMessage | SSEComment) -> bytes:
    if isinstance(item, SSEComment):
        return serialize_comment(item.text)
    return serialize_message(item.data, event=item.event, id=item.id)


def check(data: bytes) -> None:
    for limits in LIMITS:
        whole, *others = (parse_sse(pieces, limits) for pieces in feedings(data))
        for other in others:
            assert other == whole, (other, whole)
    items = parse_sse([data], DEFAULT_LIMITS, on_item=lambda item: item)[0]
    for item in items:
        again, error, _, _ = parse_sse([_reserialized(item)], DEFAULT_LIMITS, on_item=lambda i: i)
        assert (again, error) == ([item], None), (item, again, error)


if __name__ == "__main__":
    run_atheris(check)
