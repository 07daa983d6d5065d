"""Reading a captured stream back into protocol messages.

:class:`TranscriptReader` takes the bytes of a file in any chunking and
recognises, from the first byte that is not white space, one of:

* an SSE response body exactly as received (CRLF or LF line ends, heartbeat
  comments included), parsed with :class:`~threadwire.protocol.SSEParser`;
* a WebSocket transcript in JSON Lines: each line is either a received
  frame's text (a protocol message object) or a record object
  ``{"dir": "recv", "text": ...}``. Records with ``"dir": "open"`` (and a
  change of ``"conn"``) mark the start of another connection
  (:class:`StreamStart`); other records (``send``, ``close``) are skipped.

It hands out :class:`~threadwire.protocol.Event`, command replies and
:class:`StreamStart` items. Bad input (SSE data that is not a protocol
envelope, a line that is not JSON, a truncated last event, bytes that are not
an event stream at all) stops the reader: :attr:`TranscriptReader.error` says
what and where, and every item decoded before it has been handed out.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple, TypeAlias

from .._codec import decode_message, decode_object, loads
from .._errors import LimitExceeded, RemoteProtocolError
from .._events import Message
from .._limits import DEFAULT_LIMITS, Limits
from .._sse import SSEComment, SSEParser

__all__ = ["StreamStart", "TranscriptItem", "TranscriptReader"]

_BOM: Final = b"\xef\xbb\xbf"
_SPACE: Final = b" \t\r\n"


class StreamStart(NamedTuple):
    """Another connection starts in the transcript.

    ``key`` names the stream it reads (the WebSocket URL of an ``open``
    record), or is None when the transcript does not say (then it is taken to
    be the same thread as before).
    """

    key: str | None
    connection: str | None = None


TranscriptItem: TypeAlias = Message | StreamStart


class TranscriptReader:
    """Incremental reader of a captured SSE body or WebSocket transcript.

    Feed bytes with :meth:`feed`; ``feed(b"")`` marks the end of input. Each
    call returns the items completed by that input. After an error,
    :attr:`error` is set and later input is ignored.
    """

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self.format: str | None = None
        """``"sse"`` or ``"jsonl"`` once recognised."""
        self.error: RemoteProtocolError | None = None
        self.comments = 0
        """SSE comments (heartbeats) seen."""
        self._head = b""
        self._sse: SSEParser | None = None
        self._sse_messages = 0
        self._nonblank = False
        self._line: list[bytes] = []
        self._line_size = 0
        self._line_no = 0
        self._conn: str | None = None
        self._done = False

    def feed(self, data: bytes) -> list[TranscriptItem]:
        """Take the next chunk (``b""``: end of input); return the items it completed."""
        if self._done or self.error is not None:
            return []
        out: list[TranscriptItem] = []
        try:
            if not data:
                self._done = True
            if self.format is None:
                data = self._detect(data)
                if self.format is None:
                    return out
            if self.format == "sse":
                self._feed_sse(data, out)
            else:
                self._feed_lines(data, out)
        except RemoteProtocolError as exc:
            self.error = exc
        return out

    # -- recognising the format ---------------------------------------------------

    def _detect(self, data: bytes) -> bytes:
        head = self._head + data
        if head.startswith(_BOM):
            head = head[len(_BOM) :]
        elif len(head) < len(_BOM) and _BOM.startswith(head) and not self._done:
            self._head = head
            return b""
        stripped = head.lstrip(_SPACE)
        if not stripped:
            if self._done:
                return b""  # empty input: nothing to say
            if len(head) > self._limits.max_line_length:
                raise LimitExceeded(
                    f"more than {self._limits.max_line_length} bytes of white space "
                    "before anything else (max_line_length)",
                    limit="max_line_length",
                    value=self._limits.max_line_length,
                )
            self._head = head
            return b""
        self._head = b""
        self.format = "jsonl" if stripped[:1] in (b"{", b'"') else "sse"
        if self.format == "sse":
            self._sse = SSEParser(limits=self._limits)
        return head

    # -- SSE ----------------------------------------------------------------------

    def _feed_sse(self, data: bytes, out: list[TranscriptItem]) -> None:
        parser = self._sse
        assert parser is not None
        if data:
            if not self._nonblank and data.strip(_SPACE):
                self._nonblank = True
            parser.receive_data(data)
        if self._done:
            parser.receive_data(b"")
        while True:
            try:
                items = parser.raw_events()
            except RemoteProtocolError as exc:
                if exc.partial is not None:
                    raise RemoteProtocolError(
                        f"the input is truncated: {exc.message}", partial=exc.partial
                    ) from None
                raise
            if not items:
                break
            for item in items:
                if type(item) is SSEComment:
                    self.comments += 1
                    continue
                event_type, body, last_id = item  # type: ignore[misc]
                self._sse_messages += 1
                where = f"SSE event #{self._sse_messages}" + (
                    f" (id: {last_id.decode('utf-8', 'replace')})" if last_id else ""
                )
                if event_type == b"error":
                    raise RemoteProtocolError(
                        f"{where}: the server sent an error frame instead of an event: "
                        f"{body[:200].decode('utf-8', 'replace')}"
                    )
                try:
                    out.append(decode_message(body))
                except RemoteProtocolError as exc:
                    raise RemoteProtocolError(f"{where}: {exc.message}") from None
        if self._done and self._nonblank and not self._sse_messages and not self.comments:
            raise RemoteProtocolError(
                "the input is neither an SSE event stream (no event or comment in it) "
                "nor a JSON Lines transcript"
            )

    # -- JSON Lines -----------------------------------------------------------------

    def _feed_lines(self, data: bytes, out: list[TranscriptItem]) -> None:
        if b"\n" not in data and not self._done:
            # Still inside one line: keep the pieces, join them once the line ends.
            self._line.append(data)
            self._line_size += len(data)
            self._check_line(self._line_size)
            return
        text = b"".join(self._line) + data
        lines = text.split(b"\n")
        rest = lines.pop()
        self._check_line(len(rest))
        self._line = [rest]
        self._line_size = len(rest)
        if self._done and rest:
            lines.append(rest)
        unterminated = len(lines) - 1 if self._done and not text.endswith(b"\n") else -1
        for number, line in enumerate(lines):
            self._line_no += 1
            self._check_line(len(line))
            if not line.strip(_SPACE):
                continue
            try:
                obj = loads(line)
            except RemoteProtocolError as exc:
                hint = " (the last line has no line end: the input may be truncated)"
                raise RemoteProtocolError(
                    f"line {self._line_no}: {exc.message}"
                    + (hint if number == unterminated else "")
                ) from None
            try:
                self._record(obj, line, out)
            except RemoteProtocolError as exc:
                raise RemoteProtocolError(f"line {self._line_no}: {exc.message}") from None

    def _check_line(self, size: int) -> None:
        if size > self._limits.max_line_length:
            raise LimitExceeded(
                f"a JSON Lines line is longer than {self._limits.max_line_length} bytes "
                "(max_line_length)",
                limit="max_line_length",
                value=self._limits.max_line_length,
            )

    def _record(self, obj: Any, line: bytes, out: list[TranscriptItem]) -> None:
        if type(obj) is str:
            out.append(decode_message(obj))
            return
        if type(obj) is not dict:
            raise RemoteProtocolError("expected a protocol message or a transcript record object")
        direction = obj.get("dir")
        if direction is None:
            if "type" not in obj:
                preview = line[:120].decode("utf-8", "replace")
                raise RemoteProtocolError(
                    "neither a protocol message (no 'type') nor a transcript record "
                    f"(no 'dir'): {preview}"
                )
            out.append(decode_object(obj))
            return
        conn = obj.get("conn")
        conn = conn if type(conn) is str else None
        if direction == "open":
            url = obj.get("url")
            self._conn = conn
            out.append(StreamStart(url if type(url) is str else None, conn))
        elif direction == "recv":
            if conn is not None and conn != self._conn:
                self._conn = conn
                out.append(StreamStart(None, conn))
            frame = obj.get("text")
            if type(frame) is not str:
                raise RemoteProtocolError("a 'recv' record needs the frame's 'text' as a string")
            out.append(decode_message(frame))
