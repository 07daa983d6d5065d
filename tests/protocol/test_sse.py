"""The SSE layer: ``SSEParser`` and the serializers, against the WHATWG algorithm.

Charter:

* Every case of :data:`CASES` (bytes in, items and final state out) is run
  whole, byte by byte and in seeded random splits, through ``next_event``,
  ``events()`` and ``raw_events()``, and with trailing data after it. Run
  whole, the parser takes its canonical fast path where it can; byte by byte
  it never can, so the two runs compare the fast path with the line-by-line
  algorithm.
* Each case also checks :func:`reference`, a deliberately naive transcription
  of WHATWG's "Interpreting an event stream" used as the oracle for
  generated input (hypothesis): any split of any input gives the oracle's
  items, the same error and the same final state.
* Errors: a truncated event at EOF raises ``RemoteProtocolError`` with
  ``.partial`` after every earlier item; limits raise ``LimitExceeded`` and
  lose nothing before the offending line; errors are sticky; feeding after
  EOF is the caller's error.
* The serializers frame events exactly as the server does, reject what a
  client would misread, and round-trip through the parser.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import pytest
from helpers import (
    CHUNKINGS,
    bytewise,
    chunk,
    data_only_signature,
    item_key,
    parse,
    signature,
    whole,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadwire.protocol import (
    END_OF_STREAM,
    NEED_DATA,
    DataRun,
    LimitExceeded,
    Limits,
    LocalProtocolError,
    RemoteProtocolError,
    SSEComment,
    SSEMessage,
    SSEParser,
    serialize_comment,
    serialize_message,
    serialize_retry,
    to_message,
)

M = SSEMessage
C = SSEComment


class SSECase(NamedTuple):
    name: str
    wire: bytes
    items: list[Any]
    last_id: str = ""
    retry: int | None = None
    partial: str | None = None
    """The ``.partial`` of the truncation error at EOF; None: the stream ends cleanly."""
    complete: bool = True
    """The wire ends at a block boundary, so more blocks may follow."""


def _retry_ignored(value: bytes) -> SSECase:
    return SSECase(
        f"retry {value!r} ignored", b"retry: 10\n\nretry:" + value + b"\n\n", [], retry=10
    )


CASES = [
    # -- line ends ---------------------------------------------------------------------
    SSECase(
        "server framing, CRLF",
        b'event: values\r\ndata: {"a":1}\r\nid: 2\r\n\r\n',
        [M('{"a":1}', "values", "2")],
        last_id="2",
    ),
    SSECase("LF line ends", b"event: values\ndata: x\nid: 2\n\n", [M("x", "values", "2")], "2"),
    SSECase("CR line ends", b"event: values\rdata: x\rid: 2\r\r", [M("x", "values", "2")], "2"),
    SSECase("mixed line ends", b"data: a\r\ndata: b\rdata: c\n\r\n", [M("a\nb\nc")]),
    SSECase("CR CR is two line ends", b"data: a\r\rdata: b\r\n\n", [M("a"), M("b")]),
    SSECase("blank lines between blocks", b"\n\r\n\rdata: x\n\n\n\n", [M("x")]),
    SSECase("lone CR", b"\r", []),
    SSECase("empty input", b"", []),
    # -- comments ----------------------------------------------------------------------
    SSECase("heartbeat comment", b": heartbeat\r\n\r\n", [C("heartbeat")]),
    SSECase("comment without space", b":heartbeat\n\n", [C("heartbeat")]),
    SSECase("empty comment, two spaces", b":\n:  two\n\n", [C(""), C(" two")]),
    SSECase(
        "comment in the middle of a block",
        b"event: e\n: hb\ndata: x\nid: 1\n\n",
        [C("hb"), M("x", "e", "1")],
        "1",
    ),
    # -- fields ------------------------------------------------------------------------
    SSECase("data lines joined with LF", b"data: a\ndata:\ndata: c\n\n", [M("a\n\nc")]),
    SSECase(
        "only one leading space removed",
        b"data:  x\nevent:  e\nid:  7\n\n",
        [M(" x", " e", " 7")],
        " 7",
    ),
    SSECase("no space after the colon", b"data:x\nevent:e\nid:7\n\n", [M("x", "e", "7")], "7"),
    SSECase("later colons are value", b"event: a:b\ndata: c: d\n\n", [M("c: d", "a:b")]),
    SSECase("line without colon: data with empty value", b"data\n\n", [M("")]),
    SSECase("line without colon: empty event", b"event: e\nevent\ndata: x\n\n", [M("x")]),
    SSECase("data: alone dispatches the empty string", b"data:\n\n", [M("")]),
    SSECase("type defaults to message", b"data: x\n\n", [M("x", "message")]),
    SSECase("empty event type is message", b"event:\ndata: x\n\n", [M("x")]),
    SSECase("data before event", b"data: x\nevent: e\n\n", [M("x", "e")]),
    SSECase("last event line wins", b"event: a\nevent: b\ndata: x\n\n", [M("x", "b")]),
    SSECase("unknown fields ignored", b"foo: bar\ndata : x\nDATA: y\ndata: z\n\n", [M("z")]),
    # -- BOM ---------------------------------------------------------------------------
    SSECase("BOM at the start ignored", b"\xef\xbb\xbfdata: x\n\n", [M("x")]),
    SSECase(
        "only one BOM ignored",
        b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n",
        [M("y")],
    ),
    SSECase(
        "BOM later is data",
        b"data: \xef\xbb\xbfx\n\n\xef\xbb\xbfdata: y\n\n",
        [M("\ufeffx")],
    ),
    SSECase("BOM-like prefix is not a BOM", b"\xef\xbbdata: x\n\ndata: y\n\n", [M("y")]),
    # -- id ----------------------------------------------------------------------------
    SSECase(
        "id with NUL ignored",
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\ndata: c\nid: \x00\n\n",
        [M("a", id="1"), M("b", id="1"), M("c", id="1")],
        "1",
    ),
    SSECase("empty id resets", b"id: 1\ndata: a\n\nid:\ndata: b\n\n", [M("a", id="1"), M("b")]),
    SSECase(
        "id with one space resets",
        b"id: 1\ndata: a\n\ndata: b\nid: \n\n",
        [M("a", id="1"), M("b")],
    ),
    SSECase(
        "id persists across events",
        b"id: 5\ndata: a\n\ndata: b\n\n",
        [M("a", id="5"), M("b", id="5")],
        "5",
    ),
    SSECase("id after data applies to that event", b"data: a\nid: 9\n\n", [M("a", id="9")], "9"),
    # -- retry -------------------------------------------------------------------------
    SSECase("retry sets the reconnection time", b"retry: 3000\n\n", [], retry=3000),
    *(
        _retry_ignored(value)
        for value in (b" +5", b"  5", b" 5_000", b" -3", b"", b" 5.0", b" 5 ", b" \xd9\xa5")
    ),
    # -- blocks without data -----------------------------------------------------------
    SSECase("event-only block not dispatched", b"event: x\n\ndata: y\n\n", [M("y")]),
    SSECase("id-only block not dispatched", b"id: 3\n\n", [], "3"),
    SSECase("retry-only block not dispatched", b"retry: 7\n\ndata: y\n\n", [M("y")], retry=7),
    # -- text --------------------------------------------------------------------------
    SSECase(
        "Unicode line separators stay inside data",
        "data: a\u2028b\u2029c\x85d\x0ce\x1cf\n\n".encode(),
        [M("a\u2028b\u2029c\x85d\x0ce\x1cf")],
    ),
    SSECase(
        "invalid UTF-8 becomes U+FFFD",
        b"event: \xff\ndata: a\xc3\nid: \xe2\x82\n: \x80\n\n",
        [C("\ufffd"), M("a\ufffd", "\ufffd", "\ufffd")],
        "\ufffd",
    ),
    # -- fast path and general path mixed ----------------------------------------------
    SSECase(
        "canonical, general, canonical",
        b"event: a\ndata: 1\nid: 1\n\n"
        b"event:b\ndata: 2\ndata: 3\nid:\n\n"
        b"data: 4\n\n"
        b"event: c\ndata: 5\nid: 5\x00\n\n"
        b"data: 6\nid: 6\n\n",
        [M("1", "a", "1"), M("2\n3", "b"), M("4"), M("5", "c"), M("6", id="6")],
        "6",
    ),
    # -- whole reads of server blocks (the tiled path) ----------------------------------
    SSECase(
        "server blocks, LF",
        b'event: values\ndata: {"a":1}\nid: 1\n\nevent: custom:x\ndata:  2\nid:  2\n\n',
        [M('{"a":1}', "values", "1"), M(" 2", "custom:x", " 2")],
        " 2",
    ),
    SSECase(
        "server blocks, CRLF",
        b"event: a\r\ndata: 1\r\nid: 1\r\n\r\nevent: \r\ndata: \r\nid: 2\r\n\r\n",
        [M("1", "a", "1"), M("", "message", "2")],
        "2",
    ),
    SSECase(
        "a comment between server blocks",
        b"event: a\ndata: 1\nid: 1\n\n: hb\n\nevent: b\ndata: 2\nid: 2\n\n",
        [M("1", "a", "1"), C("hb"), M("2", "b", "2")],
        "2",
    ),
    SSECase(
        "a field line between server blocks",
        b"event: a\ndata: 1\nid: 1\n\nretry: 7\nevent: b\ndata: 2\nid: 2\n\n",
        [M("1", "a", "1"), M("2", "b", "2")],
        "2",
        retry=7,
    ),
    SSECase(
        "a field line, then a heartbeat, between server blocks",
        b"event: a\ndata: 1\nid: 1\n\nretry: 7\n\n: hb\n\nevent: b\ndata: 2\nid: 2\n\n",
        [M("1", "a", "1"), C("hb"), M("2", "b", "2")],
        "2",
        retry=7,
    ),
    SSECase(
        "a data line before a server block's lines",
        b"data: 0\nevent: b\ndata: 2\nid: 2\n\nevent: c\ndata: 3\nid: 3\n\n",
        [M("0\n2", "b", "2"), M("3", "c", "3")],
        "3",
    ),
    SSECase(
        "text before event: on the line",
        b"xevent: b\ndata: 2\nid: 2\n\n",
        [M("2", id="2")],
        "2",
    ),
    SSECase(
        "a NUL in a server block's id",
        b"event: a\ndata: 1\nid: 1\n\nevent: b\ndata: 2\nid: 2\x00\n\n",
        [M("1", "a", "1"), M("2", "b", "1")],
        "1",
    ),
    SSECase(
        "a lone CR inside server blocks",
        b"event: a\r\ndata: 1\r2\r\nid: 1\r\n\r\n",
        [M("1", "a", "1")],
        "1",
    ),
    # -- end of input ------------------------------------------------------------------
    SSECase("unterminated data line", b"data: x", [], partial="x", complete=False),
    SSECase("data without the blank line", b"data: a\ndata: b\r\n", [], partial="a\nb"),
    SSECase(
        "events before a truncated one come first",
        b"data: a\n\n: hb\ndata: b",
        [M("a"), C("hb")],
        partial="b",
        complete=False,
    ),
    SSECase("event-only at EOF is no error", b"event: x\n", [], complete=False),
    SSECase("unterminated comment", b": hb", [C("hb")], complete=False),
    SSECase("unterminated id", b"data: a\n\nid: 4", [M("a")], "4", complete=False),
    SSECase("partial BOM alone", b"\xef\xbb", [], complete=False),
    SSECase("BOM alone", b"\xef\xbb\xbf", []),
]


_LINE_END = re.compile("\r\n|\r|\n")
_DIGITS = re.compile("[0-9]+")


def reference(wire: bytes) -> tuple[Any, ...]:
    """WHATWG's algorithm, transcribed naively (plus the parser's EOF rule).

    Returns what :func:`helpers.signature` returns for a parse.
    """
    text = wire.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    *lines, tail = _LINE_END.split(text)
    if tail:  # the parser interprets an unterminated last line before EOF
        lines.append(tail)
    items: list[tuple[Any, ...]] = []
    data: list[str] = []
    event = ""
    last_id = ""
    retry = None
    for line in lines:
        if not line:
            if data:
                items.append(("SSEMessage", "\n".join(data), event or "message", last_id))
            data, event = [], ""
        elif line.startswith(":"):
            items.append(("SSEComment", line[2:] if line.startswith(": ") else line[1:]))
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
            elif name == "id" and "\x00" not in value:
                last_id = value
            elif name == "retry" and _DIGITS.fullmatch(value):
                retry = int(value)
    error = None
    if data:
        partial = "\n".join(data)
        error = (
            "RemoteProtocolError",
            "event stream ended in the middle of an event "
            f"({len(partial)} characters of data were never dispatched)",
            partial,
        )
    return items, error, last_id, retry


def expected_signature(case: SSECase) -> tuple[Any, ...]:
    error = None
    if case.partial is not None:
        error = reference(case.wire)[1]
        assert error is not None and error[2] == case.partial
    return [item_key(item) for item in case.items], error, case.last_id, case.retry


# -- the table -------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("split", CHUNKINGS, ids=[split.__name__ for split in CHUNKINGS])
def test_case(case: SSECase, split: Any) -> None:
    assert signature(parse(split(case.wire))) == expected_signature(case)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("via", ["events", "raw_events"])
def test_case_through_batch_apis(case: SSECase, via: str) -> None:
    for split in (whole, bytewise):
        assert signature(parse(split(case.wire), via=via)) == expected_signature(case)


TRAILER = b"event: trailer\r\ndata: more\r\n\r\n"
COMPLETE = [case for case in CASES if case.complete and case.partial is None]


@pytest.mark.parametrize("case", COMPLETE, ids=[case.name for case in COMPLETE])
@pytest.mark.parametrize("split", [whole, bytewise])
def test_case_with_trailing_data(case: SSECase, split: Any) -> None:
    trailed = case._replace(
        wire=case.wire + TRAILER, items=[*case.items, M("more", "trailer", case.last_id)]
    )
    assert signature(parse(split(trailed.wire))) == expected_signature(trailed)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_reference_model_agrees_with_the_table(case: SSECase) -> None:
    assert reference(case.wire) == expected_signature(case)


def test_whole_input_takes_the_fast_path_and_bytewise_does_not() -> None:
    """Guards the claim that whole vs byte-by-byte compares the two code paths."""
    calls: list[bytes] = []

    class Counting(SSEParser):
        def _line(self, line: bytes) -> None:
            calls.append(line)
            super()._line(line)

    wire = b'event: values\r\ndata: {"a":1}\r\nid: 2\r\n\r\n' * 3
    parser = Counting()
    parser.receive_data(wire)
    assert len(parser.events()) == 3
    assert calls == []
    parser = Counting()
    for piece in bytewise(wire):
        parser.receive_data(piece)
    assert len(parser.events()) == 3
    assert len(calls) == 12


# -- data_only: runs of server blocks as lists of their data ----------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("split", CHUNKINGS, ids=[split.__name__ for split in CHUNKINGS])
def test_case_data_only(case: SSECase, split: Any) -> None:
    parsed = signature(parse(split(case.wire), via="data_only"))
    assert parsed == data_only_signature(expected_signature(case))


def server_blocks(count: int, newline: bytes, first: int = 1) -> bytes:
    return b"".join(
        b"event: values" + newline + b'data: {"n":%d}' % n + newline + b"id: %d" % n + newline * 2
        for n in range(first, first + count)
    )


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
def test_data_only_hands_out_a_read_of_server_blocks_as_one_run(newline: bytes) -> None:
    parser = SSEParser(data_only=True)
    parser.receive_data(server_blocks(3, newline) + b"event: values" + newline + b"data: {")
    [run] = parser.raw_events()
    assert type(run) is DataRun
    assert run == [b'{"n":1}', b'{"n":2}', b'{"n":3}']
    assert parser.last_event_id == "3"
    # The block cut off at the end of the read is finished line by line.
    parser.receive_data(b'"n":4}' + newline + b"id: 4" + newline * 2 + server_blocks(2, newline, 5))
    assert parser.raw_events() == [(b"values", b'{"n":4}', b"4"), [b'{"n":5}', b'{"n":6}']]
    assert parser.last_event_id == "6"


def test_a_read_that_does_not_tile_is_parsed_line_by_line() -> None:
    parser = SSEParser(data_only=True)
    parser.receive_data(server_blocks(1, b"\n") + b"retry: 5\n\n" + server_blocks(1, b"\n", 2))
    assert parser.raw_events() == [(b"values", b'{"n":1}', b"1"), (b"values", b'{"n":2}', b"2")]
    assert parser.reconnection_time == 5


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
def test_heartbeats_among_server_blocks_split_the_runs(newline: bytes) -> None:
    parser = SSEParser(data_only=True)
    hb = b": hb" + newline * 2
    parser.receive_data(server_blocks(2, newline) + hb + hb + server_blocks(2, newline, 3) + hb)
    assert parser.raw_events() == [
        [b'{"n":1}', b'{"n":2}'],
        C("hb"),
        C("hb"),
        [b'{"n":3}', b'{"n":4}'],
        C("hb"),
    ]
    assert parser.last_event_id == "4"


def test_tiling_is_tried_less_often_after_reads_that_do_not_tile() -> None:
    """A framing that never tiles costs a findall per read only now and then."""
    parser = SSEParser(data_only=True)
    untiled = b"event: x\ndata: x\n\n"  # no id line: never tiles
    runs = []
    for read in range(200):
        if read in (10, 63, 64, 65):
            parser.receive_data(server_blocks(2, b"\n"))
            runs.append((read, any(type(item) is DataRun for item in parser.raw_events())))
        else:
            parser.receive_data(untiled)
            parser.raw_events()
    # Four misses in a row, then one try in 64 reads (the 64th miss): the read at 64.
    assert runs == [(10, False), (63, False), (64, True), (65, True)]


def test_a_read_that_starts_with_a_heartbeat_tiles_after_it() -> None:
    """The real server's live streams begin with a heartbeat, often in the same read."""
    parser = SSEParser(data_only=True)
    parser.receive_data(b": heartbeat\r\n\r\n" + server_blocks(3, b"\r\n"))
    assert parser.raw_events() == [C("heartbeat"), [b'{"n":1}', b'{"n":2}', b'{"n":3}']]


