"""Server-Sent Events: an incremental parser and a serializer.

This layer knows the ``text/event-stream`` grammar and nothing about JSON. The
parser follows the WHATWG HTML Living Standard, section 9.2.6 "Interpreting an
event stream", step by step:

* "The stream must then be parsed by reading everything line by line, with a
  U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a single
  U+000A LINE FEED (LF) character not preceded by a U+000D CARRIAGE RETURN (CR)
  character, and a single U+000D CARRIAGE RETURN (CR) character not followed by
  a U+000A LINE FEED (LF) character being the ways in which a line can end."
  A CR that ends one chunk and an LF that starts the next are one line end.
  Nothing else ends a line: U+2028 and U+2029 travel raw inside the server's
  JSON, so ``str.splitlines`` would corrupt events.
* "One leading U+FEFF BYTE ORDER MARK character must be ignored if any are
  present."
* A blank line dispatches the event; "If the data buffer is an empty string,
  set the data buffer and the event type buffer to the empty string and
  return" (a block without ``data`` is not dispatched).
* A line starting with ``:`` is a comment. The spec ignores comments; we
  surface them as :class:`SSEComment` because the Agent Server's
  ``: heartbeat`` is the only sign of life on an idle stream.
* ``field:value`` splits on the first colon and drops one leading space from
  the value; a line without a colon is a field name with an empty value.
* ``data`` appends the value and an LF; the final LF is removed at dispatch.
* ``id`` sets the last event ID unless the value contains NUL; an empty value
  resets it.
* ``retry`` sets the reconnection time only when the value is all ASCII
  digits.

Unlike a browser, the parser does not drop an event that the stream cuts off:
end of input in the middle of an event raises :class:`RemoteProtocolError`
whose ``partial`` carries the undelivered data.
"""

from __future__ import annotations

import re
from collections import deque
from enum import Enum
from typing import Final, NamedTuple

from ._errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from ._limits import DEFAULT_LIMITS, Limits

__all__ = [
    "SSEMessage",
    "SSEComment",
    "SSEParser",
    "RawMessage",
    "DataRun",
    "to_message",
    "Sentinel",
    "NEED_DATA",
    "END_OF_STREAM",
    "serialize_message",
    "serialize_comment",
    "serialize_retry",
]


class Sentinel(Enum):
    """What :meth:`SSEParser.next_event` returns when it has no item to give."""

    NEED_DATA = "NEED_DATA"
    """Feed more bytes with :meth:`SSEParser.receive_data`."""
    END_OF_STREAM = "END_OF_STREAM"
    """The stream ended cleanly; nothing more will come."""


NEED_DATA: Final = Sentinel.NEED_DATA
END_OF_STREAM: Final = Sentinel.END_OF_STREAM


class SSEMessage(NamedTuple):
    """One dispatched event.

    A NamedTuple rather than an attrs class: one is built per event on the hot
    path, and tuple construction costs a third of a frozen attrs ``__init__``.
    It is immutable all the same.
    """

    data: str
    """The data buffer, ``data:`` lines joined with LF."""
    event: str = "message"
    """The event type (the ``event:`` field), ``"message"`` when absent."""
    id: str = ""
    """The last event ID at dispatch time (``""`` when none was set)."""


class SSEComment(NamedTuple):
    """A comment line (``: heartbeat``), with the colon and one space removed."""

    text: str


_BOM: Final = b"\xef\xbb\xbf"
_COLON: Final = 0x3A

# The Agent Server frames every event as one canonical block: an optional
# ``event:`` line, exactly one ``data:`` line, an optional ``id:`` line (no NUL,
# not empty) and a blank line, all ended by CRLF (or all by LF, as other servers
# do). Such a block means the same under the full algorithm as under these
# patterns, so the parser takes runs of them with one anchored regex match each,
# on the bytes as they came (normalising line ends first would copy every chunk),
# and falls back to the line-by-line algorithm for anything else (comments,
# several data lines, other fields, empty ids, mixed line ends). The data group
# excludes only the one line-end byte its pattern expects, because a class of
# two bytes scans long data lines at half the speed; _scan rejects a match whose
# data holds the other byte (a lone CR or LF ends a line too). The possessive
# quantifiers keep the scan linear; the one after ``id:`` also stops ``id: ``
# from backtracking into an id of one space (WHATWG removes that space, leaving
# an empty id that resets the last event ID).
_BLOCK_CRLF: Final = re.compile(
    rb"(?:event: ?([^\r\n]*+)\r\n)?data: ?([^\r]*+)\r\n(?:id: ?+([^\r\n\x00]++)\r\n)?\r\n"
)
_BLOCK_LF: Final = re.compile(
    rb"(?:event: ?([^\r\n]*+)\n)?data: ?([^\n]*+)\n(?:id: ?+([^\r\n\x00]++)\n)?\n"
)
_LINE_END: Final = re.compile(rb"\r\n|\r|\n")

