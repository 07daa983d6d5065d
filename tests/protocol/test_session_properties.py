"""Properties of ClientSession over generated histories, drops and late subscriptions.

Charter: for any history of events (increasing seq with gaps, mixed channels and
namespaces, a root run around them) served by a simulated server that replays
``seq > since`` of what a request body matches (PROTOCOL.md section 6), and for any
interleaving of reads, connection drops (resumed with ``stream_request()``),
subscriptions added midway (with or without history, while the old stream keeps
flowing until the new one is open), unsubscriptions and repeated events (a WebSocket
replay), every subscription receives exactly the events its filter matches, in order,
each once: from the start with ``history=True``, after the session's cursor at the time
with ``history=False``. The run tracker sees every tracked event once. Receiving any
event a second time changes nothing. Window sizes down to 2 keep memory bounded
without changing any of this.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from session_helpers import Driver, filters, histories

from threadwire.protocol import ClientSession, Event, Limits, RunState, StreamFilter

WINDOWS = st.sampled_from([2, 3, 5, 10_000])

actions = st.one_of(
    st.tuples(st.just("deliver"), st.integers(min_value=1, max_value=6)),
    st.tuples(st.just("drop")),
    st.tuples(
        st.just("subscribe"),
        filters,
        st.booleans(),  # history
        st.integers(min_value=0, max_value=3),  # events read on the old stream meanwhile
    ),
    st.tuples(st.just("repeat"), st.integers(min_value=0, max_value=8)),
    st.tuples(st.just("unsubscribe"), st.integers(min_value=0, max_value=5)),
)

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def run_scenario(
    history: list[Event], initial: list[StreamFilter], steps: list[tuple[Any, ...]], window: int
) -> Driver:
    d = Driver(history, limits=Limits(dedup_window=window))
    for stream_filter in initial:
        d.subscribe(stream_filter)
    d.open()
    for step in steps:
        kind = step[0]
        if kind == "deliver":
            d.deliver(step[1])
        elif kind == "drop":
            d.open()  # the connection died; resume where the session says
        elif kind == "subscribe":
            _, stream_filter, history_wanted, lag = step
            d.subscribe(stream_filter, history=history_wanted)
            d.deliver(lag)  # the old stream is read until the new one is open
            if d.session.needs_reopen():
                d.open()
        elif kind == "repeat":
            d.repeat(step[1])
        else:
            active = [s for s in d.subs.values() if s.active]
            if active:
                d.unsubscribe(active[step[1] % len(active)])
    d.drain()
    return d


def key(events: list[Event]) -> list[tuple[int | None, str | None]]:
    return [(e.seq, e.event_id) for e in events]


@given(
    history=histories(),
    initial=st.lists(filters, min_size=1, max_size=3),
    steps=st.lists(actions, max_size=25),
    window=WINDOWS,
)
@SETTINGS
def test_every_subscription_gets_exactly_its_events_once_in_order(
    history: list[Event],
    initial: list[StreamFilter],
    steps: list[tuple[Any, ...]],
    window: int,
) -> None:
    d = run_scenario(history, initial, steps, window)
    for sub in d.subs.values():
        got = key(d.got[sub.id])
        expected = key(d.expected(sub))
        if sub.active:
            assert got == expected, f"subscription {sub.id} ({sub.filter})"
        else:
            # unsubscribed midway: a prefix of what it would have had
            assert got == expected[: len(got)], f"subscription {sub.id} ({sub.filter})"
    session = d.session
    assert session.last_seq == history[-1].seq
    assert len(session._window_items()) <= window  # bounded memory (private, checked on purpose)
    # the run tracker saw each tracked event exactly once
    runs = session.runs
    assert runs.state is RunState.COMPLETED
    assert [(r.run_id, r.status, r.started_seq, r.ended_seq) for r in runs.runs] == [
        ("r1", "completed", 1, history[-1].seq)
    ]
    assert [i.interrupt_id for i in runs.interrupts] == [
        e.data["interrupt_id"] for e in history if e.method == "input.requested"
    ]
    assert not runs.interrupted


@st.composite
def repeats(draw: st.DrawFn, size: int) -> list[list[int]]:
    """For each position, which earlier events (by index) are received again right after."""
    return [draw(st.lists(st.integers(min_value=0, max_value=i), max_size=2)) for i in range(size)]


def feed_all(
    events: list[Event], subs: list[StreamFilter], again: list[list[int]] | None, window: int
) -> tuple[list[list[tuple[int | None, str | None]]], Any]:
    session = ClientSession(limits=Limits(dedup_window=window))
    handles = [session.subscribe(f) for f in subs]
    session.stream_opened(session.stream_request())
    got: dict[int, list[Event]] = {h.id: [] for h in handles}
    for i, event in enumerate(events):
        for copy in [event, *(events[j] for j in (again[i] if again else []))]:
            for sub in session.receive_event(copy):
                got[sub.id].append(copy)
    runs = session.runs
    summary = (
        session.last_seq,
        runs.state,
        [(r.run_id, r.status, r.started_seq, r.ended_seq) for r in runs.runs],
        [(i.interrupt_id, i.status) for i in runs.interrupts],
        runs.last_values,
    )
    return [key(got[h.id]) for h in handles], summary


@given(
    data=st.data(),
    history=histories(),
    subs=st.lists(filters, min_size=1, max_size=3),
    numbered=st.booleans(),
)
@SETTINGS
def test_receiving_an_event_again_changes_nothing(
    data: st.DataObject, history: list[Event], subs: list[StreamFilter], numbered: bool
) -> None:
    if not numbered:
        # events without seq are deduped by event id instead
        history = [e._replace(seq=None) for e in history]
    again = data.draw(repeats(len(history)))
    window = 10_000 if not numbered else data.draw(WINDOWS)
    clean = feed_all(history, subs, None, window)
    noisy = feed_all(history, subs, again, window)
    assert noisy == clean