def test_reads_of_heartbeats_do_not_count_against_tiling() -> None:
    parser = SSEParser(data_only=True)
    for _ in range(10):
        parser.receive_data(b": heartbeat\r\n\r\n")
        assert parser.raw_events() == [C("heartbeat")]
    parser.receive_data(server_blocks(2, b"\r\n"))
    assert parser.raw_events() == [[b'{"n":1}', b'{"n":2}']]


@pytest.mark.parametrize("method", ["next_event", "events"])
def test_data_only_parser_has_no_typed_messages(method: str) -> None:
    parser = SSEParser(data_only=True)
    parser.receive_data(server_blocks(1, b"\n"))
    with pytest.raises(LocalProtocolError, match="data_only=True"):
        getattr(parser, method)()


# -- chunk boundaries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"], [M("a\nb")]),
        ([b"data: a\r", b"\r"], [M("a")]),
        ([b"data: a\r", b"\n", b"\r", b"\n"], [M("a")]),
        ([b"data: a\r\n\r", b"\ndata: b\n\n"], [M("a"), M("b")]),
        ([b"\xef", b"\xbb", b"\xbf", b"data: x\n\n"], [M("x")]),
        ([b"\xef\xbb", b"\xbf\r", b"\n\r\ndata: x\n\n"], [M("x")]),
        ([b"\xef\xbb", b"x\n\ndata: y\n\n"], [M("y")]),
    ],
)
def test_chunk_boundaries(chunks: list[bytes], expected: list[Any]) -> None:
    assert [item_key(i) for i in parse(chunks).items] == [item_key(i) for i in expected]