# Runs of the server's own blocks, ``event``, ``data`` and ``id`` in that order
# with one space after each colon, are taken a whole read at a time by one
# ``findall``: no match object and no Python step per block (measured: half the
# time of the match loop above, and less again capturing the data alone).
# ``findall`` skips what does not match, so its result counts only if the
# matches tile the region, and they do exactly when the region holds four LFs
# per match: each match holds at least four (exactly four when no field holds
# an LF) and starts a line, so any byte between two matches, or before the
# first, would bring an LF of its own. An LF pattern is only used on a read
# without CR (its fields exclude only LF, for the scan speed of a one-byte
# class; see above). The data-only patterns serve ``data_only=True``.
_TILE_LF: Final = re.compile(rb"(?m)^event: (.*+)\ndata: (.*+)\nid: ([^\n\x00]++)\n\n")
_TILE_CRLF: Final = re.compile(
    rb"(?m)^event: ([^\r]*+)\r\ndata: ([^\r]*+)\r\nid: ([^\r\x00]++)\r\n\r\n"
)
_TILE_DATA_LF: Final = re.compile(rb"(?m)^event: .*+\ndata: (.*+)\nid: [^\n\x00]++\n\n")
_TILE_DATA_CRLF: Final = re.compile(
    rb"(?m)^event: [^\r]*+\r\ndata: ([^\r]*+)\r\nid: [^\r\x00]++\r\n\r\n"
)
_TILE_TRIES: Final = 4
"""Reads in a row that start with ``event:`` but do not tile, after which tiling is
tried less often."""
_TILE_RETRY: Final = 64
"""After that, tiling is tried on one read in this many (the framing may change)."""

RawMessage = tuple[bytes | None, bytes, bytes]
"""A dispatched event before decoding: (event type or None, data, last event ID)."""


class DataRun(list[bytes]):
    """The data fields of a run of the server's canonical blocks, in order.

    What a parser made with ``data_only=True`` hands out instead of one
    :data:`RawMessage` per block, for a consumer that reads nothing but the data
    (the protocol's envelope names its own method): one list per read rather
    than a tuple, an event type and an ID per event. Only runs of blocks with
    an ``event``, a ``data`` and an ``id`` line come this way; the last event ID
    is kept as usual.
    """

    __slots__ = ()


def _text(raw: bytes) -> str:
    # WHATWG decodes the stream as UTF-8 with replacement characters.
    return raw.decode("utf-8", "replace")


def to_message(raw: RawMessage) -> SSEMessage:
    """Decode a :data:`RawMessage` into an :class:`SSEMessage`."""
    event, data, last_id = raw
    return SSEMessage(_text(data), _text(event) if event else "message", _text(last_id))


