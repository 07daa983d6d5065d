"""The client's conversation state for one thread, independent of transport.

:class:`ClientSession` keeps everything that must survive a reconnect and that
no single connection knows:

* commands: ids, the pending table, correlation of replies (an error reply
  fails only its own command; a reply to an unknown id is a
  :class:`RemoteProtocolError`), and the ``applied_through_seq`` watermark;
* subscriptions: each with its own :class:`StreamFilter` and a history cursor,
  the union filter for the one shared stream, and the decision to reopen it
  wider (a subscription added later still gets the history of what it asks
  for, by a replay that the others do not see twice);
* events: routing each event to the subscriptions it is new for, dropping
  repeats, and the resume cursor (``since``) for the next connection. A
  resumed stream starts one event early, on an *anchor* the session already
  has; if the anchor does not line up (the same seq now carries another event,
  as on the real server when live-only named custom events shift the
  numbering), :class:`ReplayMismatch` is raised and the next stream request
  is a full replay that the session realigns by event id. Nothing is skipped
  or repeated silently;
* runs and interrupts through :class:`RunTracker`.

The session never does I/O: the adapter opens the stream that
:meth:`ClientSession.stream_request` describes, calls
:meth:`ClientSession.stream_opened`, feeds every decoded message to
:meth:`ClientSession.receive_event` or :meth:`ClientSession.receive_reply`,
and sends what :meth:`ClientSession.send` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import attrs

from ._codec import encode_command
from ._commands import (
    Command,
    InputRespond,
    InputRespondBatch,
    InterruptResponse,
)
from ._errors import CommandError, LocalProtocolError, RemoteProtocolError
from ._events import CommandFailure, CommandSuccess, Event
from ._filters import StreamFilter, covers, union
from ._limits import DEFAULT_LIMITS, Limits
from ._runs import RUN_STATE_METHODS, RunTracker

__all__ = [
    "Subscription",
    "StreamRequest",
    "OutgoingCommand",
    "CommandOutcome",
    "ReplayMismatch",
    "ReplayDiverged",
    "ClientSession",
]

_TRACKED: Final = RUN_STATE_METHODS
_SESSION_CHANNELS: Final = frozenset({"lifecycle", "input"})
_NO_TARGETS: tuple[Subscription, ...] = ()


@attrs.define(eq=False, kw_only=True)
class Subscription:
    """One consumer's filter and how far it has been served.

    ``history_through`` is the highest seq whose event this subscription has
    received or did not match; while it is behind the session's cursor the
    subscription is catching up on a replay (``live`` is False).
    """

    id: int
    filter: StreamFilter
    history_through: int = 0
    live: bool = True
    active: bool = True

    def matches(self, event: Event) -> bool:
        return self.filter.matches(event.channel, event.namespace)


@attrs.frozen(kw_only=True)
class StreamRequest:
    """What the next event-stream connection must ask for."""

    filter: StreamFilter
    since: int | None
    """Replay events after this seq; None asks for the whole history."""

    def to_json(self) -> dict[str, Any]:
        """The JSON body of ``POST /threads/{id}/stream/events``."""
        return self.filter.to_json(since=self.since)


@attrs.frozen(kw_only=True)
class OutgoingCommand:
    """A command the session registered as pending; send ``data`` to the server."""

    id: int
    command: Command
    data: bytes


@attrs.frozen(kw_only=True)
class CommandOutcome:
    """The answer to one command: ``result`` (typed) on success, else ``error``."""

    id: int | None
    command: Command | None
    """None for an unsolicited error frame (``id: null``)."""
    result: Any = None
    error: CommandError | None = None
    applied_through_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ReplayMismatch(RemoteProtocolError):
    """A resumed stream does not line up with what was already received.

    ``seq`` is where it went wrong, ``expected`` and ``received`` the event ids
    there. The session has switched to realignment: the next
    :meth:`ClientSession.stream_request` asks for a full replay.
    """

    def __init__(
        self, message: str, *, seq: int | None, expected: str | None, received: str | None
    ):
        super().__init__(message)
        self.seq = seq
        self.expected = expected
        self.received = received


class ReplayDiverged(RemoteProtocolError):
    """A full replay cannot be realigned (the dedup window no longer covers it)."""


class ClientSession:
    """See the module docstring."""

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS, first_command_id: int = 1) -> None:
        self.limits = limits
        self.runs = RunTracker(max_pending_interrupts=limits.max_pending_interrupts)
        self._next_id = first_command_id
        self._pending: dict[int, Command] = {}
        self.applied_through_seq = 0
        """The highest ``meta.applied_through_seq`` of any reply."""
        self.last_seq = 0
        """The highest seq received: the resume cursor."""
        self._subs: list[Subscription] = []
        self._next_sub = 1
        self._routes: dict[tuple[str, tuple[str, ...]], tuple[Subscription, ...]] = {}
        self._root_routes: dict[str, tuple[Subscription, ...]] = {}
        self._catching_up = False
        # Subscriptions the open stream is replaying history for (see stream_opened).
        self._replaying: list[Subscription] = []
        self.stream_filter: StreamFilter | None = None
        """The filter of the stream that is open (or was last opened)."""
        # The window: (event id, channel) of the last N seq numbers, slot seq % capacity.
        # Parallel lists rather than a dict: remembering an event is three stores. The
        # lists start small and grow (up to N) as the stream gets longer, so a thousand
        # short streams do not each hold N slots.
        self._size = limits.dedup_window
        self._first_seq = 0  # the first seq remembered since the window was last cleared
        self._clear_window()
        self._forgot = False  # the window was cleared while it held events
        self._ids: dict[str, None] = {}  # event ids of events that had no seq
        self._anchor: tuple[int, tuple[str | None, str] | None] | None = None
        self._realign: dict[tuple[str | None, str], int] | None = None
        self._plain = True  # neither an anchor to check nor a realignment under way

    # -- commands ----------------------------------------------------------

    def send(self, command: Command) -> OutgoingCommand:
        """Register ``command`` as pending and return what to send."""
        if not isinstance(command, Command):
            raise LocalProtocolError(f"not a command: {command!r}")
        if len(self._pending) >= self.limits.max_pending_commands:
            raise LocalProtocolError(
                f"{len(self._pending)} commands are already waiting for a reply "
                f"(max_pending_commands={self.limits.max_pending_commands})"
            )
        command_id = self._next_id
        self._next_id += 1
        data = encode_command(command_id, command)
        self._pending[command_id] = command
        return OutgoingCommand(id=command_id, command=command, data=data)

    def send_failed(self, command_id: int) -> Command:
        """The transport could not deliver (or lost the reply of) a pending command."""
        command = self._pending.pop(command_id, None)
        if command is None:
            raise LocalProtocolError(f"command id {command_id} is not pending")
        return command

    @property
    def pending_commands(self) -> Mapping[int, Command]:
        return dict(self._pending)

    def receive_reply(self, reply: CommandSuccess | CommandFailure) -> CommandOutcome:
        """Correlate a reply with its command and apply its effects."""
        if reply.applied_through_seq is not None and (
            reply.applied_through_seq > self.applied_through_seq
        ):
            self.applied_through_seq = reply.applied_through_seq
        if reply.id is None:
            if isinstance(reply, CommandSuccess):  # pragma: no cover - the codec forbids it
                raise RemoteProtocolError("success reply without an id")
            return CommandOutcome(
                id=None,
                command=None,
                error=reply.to_error(),
                applied_through_seq=reply.applied_through_seq,
            )
        command = self._pending.pop(reply.id, None)
        if command is None:
            raise RemoteProtocolError(f"reply to command id {reply.id}, which is not pending")
        if isinstance(reply, CommandFailure):
            return CommandOutcome(
                id=reply.id,
                command=command,
                error=reply.to_error(command.method),
                applied_through_seq=reply.applied_through_seq,
            )
        result = command.parse_result(reply.result)
        if isinstance(command, InputRespond):
            self.runs.answered([command.interrupt_id])
        elif isinstance(command, InputRespondBatch):
            self.runs.answered([r.interrupt_id for r in command.responses])
        return CommandOutcome(
            id=reply.id,
            command=command,
            result=result,
            applied_through_seq=reply.applied_through_seq,
        )

    def caught_up(self, applied_through_seq: int | None) -> bool:
        """Whether the event stream has delivered everything a reply reflects.

        Over the real server's HTTP commands the watermark is always 0, so this
        is always true there; over WebSocket it is a true ordering barrier.
        """
        return applied_through_seq is None or self.last_seq >= applied_through_seq

    # -- interrupts ----------------------------------------------------------

    def respond(
        self,
        response: Any,
        *,
        interrupt_id: str | None = None,
        update: Mapping[str, Any] | None = None,
        goto: Any = None,
        config: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> InputRespond:
        """Build ``input.respond`` for the given, or the only, pending interrupt."""
        interrupt = self.runs.choose(interrupt_id)
        return InputRespond(
            interrupt_id=interrupt.interrupt_id,
            namespace=interrupt.namespace,
            response=response,
            update=update,
            goto=goto,
            config=config,
            metadata=metadata,
        )

    def respond_batch(
        self,
        responses: Mapping[str, Any],
        *,
        update: Mapping[str, Any] | None = None,
        goto: Any = None,
        config: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> InputRespondBatch:
        """Build a batch ``input.respond`` answering each pending interrupt id given."""
        if not responses:
            raise LocalProtocolError("respond_batch needs at least one interrupt id")
        entries = []
        for interrupt_id, response in responses.items():
            interrupt = self.runs.choose(interrupt_id)
            entries.append(
                InterruptResponse(
                    interrupt_id=interrupt.interrupt_id,
                    namespace=interrupt.namespace,
                    response=response,
                )
            )
        return InputRespondBatch(
            responses=tuple(entries), update=update, goto=goto, config=config, metadata=metadata
        )

    # -- subscriptions ---------------------------------------------------------

    @property
    def subscriptions(self) -> Sequence[Subscription]:
        return tuple(self._subs)

    def subscribe(self, stream_filter: StreamFilter, *, history: bool = True) -> Subscription:
        """Add a subscription. With ``history`` it also gets what already went by.

        Afterwards, :meth:`needs_reopen` says whether the stream must be reopened.
        """
        if len(self._subs) >= self.limits.max_subscriptions:
            raise LocalProtocolError(f"{len(self._subs)} subscriptions already (max_subscriptions)")
        sub = Subscription(id=self._next_sub, filter=stream_filter)
        self._next_sub += 1
        # Live at once only if nothing before now is owed to it and the open stream
        # already carries its events. Otherwise it waits, seeing nothing, until a
        # stream opened after now replays from its cursor (events that keep coming
        # on the old stream meanwhile are in that replay).
        sub.history_through = 0 if history else self.last_seq
        sub.live = sub.history_through >= self.last_seq and (
            self.stream_filter is None or covers(self.stream_filter, stream_filter)
        )
        self._subs.append(sub)
        self._clear_routes()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop routing events to ``sub`` (the stream is never narrowed)."""
        if sub in self._subs:
            self._subs.remove(sub)
            sub.active = False
            self._clear_routes()
            if sub in self._replaying:
                self._replaying.remove(sub)
                self._catching_up = bool(self._replaying)

    def needs_reopen(self) -> bool:
        """Whether the open stream cannot serve every subscription as asked.

        True before the first stream, while realigning, when a subscription
        waits for history (only a replay brings it), or when the open stream's
        filter does not cover every subscription.
        """
        if self.stream_filter is None or self._realign is not None:
            return True
        if any(not s.live and s not in self._replaying for s in self._subs):
            return True
        return not covers(self.stream_filter, self.wanted_filter())

    def wanted_filter(self) -> StreamFilter:
        """The union of all subscriptions, plus root lifecycle and input for the session."""
        base = StreamFilter(channels=_SESSION_CHANNELS)
        filters = [s.filter for s in self._subs]
        if self.stream_filter is not None:
            filters.append(self.stream_filter)  # never narrower than what is open
        return union([base, *filters]) if filters else base

    def stream_request(self) -> StreamRequest:
        """Describe the stream to open next (first connect, reconnect or widening)."""
        stream_filter = self.wanted_filter()
        if self._realign is not None:
            return StreamRequest(filter=stream_filter, since=None)
        since = self.last_seq
        for sub in self._subs:
            if not sub.live and sub.history_through < since:
                since = sub.history_through
        return StreamRequest(filter=stream_filter, since=since - 1 if since > 0 else None)

    def stream_opened(self, request: StreamRequest) -> None:
        """The stream described by ``request`` is now the one being read."""
        self.stream_filter = request.filter
        self._anchor = None
        if request.since is not None:
            anchor_seq = request.since + 1
            # Only an event still in the window can serve as the anchor.
            self._anchor = (anchor_seq, self._seen(anchor_seq))
        self._set_mode()
        # A subscription added while this stream was being opened (its request was
        # made before the subscription existed) is live only if the stream covers it.
        for sub in self._subs:
            if sub.live and not covers(request.filter, sub.filter):
                sub.live = False
        # This stream catches up the waiting subscriptions it replays far enough
        # back for and carries the events of; the others keep waiting.
        start = request.since or 0
        self._replaying = [
            s
            for s in self._subs
            if not s.live and start <= s.history_through and covers(request.filter, s.filter)
        ]
        self._catching_up = bool(self._replaying)
        self._clear_routes()

    # -- events ----------------------------------------------------------------

    def receive_event(self, event: Event) -> tuple[Subscription, ...]:
        """Take one event; return the subscriptions it is new for (empty: drop it)."""
        method, channel, namespace, _data, seq, event_id, _ts, _node, _extra = event
        if self._plain and seq is not None and seq > self.last_seq:
            self.last_seq = seq
            if self._catching_up:
                self._all_live()
            if not self._first_seq:
                self._first_seq = seq
                self._grow_at = seq + self._cap
            elif seq >= self._grow_at:
                self._grow()
            slot = seq % self._cap
            self._w_seq[slot] = seq
            self._w_id[slot] = event_id
            self._w_channel[slot] = channel
            if method in _TRACKED:
                self.runs.observe(event)
            if namespace:
                targets = self._routes.get((channel, namespace))
            else:
                targets = self._root_routes.get(channel)
            if targets is None:
                targets = self._route(event)
            return targets
        return self._receive_slow(event, seq)

    def _seen(self, seq: int) -> tuple[str | None, str] | None:
        """The (event id, channel) remembered for ``seq``, if the window still has it."""
        slot = seq % self._cap
        if self._w_seq[slot] == seq:
            return self._w_id[slot], self._w_channel[slot]
        return None

    @property
    def _evicted(self) -> bool:
        """Whether events received earlier are no longer in the window."""
        return self._forgot or (
            self._first_seq > 0 and self.last_seq - self._first_seq >= self._size
        )

    def _clear_window(self) -> None:
        cap = min(self._size, 64)
        self._cap = cap
        self._w_seq: list[int] = [0] * cap
        self._w_id: list[str | None] = [None] * cap
        self._w_channel: list[str] = [""] * cap
        self._first_seq = 0
        self._grow_at = 0

    def _grow(self) -> None:
        """Give the window more room: the stream got longer than its capacity."""
        old = list(zip(self._w_seq, self._w_id, self._w_channel, strict=True))
        cap = min(self._size, self._cap * 4)
        self._cap = cap
        self._w_seq = [0] * cap
        self._w_id = [None] * cap
        self._w_channel = [""] * cap
        # The stored seqs lie within one old capacity of the first: distinct modulo
        # any larger capacity too, so nothing collides on the way over.
        for seq, event_id, channel in old:
            if seq:
                slot = seq % cap
                self._w_seq[slot] = seq
                self._w_id[slot] = event_id
                self._w_channel[slot] = channel
        # At full size the modulo index keeps exactly the last N seq numbers.
        self._grow_at = self._first_seq + cap if cap < self._size else 1 << 62

    def _window_items(self) -> list[tuple[int, tuple[str | None, str]]]:
        return [
            (seq, (self._w_id[slot], self._w_channel[slot]))
            for slot, seq in enumerate(self._w_seq)
            if seq
        ]

    def _set_mode(self) -> None:
        self._plain = self._anchor is None and self._realign is None

    def _route(self, event: Event) -> tuple[Subscription, ...]:
        targets = tuple(s for s in self._subs if s.live and s.matches(event))
        if event.namespace:
            self._routes[(event.channel, event.namespace)] = targets
        else:
            self._root_routes[event.channel] = targets
        return targets

    def _clear_routes(self) -> None:
        self._routes.clear()
        self._root_routes.clear()

    def _all_live(self) -> None:
        # The replay has reached new events: its subscriptions are caught up.
        for sub in self._replaying:
            sub.live = True
        self._replaying = []
        self._catching_up = False
        self._clear_routes()

    def _catch_up(self, seq: int, event: Event) -> tuple[Subscription, ...]:
        """Hand an event the session already had (at ``seq``) to the replaying subscriptions."""
        targets = []
        for sub in self._replaying:
            if seq > sub.history_through:
                sub.history_through = seq
                if sub.matches(event):
                    targets.append(sub)
        return tuple(targets)

    def _receive_slow(self, event: Event, seq: int | None) -> tuple[Subscription, ...]:
        if seq is None:
            return self._receive_unnumbered(event)
        if self._realign is not None:
            return self._receive_realigning(event, seq)
        # Compare event id *and* channel: on the real server a live-only named custom
        # event's id is reused, after renumbering, by the plain custom event after it.
        fingerprint = (event.event_id, event.channel)
        if self._anchor is not None:
            anchor_seq, anchor = self._anchor
            self._anchor = None
            self._set_mode()
            if anchor is not None and (
                seq > anchor_seq or (seq == anchor_seq and fingerprint != anchor)
            ):
                # The event we resumed on is missing, or another event has its seq.
                self._mismatch(anchor_seq, anchor[0], event.event_id if seq == anchor_seq else None)
            if seq > self.last_seq:
                return self.receive_event(event)
        seen = self._seen(seq)
        if seen is not None and seen != fingerprint:
            self._mismatch(seq, seen[0], event.event_id)
        # An event we already have: new only for subscriptions catching up on it.
        if not self._catching_up:
            return _NO_TARGETS
        return self._catch_up(seq, event)

    def _receive_unnumbered(self, event: Event) -> tuple[Subscription, ...]:
        event_id = event.event_id
        if event_id is not None:
            if event_id in self._ids:
                return _NO_TARGETS
            self._ids[event_id] = None
            if len(self._ids) > self.limits.dedup_window:
                del self._ids[next(iter(self._ids))]
        if event.method in _TRACKED:
            self.runs.observe(event)
        return tuple(s for s in self._subs if s.live and s.matches(event))

    def _mismatch(self, seq: int, expected: str | None, received: str | None) -> None:
        self._realign = {fp: s for s, fp in self._window_items()}
        self._anchor = None
        self._set_mode()
        raise ReplayMismatch(
            f"replayed stream does not line up at seq {seq}: expected event "
            f"{expected!r}, received {received!r}; reopen with a full replay "
            "(stream_request() now asks for one) to realign by event id",
            seq=seq,
            expected=expected,
            received=received,
        )

    def _receive_realigning(self, event: Event, seq: int) -> tuple[Subscription, ...]:
        realign = self._realign
        assert realign is not None
        fingerprint = (event.event_id, event.channel)
        last = self._seen(self.last_seq)
        old_seq = realign.get(fingerprint)
        if old_seq is not None:
            # Known: new only for replaying subscriptions not yet past it.
            targets = self._catch_up(old_seq, event) if self._catching_up else _NO_TARGETS
            if last is not None and fingerprint == last:
                # The last event we had: adopt the stream's numbering from here on.
                self._realign = None
                self._set_mode()
                self._renumber(seq)
            return targets
        if self._evicted:
            raise ReplayDiverged(
                f"cannot realign the replay at seq {seq}: event {event.event_id!r} is not among "
                f"the last {self.limits.dedup_window} events (dedup_window), so it may or may "
                "not have been delivered already"
            )
        # Delivered now: known from here on, should this replay be cut and repeated.
        realign[fingerprint] = 0
        if event.method in _TRACKED:
            self.runs.observe(event)
        return tuple(s for s in self._subs if (s.live or s in self._replaying) and s.matches(event))

    def _renumber(self, seq: int) -> None:
        # The window's seqs are in the old numbering: forget them, and treat them as
        # evicted, so a later realignment fails loudly rather than repeat them.
        self._forgot = True
        self._all_live()
        self._clear_window()
        self.last_seq = seq
        self._clear_routes()

    def receive_events(self, items: Iterable[object]) -> list[tuple[Subscription, ...] | None]:
        """:meth:`receive_event` for a batch, e.g. one read's worth of decoded items.

        Returns one entry per item, in order: the subscriptions an event is new
        for, or None for an item that is not an :class:`Event` (a reply, a
        heartbeat comment). Same results as calling :meth:`receive_event` item
        by item (it is :meth:`route_events`, flattened).
        """
        out: list[tuple[Subscription, ...] | None] = []
        for targets, group in self.route_events(items):
            if targets is None:
                out.append(None)
            else:
                out += [targets] * len(group)
        return out

    def route_events(
        self, items: Iterable[object]
    ) -> Iterator[tuple[tuple[Subscription, ...] | None, list[Any]]]:
        """Take ``items`` in order, yielding them in dispatch groups: ``(targets, group)``.

        A group is a run of consecutive events with the same targets (what
        :meth:`receive_event` returns for each: the subscriptions it is new
        for, empty to drop it), none of which changes the run state
        (:data:`RUN_STATE_METHODS`): such an event is a group of its own, and
        so is an item that is not an :class:`Event` (a reply, a heartbeat),
        with targets None. Lazy: a group is handed out once the next event
        shows where it ends, and an event that changes the run state, or that
        takes the slow path, is taken only after the groups before it were
        handed out. So a caller that dispatches each group before it asks for
        the next never sees the run state ahead of what it dispatched (the
        last seq may be, by the group and one event), and a
        :class:`ReplayMismatch` comes after every group before it. The usual
        case (a new event, no anchor, nothing catching up) runs inline with
        the session's state held in locals, read again after each yield.
        """
        group: list[Any] = []
        group_targets: tuple[Subscription, ...] | None = None
        receive = self.receive_event
        tracked = _TRACKED
        event_type = Event
        inline, last, cap, grow_at, w_seq, w_id, w_channel, routes, root_routes = self._inline()
        for item in items:
            if type(item) is event_type:
                # One unpacking rather than five subscripts (measured: 13% of this loop).
                method, channel, namespace, _data, seq, event_id, _ts, _node, _extra = item
                if inline and seq is not None and seq > last and method not in tracked:
                    # New, and no run state: it cannot fail, and can join the group.
                    last = seq
                    if seq >= grow_at:
                        self._grow()
                        cap, grow_at = self._cap, self._grow_at
                        w_seq, w_id, w_channel = self._w_seq, self._w_id, self._w_channel
                    slot = seq % cap
                    w_seq[slot] = seq
                    w_id[slot] = event_id
                    w_channel[slot] = channel
                    targets = (
                        routes.get((channel, namespace)) if namespace else root_routes.get(channel)
                    )
                    if targets is None:
                        self.last_seq = last
                        targets = self._route(item)
                    if targets is group_targets:
                        group.append(item)
                        continue
                    self.last_seq = last
                    if group:
                        yield group_targets, group
                    group, group_targets = [item], targets
                else:
                    # Run state, or the slow path (which may raise): the group first.
                    self.last_seq = last
                    if group:
                        yield group_targets, group
                    targets = receive(item)
                    if method in tracked:
                        group, group_targets = [], None
                        yield targets, [item]
                    else:
                        group, group_targets = [item], targets
            else:
                self.last_seq = last
                if group:
                    yield group_targets, group
                group, group_targets = [], None
                yield None, [item]
            # Whoever ran meanwhile, or the slow path, may have changed anything.
            inline, last, cap, grow_at, w_seq, w_id, w_channel, routes, root_routes = self._inline()
        self.last_seq = last
        if group:
            yield group_targets, group

    def _inline(self) -> tuple[Any, ...]:
        """The state :meth:`route_events` holds in locals, and whether its inline path applies."""
        return (
            self._plain and not self._catching_up and bool(self._first_seq),
            self.last_seq,
            self._cap,
            self._grow_at,
            self._w_seq,
            self._w_id,
            self._w_channel,
            self._routes,
            self._root_routes,
        )