def test_cr_at_the_end_of_the_input_ends_the_line() -> None:
    result = parse([b"data: a\r"])
    assert result.error is not None
    assert result.error.partial == "a"


# -- the parser's API --------------------------------------------------------------------


def test_need_data_then_end_of_stream() -> None:
    parser = SSEParser()
    assert parser.next_event() is NEED_DATA
    parser.receive_data(b"data: x\n")
    assert parser.next_event() is NEED_DATA
    parser.receive_data(b"\n")
    assert parser.next_event() == M("x")
    assert parser.next_event() is NEED_DATA
    assert not parser.at_eof
    parser.receive_data(b"")
    assert parser.at_eof
    assert parser.next_event() is END_OF_STREAM
    assert parser.next_event() is END_OF_STREAM


def test_receive_data_after_eof_is_a_local_error() -> None:
    parser = SSEParser()
    parser.receive_data(b"data: x\n\n")
    parser.receive_data(b"")
    with pytest.raises(LocalProtocolError, match="after end of input"):
        parser.receive_data(b"data: y\n\n")
    with pytest.raises(LocalProtocolError):
        parser.receive_data(b"")


def test_receive_data_after_eof_is_a_local_error_even_after_a_remote_error() -> None:
    parser = SSEParser(limits=Limits(max_line_length=4))
    parser.receive_data(b"data: toolong\n")
    parser.receive_data(b"")
    assert parser.at_eof
    with pytest.raises(LocalProtocolError):
        parser.receive_data(b"data: y\n\n")
    with pytest.raises(LimitExceeded):
        parser.next_event()