class SSEParser:
    """Incremental ``text/event-stream`` parser.

    Feed bytes with :meth:`receive_data`; signal the end of input with
    ``receive_data(b"")`` (h11's convention). Take items with
    :meth:`next_event` (one at a time, returning :data:`NEED_DATA` or
    :data:`END_OF_STREAM` when there is none), :meth:`events` (all ready
    items), or :meth:`raw_events` (the same with messages left as bytes, for
    a decoder that reads the data as bytes anyway).

    With ``data_only=True`` runs of the server's canonical blocks come out of
    :meth:`raw_events` as :class:`DataRun` lists of their data, for a consumer
    that needs nothing else (:class:`EventStreamDecoder`); such a parser has
    no :meth:`next_event` or :meth:`events`.

    Errors are sticky: after a :class:`RemoteProtocolError` every later call
    raises it again. Items parsed before the error are handed out first.
    """

    __slots__ = (
        "_at_start",
        "_block",
        "_buf",
        "_data",
        "_data_only",
        "_data_size",
        "_eof",
        "_error",
        "_event_type",
        "_last_id",
        "_limits",
        "_out",
        "_skip_lf",
        "_small",
        "_tile_misses",
        "reconnection_time",
    )

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS, data_only: bool = False) -> None:
        self._limits = limits
        self._data_only = data_only
        # Below this many bytes no line or event can break a limit.
        self._small = min(limits.max_line_length, limits.max_event_size)
        self._out: deque[RawMessage | SSEComment | DataRun] = deque()
        self._buf = b""  # the current, unterminated line (no CR or LF in it)
        self._skip_lf = False  # the last chunk ended in CR: an LF that follows is its pair
        self._block = _BLOCK_CRLF  # the canonical block pattern of the stream's line ends
        self._at_start = True  # the BOM may still come
        self._eof = False
        self._error: RemoteProtocolError | None = None
        self._event_type: bytes | None = None
        self._data: list[bytes] = []
        self._data_size = 0
        self._last_id = b""
        self._tile_misses = 0
        self.reconnection_time: int | None = None
        """The last valid ``retry:`` value in milliseconds, or None."""

    @property
    def last_event_id(self) -> str:
        """The last event ID buffer (what ``Last-Event-ID`` would carry)."""
        return _text(self._last_id)

    # -- input -------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed the next chunk of the body; ``b""`` marks the end of input."""
        if self._eof:
            raise LocalProtocolError("SSEParser.receive_data called after end of input")
        if self._error is not None:
            self._eof = not data  # keep at_eof true to its word; the error stays
            return
        if not data:
            self._finish()
            return
        if self._at_start:
            data = self._strip_bom(data)
            if not data:
                return
        if self._skip_lf:
            self._skip_lf = False
            if data[0] == 0x0A:
                data = data[1:]
                if not data:
                    return
        if self._buf:
            data = self._buf + data
        # Complete lines end at the last CR or LF; a CR that ends the chunk ends a
        # line, and an LF that starts the next chunk is its pair.
        cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        self._skip_lf = cut > 0 and cut == len(data) and data[-1] == 0x0D
        self._buf = data[cut:]
        try:
            # Complete lines first: the events before an overlong line are delivered.
            if cut:
                self._scan(data, cut)
            if len(self._buf) > self._limits.max_line_length:
                self._line_too_long(len(self._buf))
        except RemoteProtocolError as exc:
            self._error = exc
            self._buf = b""

    def _strip_bom(self, data: bytes) -> bytes:
        data = self._buf + data
        self._buf = b""
        if len(data) < len(_BOM) and _BOM.startswith(data):
            self._buf = data  # wait: this may still become a BOM
            return b""
        self._at_start = False
        return data[3:] if data.startswith(_BOM) else data

    def _line_too_long(self, length: int) -> None:
        limit = self._limits.max_line_length
        raise LimitExceeded(
            f"SSE line of {length} bytes (or more) exceeds max_line_length={limit}",
            limit="max_line_length",
            value=limit,
        )

    def _scan(self, text: bytes, end: int) -> None:
        """Parse the complete lines ``text[:end]`` (``text[end-1]`` is CR or LF)."""
        out = self._out
        checked = end <= self._small
        block = self._block
        # A chunk without CR cannot hide a lone CR in an LF block's data. (Bytes
        # tests use the int forms, 13 and 10: ``b"\r" in x`` costs eight times as much.)
        cr_free = 13 not in text
        pos = 0
        tiling = checked
        while pos < end:
            if not self._data and self._event_type is None:
                # Where a block starts: after a heartbeat too, but not again in this
                # read after a miss (what follows it would not tile either).
                if tiling and text.startswith(b"event: ", pos):
                    start = pos
                    pos = self._scan_tiled(text, pos, end, cr_free)
                    tiling = pos != start
                    if pos >= end:
                        return
                # Between events: take canonical blocks while there are some.
                m = block.match(text, pos, end)
                if m is None:
                    other = _BLOCK_LF if block is _BLOCK_CRLF else _BLOCK_CRLF
                    m = other.match(text, pos, end)
                    if m is not None:
                        self._block = block = other  # the stream's line ends
                crlf = block is _BLOCK_CRLF
                # The byte that must not be in a block's data: the other line end (an
                # LF block's data cannot hold a CR when the chunk has none).
                stray = 10 if crlf else (-1 if cr_free else 13)
                last_id = self._last_id
                append = out.append
                match = block.match
                try:
                    while m is not None:
                        # (event, data, id): already a RawMessage when the id is there.
                        # (No typing.cast here: a call per event is measurable.)
                        raw: RawMessage = m.groups()  # type: ignore[assignment]
                        event_type, data, block_id = raw
                        if stray >= 0 and stray in data:
                            break  # a lone line end inside: the line-by-line path decides
                        if not checked:
                            self._check_block(m, 2 if crlf else 1)
                        if block_id is None:
                            raw = (event_type, data, last_id)
                        else:
                            last_id = block_id
                        append(raw)
                        pos = m.end()
                        m = match(text, pos, end)
                finally:
                    self._last_id = last_id
                if pos >= end:
                    return
            eol = _LINE_END.search(text, pos, end)
            assert eol is not None  # text[end - 1] ends a line
            if not checked and eol.start() - pos > self._limits.max_line_length:
                self._line_too_long(eol.start() - pos)
            self._line(text[pos : eol.start()])
            pos = eol.end()

    def _scan_tiled(self, text: bytes, pos: int, end: int, cr_free: bool) -> int:
        """Take ``text[pos:end]``'s whole blocks if they are all server blocks.

        Returns where the rest begins: ``pos`` when the blocks do not tile
        (another field among them, another framing), else the end of the last
        blank line before the first comment (a heartbeat), or of the read's
        last blank line. Only called between events, where ``event:`` starts a
        line, on a read within the limits (the tiles are not checked against
        them).
        """
        misses = self._tile_misses
        if misses >= _TILE_TRIES and misses % _TILE_RETRY:
            self._tile_misses = misses + 1  # a framing that does not tile: try now and then
            return pos
        if cr_free:
            blank = b"\n\n"
            tile = _TILE_DATA_LF if self._data_only else _TILE_LF
        else:
            blank = b"\r\n\r\n"
            tile = _TILE_DATA_CRLF if self._data_only else _TILE_CRLF
        stop = text.rfind(blank, pos, end) + len(blank)
        if stop < len(blank):
            return pos  # no block ends in this read
        found = tile.findall(text, pos, stop)
        if not found or text.count(b"\n", pos, stop) != 4 * len(found):
            # A heartbeat among the blocks? Then the blocks before it. (Looked for
            # only now: ":" is common in JSON, so the search is slow, about 1 ns a
            # byte, and most reads have no heartbeat.)
            comment = text.find(blank + b":", pos, stop)
            if comment >= 0:
                stop = comment + len(blank)  # the line path takes the heartbeat
                found = tile.findall(text, pos, stop)
            if not found or text.count(b"\n", pos, stop) != 4 * len(found):
                self._tile_misses = misses + 1
                return pos
        self._tile_misses = 0
        if self._data_only:
            self._out.append(DataRun(found))
            # The last block's id line is the last line that starts with "id: ".
            id_start = text.rfind(b"\nid: ", pos, stop) + 5
            self._last_id = text[id_start : stop - len(blank)]
        else:
            self._out.extend(found)
            self._last_id = found[-1][2]
        return stop

    def _check_block(self, m: re.Match[bytes], eol: int) -> None:
        """The line-by-line path's checks, in its order, for one canonical block.

        Each line against ``max_line_length`` and the data (plus its LF) against
        ``max_event_size``, so a limit gives the same answer whichever path a
        chunking sends the block down.
        """
        start = m.start()
        for group in (1, 2, 3):
            end = m.end(group)
            if end < 0:  # no event or no id line
                continue
            if end - start > self._limits.max_line_length:
                self._line_too_long(end - start)
            if group == 2 and end - m.start(2) + 1 > self._limits.max_event_size:
                self._too_big(end - m.start(2) + 1)
            start = end + eol

    def _too_big(self, size: int) -> None:
        limit = self._limits.max_event_size
        raise LimitExceeded(
            f"SSE event data of {size} bytes (or more) exceeds max_event_size={limit}",
            limit="max_event_size",
            value=limit,
        )

    def _line(self, line: bytes) -> None:
        """Interpret one line: the WHATWG algorithm itself."""
        if not line:
            if self._data:
                self._out.append(self._dispatch())
            else:
                self._event_type = None
            return
        if line[0] == _COLON:
            self._out.append(SSEComment(_text(line[2:] if line[1:2] == b" " else line[1:])))
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
            self._data_size += len(value) + 1
            if self._data_size > self._limits.max_event_size:
                self._too_big(self._data_size)
        elif name == b"event":
            self._event_type = value
        elif name == b"id":
            if b"\x00" not in value:
                self._last_id = value
        elif name == b"retry" and value.isdigit():
            # bytes.isdigit is ASCII-only; b"".isdigit() is False
            self.reconnection_time = int(value)
        # Any other field is ignored, as the spec says.

    def _dispatch(self) -> RawMessage:
        data = self._data
        raw = (self._event_type, data[0] if len(data) == 1 else b"\n".join(data), self._last_id)
        self._data = []
        self._data_size = 0
        self._event_type = None
        return raw

    def _finish(self) -> None:
        self._eof = True
        if self._at_start and self._buf:  # a lone partial BOM and nothing else
            self._buf = self._strip_bom(b"")
        if self._buf:
            line, self._buf = self._buf, b""
            self._line(line)
        if self._data:
            partial = _text(b"\n".join(self._data))
            self._data = []
            self._error = RemoteProtocolError(
                "event stream ended in the middle of an event "
                f"({len(partial)} characters of data were never dispatched)",
                partial=partial,
            )

    # -- output ------------------------------------------------------------

    def next_event(self) -> SSEMessage | SSEComment | Sentinel:
        """Return the next parsed item, or a sentinel saying why there is none."""
        self._need_event_types()
        if self._out:
            item = self._out.popleft()
            return item if type(item) is SSEComment else to_message(item)  # type: ignore[arg-type]
        if self._error is not None:
            raise self._error
        return END_OF_STREAM if self._eof else NEED_DATA

    def events(self) -> list[SSEMessage | SSEComment]:
        """Return every item parsed so far, then raise a pending error if any.

        Raising only when no item is left means a caller that loops on
        ``events()`` sees every good item before the error.
        """
        self._need_event_types()
        return [
            item if type(item) is SSEComment else to_message(item)  # type: ignore[arg-type]
            for item in self.raw_events()
        ]

    def _need_event_types(self) -> None:
        if self._data_only:
            raise LocalProtocolError(
                "this SSEParser was made with data_only=True: its runs of messages have "
                "no event types, so take them with raw_events()"
            )

    def raw_events(self) -> list[RawMessage | SSEComment | DataRun]:
        """Like :meth:`events`, with messages as undecoded :data:`RawMessage` tuples.

        A parser made with ``data_only=True`` also hands out :class:`DataRun`
        items, each in place of the messages whose data it holds.
        """
        if self._out:
            items = list(self._out)
            self._out.clear()
            return items
        if self._error is not None:
            raise self._error
        return []

    @property
    def at_eof(self) -> bool:
        """True once ``receive_data(b"")`` was called."""
        return self._eof


