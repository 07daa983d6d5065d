"""Builders and a simulated server for the session-layer tests.

* :func:`ev`, :func:`lifecycle`, :func:`input_requested`: build :class:`Event` values the
  way the codec does (channel derived from method and data), with the real server's
  event-id shapes for synthesized events (``synth:<run>:lc|<ns>|<status>``).
* :func:`server_matches`: an independent transcription of PROTOCOL.md section 6 (how the
  Agent Server matches a stream request body against an event), used as the oracle for
  filters and as the simulated server's filter.
* :func:`load_capture`: a real SSE capture through SSEParser and decode_message.
* :class:`SimServer` / :class:`Driver`: a server that replays ``seq > since`` of a fixed
  history and an adapter loop around :class:`ClientSession` (open, read, drop, resume,
  subscribe while the old stream keeps flowing), recording what each subscription got.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from threadwire.protocol import (
    ClientSession,
    Event,
    Limits,
    SSEMessage,
    SSEParser,
    StreamFilter,
    StreamRequest,
    Subscription,
    channel_of,
    decode_message,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "session"


def ev(
    method: str = "values",
    data: Any = None,
    *,
    seq: int | None = None,
    event_id: str | None = None,
    ns: Sequence[str] = (),
    node: str | None = None,
    timestamp: int | None = None,
) -> Event:
    """An event as the codec builds it; ``event_id`` defaults to ``e<seq>``."""
    if data is None:
        data = {"seq": seq}
    if event_id is None and seq is not None:
        event_id = f"e{seq}"
    return Event(method, channel_of(method, data), tuple(ns), data, seq, event_id, timestamp, node)


def lifecycle(
    status: str,
    *,
    run: str | None = "run-1",
    seq: int | None = None,
    ns: Sequence[str] = (),
    error: str | None = None,
    graph: str = "agent",
    event_id: str | None = None,
) -> Event:
    """A lifecycle event with the server's synthetic id for ``run``."""
    data: dict[str, Any] = {"event": status, "graph_name": graph}
    if error is not None:
        data["error"] = error
    if event_id is None:
        event_id = f"synth:{run}:lc|{chr(0).join(ns)}|{status}" if run else f"lc-{seq}"
    return ev("lifecycle", data, seq=seq, event_id=event_id, ns=ns)


def input_requested(
    interrupt_id: str,
    payload: Any = None,
    *,
    run: str | None = "run-1",
    seq: int | None = None,
    ns: Sequence[str] = (),
) -> Event:
    event_id = f"synth:{run}:input|{chr(0).join(ns)}|{interrupt_id}" if run else f"in-{seq}"
    data = {"interrupt_id": interrupt_id, "payload": payload}
    return ev("input.requested", data, seq=seq, event_id=event_id, ns=ns)


# -- PROTOCOL.md section 6, transcribed independently -----------------------------------


def _server_channel_matches(channels: Iterable[str], method: str, data: Any) -> bool:
    channels = set(channels)
    if method == "custom":
        name = data.get("name") if isinstance(data, dict) else None
        # "server matches if "custom" subscribed, or "custom:"+data.name subscribed
        # (events without name match only "custom")"
        named = isinstance(name, str) and bool(name) and f"custom:{name}" in channels
        return "custom" in channels or named
    if method == "input.requested":
        return "input" in channels
    # Known methods are their channel; other names only match themselves (the real
    # server never has them in a filter).
    return method in channels


def _server_prefix_matches(prefix: Sequence[str], namespace: Sequence[str]) -> bool:
    if len(prefix) > len(namespace):
        return False
    for p, s in zip(prefix, namespace, strict=False):
        if s == p:
            continue
        if ":" not in p and s.split(":", 1)[0] == p:
            continue
        return False
    return True


def server_matches(
    body: Mapping[str, Any], method: str, data: Any, namespace: Sequence[str]
) -> bool:
    """Whether the real server sends an event for a request ``body`` (PROTOCOL.md section 6)."""
    if not _server_channel_matches(body["channels"], method, data):
        return False
    namespaces = body.get("namespaces")
    depth = body.get("depth")
    if not namespaces:  # "if namespaces absent/empty -> match all"
        return True
    for prefix in namespaces:
        if _server_prefix_matches(prefix, namespace) and (
            depth is None or len(namespace) - len(prefix) <= depth
        ):
            return True
    return False


def event_matches_body(body: Mapping[str, Any], event: Event) -> bool:
    return server_matches(body, event.method, event.data, event.namespace)


# -- real captures ----------------------------------------------------------------------


def load_capture(name: str, *, chunk: int | None = None) -> list[Event]:
    """Decode ``tests/data/session/<name>`` (SSE bytes) into events, in wire order."""
    raw = (DATA / name).read_bytes()
    parser = SSEParser()
    messages = []
    step = chunk or len(raw) or 1
    for start in range(0, len(raw), step):
        parser.receive_data(raw[start : start + step])
        messages.extend(parser.events())
    parser.receive_data(b"")
    messages.extend(parser.events())
    events = []
    for item in messages:
        if isinstance(item, SSEMessage):
            decoded = decode_message(item.data)
            assert isinstance(decoded, Event), decoded
            events.append(decoded)
    return events


# -- a simulated server and adapter loop ------------------------------------------------


class SimServer:
    """Serves a fixed history: every event with ``seq > since`` that the body matches."""

    def __init__(self, history: Sequence[Event]) -> None:
        self.history = list(history)
        self.requests: list[StreamRequest] = []

    def open(self, request: StreamRequest) -> deque[Event]:
        self.requests.append(request)
        body = request.to_json()
        since = body.get("since", 0)
        return deque(
            e
            for e in self.history
            if e.seq is not None and e.seq > since and event_matches_body(body, e)
        )