@pytest.mark.parametrize("via", ["next_event", "events", "raw_events"])
def test_truncated_event_comes_after_every_earlier_item(via: str) -> None:
    parser = SSEParser()
    parser.receive_data(b"data: a\n\ndata: b\n\n: hb\n")
    parser.receive_data(b"data: c\ndata: d")
    parser.receive_data(b"")
    take = getattr(parser, via)
    if via == "next_event":
        items = [take(), take(), take()]
    elif via == "events":
        items = take()
    else:
        items = [item if isinstance(item, C) else to_message(item) for item in take()]
    assert items == [M("a"), M("b"), C("hb")]
    with pytest.raises(RemoteProtocolError, match="ended in the middle of an event") as info:
        take()
    assert info.value.partial == "c\nd"
    assert not isinstance(info.value, LimitExceeded)


def test_errors_are_sticky() -> None:
    parser = SSEParser(limits=Limits(max_line_length=16))
    parser.receive_data(b"data: ok\n\ndata: " + b"x" * 20 + b"\n\n")
    assert parser.next_event() == M("ok")
    with pytest.raises(LimitExceeded) as first:
        parser.next_event()
    parser.receive_data(b"data: ignored\n\n")  # swallowed: the stream is broken
    for take in (parser.next_event, parser.events, parser.raw_events):
        with pytest.raises(LimitExceeded) as again:
            take()
        assert again.value is first.value
    parser.receive_data(b"")
    with pytest.raises(LimitExceeded) as again:
        parser.next_event()
    assert again.value is first.value


