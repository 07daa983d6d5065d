"""``ChunkedBody``: the chunked transfer coding, against RFC 9112 section 7.1.

Charter: every case is fed whole, byte by byte and in seeded random splits and
must give the same body and the same outcome (done, waiting for more, or the
same error); the body bytes before an error come out before it is raised; a
hypothesis property checks that any chunking of any body, with extensions and
trailers, decodes to that body under any split; event streams chunked one
event per chunk (as uvicorn sends them) decode to the same events as one chunk.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, NamedTuple

import pytest
from binding_helpers import chunked, http_response
from helpers import CHUNKINGS
from hypothesis import given
from hypothesis import strategies as st

from threadwire.protocol import LimitExceeded, RemoteProtocolError, StreamTruncated
from threadwire.protocol._chunked import ChunkedBody
from threadwire.protocol._http import parse_url
from threadwire.protocol._http_client import EventStreamExchange
from threadwire.protocol._sse import serialize_message


class Case(NamedTuple):
    name: str
    wire: bytes
    body: bytes
    outcome: Any  # "done", "open" (more may come), or an error type and message part


CASES = [
    Case("one chunk", b"5\r\nhello\r\n0\r\n\r\n", b"hello", "done"),
    Case("several chunks", b"2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n", b"hello", "done"),
    Case(
        "upper and lower hex",
        b"A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
        b"0123456789" * 2,
        "done",
    ),
    Case("leading zeros", b"0005\r\nhello\r\n000\r\n\r\n", b"hello", "done"),
    Case("extensions", b'5;a=b;c\r\nhello\r\n0;x="y"\r\n\r\n', b"hello", "done"),
    Case("white space before an extension", b"5 \t;a=b\r\nhello\r\n0\r\n\r\n", b"hello", "done"),
    Case("trailers", b"5\r\nhello\r\n0\r\nx-a: 1\r\nx-b: 2\r\n\r\n", b"hello", "done"),
    Case("bytes after the end are not ours", b"1\r\na\r\n0\r\n\r\nHTTP/1.1 200", b"a", "done"),
    Case("CRLF inside the data", b"4\r\n\r\n\r\n\r\n0\r\n\r\n", b"\r\n\r\n", "done"),
    Case("unfinished data", b"5\r\nhel", b"hel", "open"),
    Case("unfinished size line", b"5\r\nhello\r\n1", b"hello", "open"),
    Case("before the trailer's end", b"5\r\nhello\r\n0\r\nx-a: 1\r\n", b"hello", "open"),
    Case(
        "bad hex", b"5\r\nhello\r\nzz\r\n", b"hello", (RemoteProtocolError, "malformed chunk size")
    ),
    Case("no size", b"\r\nhello\r\n", b"", (RemoteProtocolError, "malformed chunk size")),
    Case("17 hex digits", b"1" * 17 + b"\r\n", b"", (RemoteProtocolError, "malformed chunk size")),
    Case(
        "LF alone ends no size line",
        b"5\nhello\r\n",
        b"",
        (RemoteProtocolError, "malformed chunk size"),
    ),
    Case(
        "data longer than its size",
        b"3\r\nhello\r\n",
        b"hel",
        (RemoteProtocolError, "not followed by CRLF"),
    ),
    Case(
        "CR then no LF after data",
        b"3\r\nhel\rx",
        b"hel",
        (RemoteProtocolError, "not followed by CRLF"),
    ),
]


def run(pieces: list[bytes], *, max_line: int = 64, eof: bool = False) -> tuple[bytes, Any]:
    decoder = ChunkedBody(max_line=max_line)
    body = b""
    try:
        for piece in pieces:
            body += decoder.feed(piece)
        if not eof:
            # The end of input tells apart "more may come" from an error kept for
            # the next call (the body bytes before it came out first).
            try:
                decoder.feed(b"")
            except StreamTruncated:
                return body, "open"
        body += decoder.feed(b"")
    except RemoteProtocolError as exc:
        # Sticky: it is raised again, and nothing more comes out.
        with pytest.raises(type(exc)):
            decoder.feed(b"1\r\nx\r\n")
        return body, (type(exc), str(exc))
    return body, "done" if decoder.done else "open"


def outcome_matches(got: Any, expected: Any) -> bool:
    if isinstance(expected, str):
        return got == expected
    return got[0] is expected[0] and expected[1] in got[1]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("split", CHUNKINGS, ids=[s.__name__ for s in CHUNKINGS])
def test_case(case: Case, split: Any) -> None:
    body, outcome = run(split(case.wire))
    assert body == case.body
    assert outcome_matches(outcome, case.outcome), outcome


@pytest.mark.parametrize("split", CHUNKINGS, ids=[s.__name__ for s in CHUNKINGS])
def test_the_end_of_input_before_the_last_chunk_is_a_truncation(split: Any) -> None:
    for wire in (b"", b"5\r\nhel", b"5\r\nhello\r\n", b"5\r\nhello\r\n0\r\n"):
        _body, outcome = run(split(wire), eof=True)
        assert outcome[0] is StreamTruncated and "before its last chunk" in outcome[1]
    assert run([b"0\r\n\r\n"], eof=True) == (b"", "done")  # after the end: nothing to say


@pytest.mark.parametrize("split", CHUNKINGS, ids=[s.__name__ for s in CHUNKINGS])
def test_long_size_and_trailer_lines_are_limited(split: Any) -> None:
    for wire in (b"5;" + b"x" * 70, b"0\r\nx-a: " + b"y" * 70 + b"\r\n\r\n"):
        _body, outcome = run(split(wire), max_line=64)
        assert outcome[0] is LimitExceeded and "max_header_size=64" in outcome[1]
    assert run([b"5;" + b"x" * 60 + b"\r\nhello\r\n0\r\n\r\n"], max_line=64) == (b"hello", "done")


def test_a_bad_chunk_comes_after_the_data_before_it() -> None:
    decoder = ChunkedBody(max_line=64)
    assert decoder.feed(b"5\r\nhello\r\nzz\r\n") == b"hello"
    with pytest.raises(RemoteProtocolError, match="malformed chunk size"):
        decoder.feed(b"")


@given(
    body=st.binary(max_size=300),
    cuts=st.lists(st.integers(0, 300), max_size=8),
    read_cuts=st.lists(st.integers(0, 400), max_size=8),
    ext=st.sampled_from([b"", b";a=b", b" ;q"]),
    trailer=st.sampled_from([b"", b"x-a: 1\r\n"]),
)
def test_any_chunking_under_any_split(
    body: bytes, cuts: list[int], read_cuts: list[int], ext: bytes, trailer: bytes
) -> None:
    bounds = [0, *sorted({c for c in cuts if c < len(body)}), len(body)]
    wire = b"".join(
        b"%x%s\r\n%s\r\n" % (b - a, ext, body[a:b]) for a, b in itertools.pairwise(bounds) if b > a
    )
    wire += b"0\r\n" + trailer + b"\r\n"
    read_bounds = [0, *sorted({c for c in read_cuts if c < len(wire)}), len(wire)]
    pieces = [wire[a:b] for a, b in itertools.pairwise(read_bounds) if b > a]
    assert run(pieces) == (body, "done")


def test_an_event_stream_one_event_per_chunk_decodes_as_one_chunk() -> None:
    """uvicorn sends each SSE block as its own chunk; the events are the same."""
    blocks = [
        serialize_message(
            json.dumps(
                {
                    "type": "event",
                    "event_id": f"e{n}",
                    "seq": n,
                    "method": "messages",
                    "params": {"namespace": [], "timestamp": 1, "data": {"n": n}},
                },
                separators=(",", ":"),
            ),
            event="messages",
            id=n,
        )
        for n in range(1, 200)
    ]

    def events(body: bytes, read: int) -> list[Any]:
        exchange = EventStreamExchange(parse_url("http://127.0.0.1:1"), "t", {})
        exchange.request_data()
        wire = http_response(200, body)
        out: list[Any] = []
        for start in range(0, len(wire), read):
            exchange.receive_data(wire[start : start + read])
            out += exchange.events()
        exchange.receive_data(b"")
        assert exchange.ended
        return out

    whole = events(chunked(b"".join(blocks)), 1 << 20)
    assert len(whole) == 200  # the head and 199 events
    for read in (7, 1000, 1 << 20):
        assert events(chunked(*blocks), read) == whole