class Driver:
    """A minimal adapter: owns the session, the current connection and what each sub got."""

    def __init__(self, history: Sequence[Event], *, limits: Limits | None = None) -> None:
        self.server = SimServer(history)
        self.session = ClientSession(limits=limits) if limits else ClientSession()
        self.connection: deque[Event] = deque()
        self.sent: list[Event] = []
        self.got: dict[int, list[Event]] = {}
        self.start: dict[int, int] = {}
        """Per subscription: the ``last_seq`` when it was added (history=False starts there)."""
        self.subs: dict[int, Subscription] = {}

    def subscribe(self, stream_filter: StreamFilter, *, history: bool = True) -> Subscription:
        sub = self.session.subscribe(stream_filter, history=history)
        self.subs[sub.id] = sub
        self.got[sub.id] = []
        self.start[sub.id] = 0 if history else self.session.last_seq
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.session.unsubscribe(sub)

    def open(self) -> StreamRequest:
        """Open (or reopen, after a drop) the stream the session asks for."""
        request = self.session.stream_request()
        self.session.stream_opened(request)
        self.connection = self.server.open(request)
        self.sent = []
        return request

    def feed(self, event: Event) -> tuple[Subscription, ...]:
        targets = self.session.receive_event(event)
        for sub in targets:
            assert sub.active, "an unsubscribed subscription was served"
            self.got[sub.id].append(event)
        return targets

    def deliver(self, count: int | None = None) -> int:
        """Read up to ``count`` events (all when None) from the open connection."""
        done = 0
        while self.connection and (count is None or done < count):
            event = self.connection.popleft()
            self.sent.append(event)
            self.feed(event)
            done += 1
        return done

    def repeat(self, back: int) -> None:
        """Receive again an event this connection already sent (a WebSocket replay)."""
        if self.sent:
            self.feed(self.sent[-1 - (back % len(self.sent))])

    def drain(self, max_reopens: int = 4) -> None:
        """Read to the end, reopening while the session says it must."""
        self.deliver()
        for _ in range(max_reopens):
            if not self.session.needs_reopen():
                return
            self.open()
            self.deliver()
        raise AssertionError("the session keeps asking for a reopen")

    def expected(self, sub: Subscription) -> list[Event]:
        start = self.start[sub.id]
        return [
            e
            for e in self.server.history
            if e.seq is not None and e.seq > start and sub.filter.matches(e.channel, e.namespace)
        ]


# -- hypothesis strategies --------------------------------------------------------------

EVENT_SEGMENTS = ("a:1", "a:2", "a:12", "a", "b:1", "b", "c:1", "a:1:x")
PREFIX_SEGMENTS = ("a", "a:1", "a:2", "b", "b:1", "c", "a:1:x", "ab")
FILTER_CHANNELS = (
    "values",
    "updates",
    "messages",
    "tools",
    "lifecycle",
    "input",
    "custom",
    "custom:p",
    "custom:q",
)
EVENT_KINDS = (
    ("values", None),
    ("updates", None),
    ("messages", None),
    ("tools", None),
    ("tasks", None),
    ("custom", None),
    ("custom", "p"),
    ("custom", "q"),
    ("custom", ""),
    ("input.requested", None),
)

event_namespaces = st.lists(st.sampled_from(EVENT_SEGMENTS), max_size=3).map(tuple)
prefixes = st.lists(st.sampled_from(PREFIX_SEGMENTS), max_size=2).map(tuple)
depths = st.none() | st.integers(min_value=0, max_value=3)
filters = st.builds(
    lambda channels, namespaces, depth: StreamFilter(
        channels=channels, namespaces=namespaces, depth=depth
    ),
    st.sets(st.sampled_from(FILTER_CHANNELS), min_size=1, max_size=4),
    st.none() | st.lists(prefixes, max_size=3),
    depths,
)


def _kind_data(method: str, name: str | None, n: int) -> Any:
    if method == "custom":
        return {"payload": n} if name is None else {"name": name, "payload": n}
    if method == "input.requested":
        return {"interrupt_id": f"i{n}", "payload": {"n": n}}
    return {"n": n}


@st.composite
def events(draw: st.DrawFn, seq: int | None = None) -> Event:
    method, name = draw(st.sampled_from(EVENT_KINDS))
    ns = draw(event_namespaces)
    n = seq if seq is not None else draw(st.integers(0, 1000))
    return ev(method, _kind_data(method, name, n), seq=seq, ns=ns)


@st.composite
def histories(draw: st.DrawFn, max_size: int = 30) -> list[Event]:
    """A run's events with increasing seq (gaps allowed): root running, body, completed."""
    size = draw(st.integers(min_value=0, max_value=max_size))
    seq = 1
    out = [lifecycle("running", run="r1", seq=seq)]
    for _ in range(size):
        seq += draw(st.integers(min_value=1, max_value=3))
        method, name = draw(st.sampled_from(EVENT_KINDS))
        ns = draw(event_namespaces)
        if method == "input.requested":
            out.append(input_requested(f"i{seq}", {"n": seq}, run="r1", seq=seq, ns=ns))
        else:
            out.append(ev(method, _kind_data(method, name, seq), seq=seq, ns=ns))
    out.append(lifecycle("completed", run="r1", seq=seq + 1))
    return out