def test_raw_events_keep_bytes() -> None:
    parser = SSEParser()
    parser.receive_data(b"event: values\r\ndata: x\r\nid: 2\r\n\r\n: hb\r\n\r\ndata: y\n\n")
    raw = parser.raw_events()
    assert raw == [(b"values", b"x", b"2"), C("hb"), (None, b"y", b"2")]
    assert [to_message(r) for r in raw if not isinstance(r, C)] == [
        M("x", "values", "2"),
        M("y", "message", "2"),
    ]
    assert parser.raw_events() == []
    assert parser.events() == []


def test_last_event_id_and_reconnection_time_properties() -> None:
    parser = SSEParser()
    assert (parser.last_event_id, parser.reconnection_time) == ("", None)
    parser.receive_data(b"id: \xc3\xa9\nretry: 15\n\n")
    assert (parser.last_event_id, parser.reconnection_time) == ("\xe9", 15)


# -- limits -------------------------------------------------------------------------------

SMALL = Limits(max_line_length=32, max_event_size=64)


class LimitCase(NamedTuple):
    name: str
    limits: Limits
    wire: bytes
    items: list[Any]
    limit: str | None


LIMIT_CASES = [
    LimitCase(
        "line of exactly max_line_length",
        SMALL,
        b"data: " + b"x" * 26 + b"\n\n",
        [M("x" * 26)],
        None,
    ),
    LimitCase(
        "complete line one byte over",
        SMALL,
        b"data: a\n\n: hb\ndata: " + b"x" * 27 + b"\n\n",
        [M("a"), C("hb")],
        "max_line_length",
    ),
    LimitCase(
        "unterminated line over the limit",
        SMALL,
        b"data: a\n\ndata: b\n\n" + b"x" * 40,
        [M("a"), M("b")],
        "max_line_length",
    ),
    LimitCase(
        "comment line over the limit",
        SMALL,
        b"data: a\n\n:" + b"x" * 40 + b"\n",
        [M("a")],
        "max_line_length",
    ),
    LimitCase(
        "event of exactly max_event_size",
        SMALL,
        b"data: " + b"x" * 20 + b"\ndata: " + b"y" * 20 + b"\ndata: " + b"z" * 21 + b"\n\n",
        [M("x" * 20 + "\n" + "y" * 20 + "\n" + "z" * 21)],
        None,
    ),
    LimitCase(
        "event one byte over max_event_size",
        SMALL,
        b"data: a\n\n"
        + b"data: "
        + b"x" * 20
        + b"\ndata: "
        + b"y" * 20
        + b"\ndata: "
        + b"z" * 22
        + b"\n\n",
        [M("a")],
        "max_event_size",
    ),
    LimitCase(
        "canonical block with data under max_event_size (big chunk)",
        Limits(max_line_length=1000, max_event_size=50),
        b"event: lifecycle\r\ndata: "
        + b"y" * 45
        + b"\r\nid: 1\r\n\r\n"
        + b": "
        + b"z" * 60
        + b"\n",
        [M("y" * 45, "lifecycle", "1"), C("z" * 60)],
        None,
    ),
    LimitCase(
        "canonical block with data of max_event_size",
        Limits(max_line_length=1000, max_event_size=50),
        b"data: ok\r\n\r\nevent: lifecycle\r\ndata: " + b"y" * 50 + b"\r\nid: 1\r\n\r\n",
        [M("ok")],
        "max_event_size",
    ),
    LimitCase(
        "canonical block with lines under max_line_length (big chunk)",
        Limits(max_line_length=40, max_event_size=1000),
        b"event: " + b"e" * 30 + b"\ndata: " + b"d" * 30 + b"\nid: " + b"i" * 30 + b"\n\n",
        [M("d" * 30, "e" * 30, "i" * 30)],
        None,
    ),
    LimitCase(
        "canonical block with a long id line",
        Limits(max_line_length=40, max_event_size=1000),
        b"data: a\n\nevent: e\ndata: d\nid: " + b"i" * 40 + b"\n\n",
        [M("a")],
        "max_line_length",
    ),
]


