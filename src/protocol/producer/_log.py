"""The event log of one thread: numbering, durable ids, the replay buffer, fan-out.

:class:`EventLog` turns parts into envelopes. Every envelope gets the next
``seq`` (monotonic across all runs of the thread, starting at 1) and an
``event_id`` derived from it (``synth:<run_id>:<seq>`` for an event of a run,
the server's own fallback form, from which clients read the run id, as
:func:`threadwire.protocol.run_id_from_event_id` does; ``<seq>`` for an event
outside a run). The log stores both with the event, so a replay hands out
the same seq and the same id every time: unlike the real server (PROTOCOL.md
B3/B4), which renumbers per connection and can shift ids, ``since`` and
event-id dedup are exact here.

The last ``buffer_size`` events (default 10,000, like the server) are kept for
replay. :meth:`EventLog.replay` gives the events with ``seq > since`` that a
filter matches; when ``since`` is older than the buffer it returns a
:class:`Gap` naming the oldest seq still held, never a silent partial replay.

Each event is encoded to JSON once, and framed for SSE at most once (lazily),
whatever the number of subscribers: :meth:`EventLog.attach` registers a
:class:`Sink` (a :class:`~threadwire.protocol.producer.ServerSession`) and
every append hands the one :class:`LogEntry` to each sink, O(sinks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import attrs
import orjson

from .._codec import decode_event_object, encode_event
from .._errors import LocalProtocolError
from .._events import RENAMED_METHODS, Event, channel_of
from .._filters import StreamFilter
from ._parts import Part, coerce_part, wire_shape

__all__ = ["LogEntry", "Gap", "Sink", "EventLog", "DEFAULT_BUFFER_SIZE"]

_new_tuple = tuple.__new__

DEFAULT_BUFFER_SIZE = 10_000
"""Events kept for replay (the server's ``LSD_PROTOCOL_V2_BUFFER_SIZE``)."""


class LogEntry:
    """One stored event, as encoded bytes (shared by every subscriber it goes to).

    An entry keeps no decoded :class:`Event`: :attr:`event` decodes the JSON
    again when asked.
    """

    __slots__ = ("_sse", "json", "key", "method", "seq")

    def __init__(
        self, seq: int, method: str, key: tuple[str, tuple[str, ...]], json: bytes
    ) -> None:
        self.seq = seq
        self.method = method
        self.key = key
        """``(channel, namespace)``: all a subscription filter looks at."""
        self.json = json
        """The compact JSON envelope: a WebSocket text frame, or an SSE ``data:``."""
        self._sse: bytes | None = None

    @property
    def event(self) -> Event:
        """The event, decoded from :attr:`json` (as a subscriber would decode it)."""
        return decode_event_object(orjson.loads(self.json))

    @property
    def sse(self) -> bytes:
        """The SSE block: ``event: <method>``, ``data: <json>``, ``id: <seq>``, CRLF."""
        if self._sse is None:
            # orjson escapes every control character, so the JSON is one data line.
            self._sse = b"".join(
                (
                    b"event: ",
                    _encoded_method(self.method),
                    b"\r\ndata: ",
                    self.json,
                    b"\r\nid: ",
                    b"%d" % self.seq,
                    b"\r\n\r\n",
                )
            )
        return self._sse


def _encoded_method(method: str) -> bytes:
    if "\r" in method or "\n" in method:
        raise LocalProtocolError(f"SSE event must not contain CR or LF: {method!r}")
    return method.encode()


@attrs.frozen(kw_only=True)
class Gap:
    """``since`` is older than the replay buffer: events after it are gone."""

    since: int
    min_available_seq: int
    """The oldest seq still held."""

    @property
    def message(self) -> str:
        return (
            f"since={self.since} is older than the replay buffer: the oldest event held is "
            f"seq {self.min_available_seq}, so events {self.since + 1}.."
            f"{self.min_available_seq - 1} can no longer be replayed"
        )


class Sink(Protocol):
    """Anything that takes live events from a log (a server session)."""

    def deliver(self, entry: LogEntry) -> None:
        """Take one new event. Must not raise and must not block."""


def _check_run_id(run_id: str) -> None:
    if not isinstance(run_id, str) or not run_id:
        raise LocalProtocolError(f"run_id must be a non-empty string, got {run_id!r}")
    for bad in (":", "\r", "\n", "\x00"):
        if bad in run_id:
            # The run id is embedded in event ids as ``synth:<run_id>:<seq>``.
            raise LocalProtocolError(f"run_id must not contain {bad!r}: {run_id!r}")


def _check_since(since: Any) -> None:
    if since is not None and (type(since) is not int or since < 0):
        raise LocalProtocolError(f"since must be a non-negative int or None, got {since!r}")


class EventLog:
    """See the module docstring."""

    def __init__(
        self, thread_id: str | None = None, *, buffer_size: int = DEFAULT_BUFFER_SIZE
    ) -> None:
        if type(buffer_size) is not int or buffer_size < 1:
            raise LocalProtocolError(f"buffer_size must be a positive int, got {buffer_size!r}")
        self.thread_id = thread_id
        self.buffer_size = buffer_size
        # seq s lives at (s - 1) % buffer_size, as (seq, method, key, json)
        self._ring: list[tuple[int, str, tuple[str, tuple[str, ...]], bytes]] = []
        self._high = 0
        self._sinks: dict[Sink, None] = {}
        self._run_id_ok: str | None = None  # the last run id that passed the check
        self._sink_list: tuple[Sink, ...] = ()

    # -- state ---------------------------------------------------------------

    @property
    def high_seq(self) -> int:
        """The seq of the newest event, 0 before the first."""
        return self._high

    @property
    def min_available_seq(self) -> int:
        """The oldest seq held (``high_seq + 1`` while the log is empty)."""
        return self._high - len(self._ring) + 1

    def __len__(self) -> int:
        return len(self._ring)

    # -- writing -------------------------------------------------------------

    def append(
        self, part: Part | Mapping[str, Any], *, timestamp: int, run_id: str | None = None
    ) -> Event:
        """Store one part as the next event (channel mapping as in ``_parts``).

        A part that raises interrupts needs :class:`RunProducer`, which turns
        them into ``input.requested`` events; here it is a LocalProtocolError
        rather than a silent loss.
        """
        part = coerce_part(part)
        if part.interrupts:
            raise LocalProtocolError(
                "EventLog.append does not handle interrupts; push the part through "
                "RunProducer.push, which emits input.requested for each"
            )
        method, namespace, data, node = wire_shape(part)
        if method in ("values", "updates") and isinstance(data, dict) and "__interrupt__" in data:
            raise LocalProtocolError(
                f"{method} data carries __interrupt__; push it through RunProducer.push, "
                "which strips it and emits input.requested"
            )
        return self.emit(method, namespace, data, timestamp=timestamp, node=node, run_id=run_id)

    def emit(
        self,
        method: str,
        namespace: tuple[str, ...],
        data: Any,
        *,
        timestamp: int,
        node: str | None = None,
        run_id: str | None = None,
    ) -> Event:
        """Store an event already in wire shape (no channel rewriting) and fan it out."""
        if type(timestamp) is not int or timestamp < 0:
            raise LocalProtocolError(
                f"timestamp must be a non-negative int (ms), got {timestamp!r}"
            )
        if run_id is not None and run_id != self._run_id_ok:
            _check_run_id(run_id)
            self._run_id_ok = run_id
        if method == "lifecycle":
            if not isinstance(data, dict) or not isinstance(data.get("event"), str):
                raise LocalProtocolError("lifecycle data must be an object with a string 'event'")
        elif method == "input.requested" and (
            not isinstance(data, dict) or not isinstance(data.get("interrupt_id"), str)
        ):
            raise LocalProtocolError("input.requested data must have a string 'interrupt_id'")
        seq = self._high + 1
        event_id = f"synth:{run_id}:{seq}" if run_id is not None else str(seq)
        channel = channel_of(method, data) if method in RENAMED_METHODS else method
        # tuple.__new__ rather than Event(...): a NamedTuple's own __new__ is Python
        # code, a measurable part of the per-event cost here.
        event = _new_tuple(
            Event, (method, channel, namespace, data, seq, event_id, timestamp, node, None)
        )
        try:
            encoded = encode_event(event)  # kept: in an allocation of its own size
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            raise LocalProtocolError(f"{method} data is not JSON-serializable: {exc}") from None
        key = (channel, namespace)
        entry = LogEntry(seq, method, key, encoded)
        # The ring holds plain tuples of strings, bytes and ints: the garbage
        # collector stops tracking such a tuple once it has seen it, so the
        # thousands of events held per thread cost no full collection anything
        # (with a thousand busy threads, walking them was most of the server's CPU).
        stored = (seq, method, key, encoded)
        ring = self._ring
        if len(ring) < self.buffer_size:
            ring.append(stored)
        else:
            ring[(seq - 1) % self.buffer_size] = stored
        self._high = seq
        for sink in self._sink_list:
            sink.deliver(entry)
        return event

    # -- reading -------------------------------------------------------------

    def entries(
        self, since: int | None = None, stream_filter: StreamFilter | None = None
    ) -> list[LogEntry] | Gap:
        """The held entries with ``seq > since`` (all held when None) that match.

        Returns a :class:`Gap` when events after ``since`` were evicted; raises
        :class:`LocalProtocolError` when ``since`` is ahead of :attr:`high_seq`
        (such a cursor cannot come from this log).
        """
        _check_since(since)
        oldest = self.min_available_seq
        if since is None:
            start = oldest
        else:
            if since > self._high:
                raise LocalProtocolError(
                    f"since={since} is ahead of the log: the newest event is seq {self._high}"
                )
            start = since + 1
            if start < oldest:
                return Gap(since=since, min_available_seq=oldest)
        ring = self._ring
        # seq s sits at (s - 1) % buffer_size: the range is one slice of the ring, or
        # two where it wraps.
        first = (start - 1) % self.buffer_size
        count = self._high + 1 - start
        picked = ring[first : first + count]
        if len(picked) < count:
            picked += ring[: count - len(picked)]
        if stream_filter is None:
            return [LogEntry(*stored) for stored in picked]
        # A thread has few (channel, namespace) keys: match each once.
        verdicts: dict[tuple[str, tuple[str, ...]], bool] = {}
        out = []
        for stored in picked:
            key = stored[2]
            hit = verdicts.get(key)
            if hit is None:
                hit = verdicts[key] = stream_filter.matches(*key)
            if hit:
                out.append(LogEntry(*stored))
        return out

    def replay(
        self, since: int | None = None, stream_filter: StreamFilter | None = None
    ) -> list[Event] | Gap:
        """The held events with ``seq > since`` that ``stream_filter`` matches, or a Gap."""
        entries = self.entries(since, stream_filter)
        if isinstance(entries, Gap):
            return entries
        return [entry.event for entry in entries]

    # -- fan-out -------------------------------------------------------------

    def attach(self, sink: Sink) -> None:
        """Hand every event appended from now on to ``sink.deliver``."""
        self._sinks[sink] = None
        self._sink_list = tuple(self._sinks)

    def detach(self, sink: Sink) -> None:
        """Stop delivering to ``sink`` (no error if it was not attached)."""
        if sink in self._sinks:
            del self._sinks[sink]
            self._sink_list = tuple(self._sinks)

    @property
    def sinks(self) -> int:
        """How many sinks are attached."""
        return len(self._sinks)
