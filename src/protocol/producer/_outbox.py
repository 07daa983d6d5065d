"""The bounded outbound queue of one connection and its overflow policy.

Every frame a connection must write (events, command replies, heartbeats)
waits in its :class:`Outbox` until the adapter takes it with
:meth:`Outbox.take`. The queue is bounded and the policy on overflow is
explicit: **the slow subscriber is cut off**. Its queue is emptied (the memory
is freed at once), it is marked closed with a reason that says how far it got
and how to resume (``since=<the last seq handed to the writer>``), and the
producer carries on: an append never waits for a subscriber, so nobody else
slows down.

Limits count *live* frames (events fanned out as they happen, and replies):
``max_events`` frames and ``max_bytes`` bytes waiting (a single frame larger
than ``max_bytes`` still passes when the queue is empty, so a big snapshot is
never undeliverable). A replay the client asked for (``subscribe``,
``reconnect``, ``since``) may be larger than ``max_events``; it is bounded on
its own by ``max_replay_events``, which only a client that keeps asking for
replays without reading ever reaches. Heartbeats and the final notice are not
counted.

The frames themselves are the log's shared encodings: queuing one costs a
pointer, not a copy.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final

from .._errors import LocalProtocolError

__all__ = [
    "Outbox",
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_REPLAY_EVENTS",
]

DEFAULT_MAX_EVENTS: Final = 1024
"""Live frames one connection may have waiting (the SDK's queue size)."""
DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024
"""Bytes of live frames one connection may have waiting."""
DEFAULT_MAX_REPLAY_EVENTS: Final = 100_000
"""Replayed frames one connection may have waiting (ten full replay buffers)."""

_LIVE, _REPLAY, _EXTRA = 0, 1, 2


def _positive(name: str, value: int) -> int:
    if type(value) is not int or value < 1:
        raise LocalProtocolError(f"{name} must be a positive int, got {value!r}")
    return value


class Outbox:
    """See the module docstring."""

    __slots__ = (
        "_live",
        "_live_bytes",
        "_queue",
        "_replay",
        "close_reason",
        "closed",
        "closing_notice",
        "fell_behind",
        "max_bytes",
        "max_events",
        "max_replay_events",
        "on_ready",
        "taken_seq",
        "written_seq",
    )

    def __init__(
        self,
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_replay_events: int = DEFAULT_MAX_REPLAY_EVENTS,
    ) -> None:
        self.max_events = _positive("max_events", max_events)
        self.max_bytes = _positive("max_bytes", max_bytes)
        self.max_replay_events = _positive("max_replay_events", max_replay_events)
        self.on_ready: Callable[[], None] | None = None
        """Called (synchronously; it must not block) when the queue stops being
        empty or the outbox closes: the adapter's cue to call :meth:`take`."""
        self.closing_notice: Callable[[str], bytes] | None = None
        """Builds the last frame to write when the overflow policy closes the
        outbox (an SSE comment with the reason), from the reason."""
        self._queue: deque[tuple[bytes, int, int]] = deque()
        self._live = 0
        self._live_bytes = 0
        self._replay = 0
        self.written_seq = 0
        """The highest seq queued so far: every event up to it that this
        connection gets is written before anything queued later."""
        self.taken_seq = 0
        """The highest seq handed to the writer by :meth:`take`."""
        self.closed = False
        self.close_reason: str | None = None
        self.fell_behind = False
        """True when the outbox was closed by the overflow policy."""

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def queued_bytes(self) -> int:
        """Bytes of live frames waiting."""
        return self._live_bytes

    def _add(self, frame: bytes, seq: int, kind: int) -> None:
        queue = self._queue
        was_empty = not queue
        queue.append((frame, seq, kind))
        if seq > self.written_seq:
            self.written_seq = seq
        if was_empty and self.on_ready is not None:
            self.on_ready()

    def push(self, frame: bytes, seq: int = 0) -> bool:
        """Queue a live frame (an event with its seq, or a reply with seq 0).

        Returns False, and applies the overflow policy, when the limits do not
        allow it; False too once the outbox is closed.
        """
        if self.closed:
            return False
        size = len(frame)
        if self._live >= self.max_events or (
            self._live and self._live_bytes + size > self.max_bytes
        ):
            self._overflow()
            return False
        self._live += 1
        self._live_bytes += size
        # _add, inlined: this is the per-subscriber cost of every event.
        queue = self._queue
        queue.append((frame, seq, _LIVE))
        if seq > self.written_seq:
            self.written_seq = seq
        if len(queue) == 1 and self.on_ready is not None:
            self.on_ready()
        return True

    def push_replay(self, frame: bytes, seq: int) -> bool:
        """Queue a replayed event (bounded by ``max_replay_events`` only)."""
        if self.closed:
            return False
        if self._replay >= self.max_replay_events:
            self._overflow()
            return False
        self._replay += 1
        self._add(frame, seq, _REPLAY)
        return True

    def push_extra(self, frame: bytes) -> bool:
        """Queue an uncounted frame (a heartbeat); False once closed."""
        if self.closed:
            return False
        self._add(frame, 0, _EXTRA)
        return True

    def take(self) -> list[bytes]:
        """Everything waiting, in order; the writer must write all of it."""
        queue = self._queue
        if not queue:
            return []
        frames = []
        taken = self.taken_seq
        for frame, seq, _ in queue:
            frames.append(frame)
            if seq > taken:
                taken = seq
        self.taken_seq = taken
        queue.clear()
        self._live = self._live_bytes = self._replay = 0
        return frames

    def _overflow(self) -> None:
        self.fell_behind = True
        reason = (
            f"subscriber fell behind: {self._live} live and {self._replay} replayed frames "
            f"({self._live_bytes} live bytes) were waiting to be written (limits: "
            f"{self.max_events} frames, {self.max_bytes} bytes, {self.max_replay_events} "
            f"replayed frames); resume with since={self.taken_seq}"
        )
        notice = self.closing_notice
        self.close(reason, final=None if notice is None else notice(reason))

    def close(self, reason: str, *, final: bytes | None = None) -> None:
        """Drop everything waiting and refuse more; ``final`` is left as the last frame.

        Closing twice keeps the first reason.
        """
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self._queue.clear()
        self._live = self._live_bytes = self._replay = 0
        if final is not None:
            self._queue.append((final, 0, _EXTRA))
        if self.on_ready is not None:
            self.on_ready()