@pytest.mark.parametrize("case", LIMIT_CASES, ids=[case.name for case in LIMIT_CASES])
@pytest.mark.parametrize("split", CHUNKINGS, ids=[split.__name__ for split in CHUNKINGS])
def test_limits(case: LimitCase, split: Any) -> None:
    result = parse(split(case.wire), limits=case.limits)
    assert [item_key(i) for i in result.items] == [item_key(i) for i in case.items]
    if case.limit is None:
        assert result.error is None
    else:
        assert isinstance(result.error, LimitExceeded)
        assert result.error.limit == case.limit
        assert result.error.value == getattr(case.limits, case.limit)
        assert case.limit in result.error.message


@pytest.mark.parametrize("field", ["max_line_length", "max_event_size", "dedup_window"])
@pytest.mark.parametrize("value", [0, -1, True, "5", 1.5])
def test_limits_must_be_positive_ints(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        Limits(**{field: value})


# -- properties ---------------------------------------------------------------------------

_TEXT = st.text(st.characters(exclude_characters="\r\n", exclude_categories=("Cs",)), max_size=10)
_VALUES = _TEXT | st.sampled_from(
    ["", " ", "  x", "1\x002", "5", "+5", "5_000", "\ufeff", "\u2028"]
)
_NAMES = st.sampled_from(
    ["data", "data", "data", "event", "id", "retry", "", "foo", "Data", "data "]
)
_EOL = st.sampled_from(["\r\n", "\n", "\r"])


@st.composite
def sse_line(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["field", "field", "field", "comment", "bare"]))
    if kind == "comment":
        return ":" + draw(_VALUES)
    name = draw(_NAMES)
    if kind == "bare":
        return name
    return name + ":" + draw(st.sampled_from(["", " "])) + draw(_VALUES)


