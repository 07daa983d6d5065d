"""The per-connection outbox and its overflow policy.

Charter: frames come out in the order they went in; live frames are bounded by
count and bytes, replays by their own bound; on overflow the outbox is emptied,
closed with a reason naming the resume point, and refuses everything after;
the writer is woken exactly when there is something new to do.
"""

from __future__ import annotations

from typing import Any

import pytest

from threadwire.protocol import LocalProtocolError
from threadwire.protocol.producer import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_EVENTS,
    DEFAULT_MAX_REPLAY_EVENTS,
    Outbox,
)


def test_defaults() -> None:
    box = Outbox()
    assert (box.max_events, box.max_bytes, box.max_replay_events) == (
        DEFAULT_MAX_EVENTS,
        DEFAULT_MAX_BYTES,
        DEFAULT_MAX_REPLAY_EVENTS,
    )
    assert DEFAULT_MAX_EVENTS == 1024


@pytest.mark.parametrize("name", ["max_events", "max_bytes", "max_replay_events"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_limits_are_positive(name: str, value: Any) -> None:
    with pytest.raises(LocalProtocolError, match=name):
        Outbox(**{name: value})


def test_order_watermarks_and_wakeups() -> None:
    box = Outbox()
    wakes: list[int] = []
    box.on_ready = lambda: wakes.append(len(box))
    assert box.take() == []
    assert box.push(b"e1", 1)
    assert box.push(b"reply")
    assert box.push_replay(b"old", 0)
    assert box.push_extra(b": hb")
    assert wakes == [1]  # only when the queue stopped being empty
    assert (len(box), box.queued_bytes, box.written_seq, box.taken_seq) == (4, 7, 1, 0)
    assert box.take() == [b"e1", b"reply", b"old", b": hb"]
    assert (len(box), box.queued_bytes, box.taken_seq) == (0, 0, 1)
    box.push(b"e5", 5)
    box.push_replay(b"e3", 3)
    assert wakes == [1, 1]
    assert box.take() == [b"e5", b"e3"]
    assert (box.written_seq, box.taken_seq) == (5, 5)


def test_overflow_by_count_cuts_off() -> None:
    box = Outbox(max_events=2)
    wakes: list[bool] = []
    box.on_ready = lambda: wakes.append(box.closed)
    box.push(b"a", 1)
    box.take()
    box.push(b"b", 2)
    box.push(b"c", 3)
    assert not box.push(b"d", 4)
    assert box.closed and box.fell_behind
    assert box.close_reason == (
        "subscriber fell behind: 2 live and 0 replayed frames (2 live bytes) were waiting to be "
        "written (limits: 2 frames, 67108864 bytes, 100000 replayed frames); resume with since=1"
    )
    assert wakes == [False, False, True]
    assert box.take() == []
    assert len(box) == 0
    assert not box.push(b"e", 5)
    assert not box.push_replay(b"e", 5)
    assert not box.push_extra(b"e")
    box.close("again")
    assert box.close_reason is not None and box.close_reason.startswith("subscriber fell behind")


def test_overflow_by_bytes() -> None:
    box = Outbox(max_bytes=10)
    assert box.push(b"x" * 50, 1)  # one big frame alone always passes
    assert not box.push(b"y", 2)
    assert box.fell_behind
    box = Outbox(max_bytes=10)
    assert box.push(b"x" * 6, 1)
    assert box.push(b"x" * 4, 2)
    assert not box.push(b"x", 3)


def test_replays_have_their_own_bound() -> None:
    box = Outbox(max_events=2, max_replay_events=3)
    for seq in range(1, 4):
        assert box.push_replay(b"r", seq)
    assert box.push(b"live", 9)
    assert box.push(b"live", 10)
    assert not box.push_replay(b"r", 4)
    assert box.fell_behind
    assert "0 replayed" not in (box.close_reason or "")


def test_closing_notice_and_plain_close() -> None:
    box = Outbox(max_events=1)
    box.closing_notice = lambda reason: b": closed: " + reason.encode()[:10]
    box.push(b"a", 1)
    box.push(b"b", 2)
    assert box.take() == [b": closed: subscriber"]
    box = Outbox()
    box.push(b"a", 1)
    box.close("bye", final=b"last")
    assert (box.closed, box.fell_behind, box.close_reason) == (True, False, "bye")
    assert box.take() == [b"last"]
