"""An event-stream body, bytes in, typed messages out: SSE and codec composed.

:class:`EventStreamDecoder` is what every SSE consumer needs once the HTTP
layer is peeled off (the h11 binding, a caller with its own HTTP client, a
capture file): it feeds the :class:`SSEParser` and decodes each data field
with the codec, keeping comments as :class:`SSEComment` (heartbeats). Data
that is not a JSON object is a :class:`RemoteProtocolError`, never a silent
drop (the official SDK drops it).
"""

from __future__ import annotations

from ._codec import decode_data_fields
from ._errors import RemoteProtocolError
from ._events import Message
from ._limits import DEFAULT_LIMITS, Limits
from ._sse import SSEComment, SSEParser

__all__ = ["EventStreamDecoder"]


class EventStreamDecoder:
    """Incremental decoder of a ``text/event-stream`` body of protocol envelopes."""

    __slots__ = ("_error", "parser")

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.parser = SSEParser(limits=limits, data_only=True)
        self._error: RemoteProtocolError | None = None

    def feed(self, data: bytes) -> list[Message | SSEComment]:
        """Decode what ``data`` completes; ``b""`` marks the end of the body.

        Items decoded before a bad one are returned first; the error is raised
        by the next call, and by every call after (errors are sticky: a resumed
        stream brings what came after the bad item).
        """
        if self._error is not None:
            raise self._error
        parser = self.parser
        parser.receive_data(data)
        out: list[Message | SSEComment] = []
        try:
            decode_data_fields(parser.raw_events(), out)
        except RemoteProtocolError as exc:
            if not out:
                raise
            self._error = exc
        return out