@st.composite
def canonical_block(draw: st.DrawFn) -> list[str]:
    lines = [f"data: {draw(_TEXT)}"]
    if draw(st.booleans()):
        lines.insert(0, f"event: {draw(_TEXT)}")
    if draw(st.booleans()):
        lines.append(f"id: {draw(_VALUES)}")
    return lines


@st.composite
def sse_stream(draw: st.DrawFn) -> bytes:
    """A realistic stream: blocks of field lines, comments and server-style blocks."""
    blocks = draw(st.lists(canonical_block() | st.lists(sse_line(), max_size=4), max_size=6))
    parts = [draw(st.sampled_from(["", "", "\ufeff"]))]
    for block in blocks:
        parts.extend(line + draw(_EOL) for line in block)
        parts.append(draw(_EOL))
    wire = "".join(parts).encode()
    if draw(st.booleans()):
        wire = wire[: draw(st.integers(0, len(wire)))]  # cut off anywhere
    return wire


def cuts_for(wire: bytes) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(wire)), max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_streams_match_the_reference_under_any_split(data: st.DataObject) -> None:
    wire = data.draw(sse_stream())
    cuts = data.draw(cuts_for(wire))
    expected = reference(wire)
    assert signature(parse(whole(wire))) == expected
    assert signature(parse(chunk(wire, cuts))) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_streams_data_only_match_the_reference_under_any_split(
    data: st.DataObject,
) -> None:
    wire = data.draw(sse_stream())
    cuts = data.draw(cuts_for(wire))
    expected = data_only_signature(reference(wire))
    assert signature(parse(whole(wire), via="data_only")) == expected
    assert signature(parse(chunk(wire, cuts), via="data_only")) == expected


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_bytes_any_split_same_as_whole(data: st.DataObject) -> None:
    wire = data.draw(st.binary(max_size=200))
    cuts = data.draw(cuts_for(wire))
    expected = signature(parse(whole(wire)))
    assert signature(parse(chunk(wire, cuts))) == expected
    assert expected == reference(wire)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_any_split_same_as_whole_under_small_limits(data: st.DataObject) -> None:
    limits = Limits(max_line_length=data.draw(st.integers(1, 24)), max_event_size=24)
    wire = data.draw(sse_stream())
    cuts = data.draw(cuts_for(wire))
    expected = signature(parse(whole(wire), limits=limits))
    assert signature(parse(chunk(wire, cuts), limits=limits)) == expected
    assert signature(parse(bytewise(wire), limits=limits)) == expected