# -- serializer ---------------------------------------------------------------


def _check_field(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise LocalProtocolError(f"SSE {name} must not contain CR or LF: {value!r}")


def _encode(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate has no UTF-8 form
        raise LocalProtocolError(f"SSE text must be encodable as UTF-8: {exc}") from None


def serialize_message(
    data: str, *, event: str | None = None, id: str | int | None = None, newline: str = "\r\n"
) -> bytes:
    """Frame one event the way the Agent Server does: ``event``, ``data``, ``id``.

    ``data`` with line breaks becomes several ``data:`` lines (the parser joins
    them with LF again). ``newline`` is ``"\\r\\n"`` (the server's framing) or
    ``"\\n"``.
    """
    if newline not in ("\r\n", "\n"):
        raise LocalProtocolError(f"newline must be CRLF or LF, not {newline!r}")
    parts: list[str] = []
    if event is not None:
        _check_field("event", event)
        parts.append(f"event: {event}{newline}")
    if "\n" in data or "\r" in data:
        normalised = data.replace("\r\n", "\n").replace("\r", "\n")
        parts.extend(f"data: {line}{newline}" for line in normalised.split("\n"))
    else:
        parts.append(f"data: {data}{newline}")
    if id is not None:
        id_text = str(id)
        _check_field("id", id_text)
        if "\x00" in id_text:
            raise LocalProtocolError("SSE id must not contain NUL (clients ignore such ids)")
        parts.append(f"id: {id_text}{newline}")
    parts.append(newline)
    return _encode("".join(parts))


def serialize_comment(text: str = "heartbeat", *, newline: str = "\r\n") -> bytes:
    """A comment block (the server's ``: heartbeat``), one line per line of ``text``."""
    if newline not in ("\r\n", "\n"):
        raise LocalProtocolError(f"newline must be CRLF or LF, not {newline!r}")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return _encode("".join(f": {line}{newline}" for line in lines) + newline)


def serialize_retry(milliseconds: int, *, newline: str = "\r\n") -> bytes:
    """A ``retry:`` block setting the client's reconnection time."""
    if not isinstance(milliseconds, int) or isinstance(milliseconds, bool) or milliseconds < 0:
        raise LocalProtocolError(f"retry must be a non-negative int, got {milliseconds!r}")
    if newline not in ("\r\n", "\n"):
        raise LocalProtocolError(f"newline must be CRLF or LF, not {newline!r}")
    return f"retry: {milliseconds}{newline}{newline}".encode()