# -- serializer -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "wire"),
    [
        (
            {"data": '{"a":1}', "event": "values", "id": 3},
            b'event: values\r\ndata: {"a":1}\r\nid: 3\r\n\r\n',
        ),
        (
            {"data": "x", "event": "values", "id": "3", "newline": "\n"},
            b"event: values\ndata: x\nid: 3\n\n",
        ),
        ({"data": "x"}, b"data: x\r\n\r\n"),
        ({"data": "", "id": 0}, b"data: \r\nid: 0\r\n\r\n"),
        ({"data": "a\nb\r\nc\rd", "newline": "\n"}, b"data: a\ndata: b\ndata: c\ndata: d\n\n"),
        ({"data": "a\n"}, b"data: a\r\ndata: \r\n\r\n"),
        ({"data": " x", "event": "", "id": ""}, b"event: \r\ndata:  x\r\nid: \r\n\r\n"),
    ],
)
def test_serialize_message(kwargs: dict[str, Any], wire: bytes) -> None:
    assert serialize_message(**kwargs) == wire


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"event": "a\nb"}, "event must not contain CR or LF"),
        ({"event": "a\rb"}, "event must not contain CR or LF"),
        ({"id": "1\n2"}, "id must not contain CR or LF"),
        ({"id": "1\r"}, "id must not contain CR or LF"),
        ({"id": "1\x002"}, "NUL"),
        ({"newline": "\r"}, "newline"),
    ],
)
def test_serialize_message_rejects(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        serialize_message("x", **kwargs)


@pytest.mark.parametrize(
    "serialize",
    [
        lambda: serialize_message("\ud800"),
        lambda: serialize_message("x", event="\udfff"),
        lambda: serialize_message("x", id="\ud800"),
        lambda: serialize_comment("\ud800"),
    ],
)
def test_serializers_reject_lone_surrogates(serialize: Any) -> None:
    with pytest.raises(LocalProtocolError, match="UTF-8"):
        serialize()


def test_serialize_comment() -> None:
    assert serialize_comment() == b": heartbeat\r\n\r\n"
    assert serialize_comment("a\r\nb\rc", newline="\n") == b": a\n: b\n: c\n\n"
    assert serialize_comment("") == b": \r\n\r\n"
    with pytest.raises(LocalProtocolError, match="newline"):
        serialize_comment("x", newline="\n\r")


def test_serialize_retry() -> None:
    assert serialize_retry(5000) == b"retry: 5000\r\n\r\n"
    assert serialize_retry(0, newline="\n") == b"retry: 0\n\n"
    parser = SSEParser()
    parser.receive_data(serialize_retry(2500))
    assert parser.events() == []
    assert parser.reconnection_time == 2500


@pytest.mark.parametrize("value", [-1, True, 1.5, "5", None])
def test_serialize_retry_rejects(value: Any) -> None:
    with pytest.raises(LocalProtocolError, match="non-negative int"):
        serialize_retry(value)


def test_serialize_retry_rejects_bad_newline() -> None:
    with pytest.raises(LocalProtocolError, match="newline"):
        serialize_retry(5, newline="")


_ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
_FIELD_TEXT = st.text(
    st.characters(exclude_characters="\r\n", exclude_categories=("Cs",)), max_size=10
)
_ID = st.none() | st.integers(0, 2**64) | _FIELD_TEXT.filter(lambda s: "\x00" not in s)


@settings(max_examples=200, deadline=None)
@given(
    messages=st.lists(st.tuples(_ANY_TEXT, st.none() | _FIELD_TEXT, _ID), max_size=5),
    comments=st.lists(_ANY_TEXT, max_size=2),
    newline=st.sampled_from(["\r\n", "\n"]),
    cuts=st.lists(st.integers(0, 2000), max_size=6),
)
def test_serialize_then_parse_round_trips(
    messages: list[tuple[str, str | None, Any]], comments: list[str], newline: str, cuts: list[int]
) -> None:
    wire = b"".join(serialize_comment(c, newline=newline) for c in comments)
    expected: list[Any] = [
        C(line)
        for c in comments
        for line in c.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ]
    last_id = ""
    for data, event, id_ in messages:
        wire += serialize_message(data, event=event, id=id_, newline=newline)
        if id_ is not None:
            last_id = str(id_)
        expected.append(
            M(data.replace("\r\n", "\n").replace("\r", "\n"), event or "message", last_id)
        )
    result = parse(chunk(wire, [c for c in cuts if c < len(wire)]))
    assert result.error is None
    assert [item_key(i) for i in result.items] == [item_key(i) for i in expected]
