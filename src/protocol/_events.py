"""What the server sends: events, command replies, and what we cannot classify.

:class:`Event` is the envelope of one channel event. It is a NamedTuple, not an
attrs class, because one is built per event on the hot path and a frozen attrs
``__init__`` costs three times as much (measured: 0.44 us against 0.16 us for
eight fields); it is immutable and slotted all the same. ``data`` is the wire's
JSON as sent (snapshots stay dicts, ready to use); :attr:`Event.payload` gives
the typed view of it (see :mod:`._payloads`).

Replies and unknown messages are rare, so they are ordinary frozen attrs classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple, TypeAlias

import attrs

from ._errors import CommandError
from ._payloads import Payload, decode_payload

__all__ = [
    "CHANNELS",
    "Event",
    "CommandSuccess",
    "CommandFailure",
    "UnknownMessage",
    "Message",
    "channel_of",
    "RENAMED_METHODS",
    "ROOT",
]

ROOT: Final[tuple[str, ...]] = ()
"""The root namespace."""

CHANNELS: Final = frozenset(
    {
        "values",
        "updates",
        "messages",
        "tools",
        "lifecycle",
        "input",
        "custom",
        "tasks",
        "checkpoints",
    }
)
"""The fixed channel names; ``custom:NAME`` channels come in addition."""


RENAMED_METHODS: Final = frozenset({"custom", "input.requested"})
"""The methods whose events may belong to a channel other than the method.

Hot paths test ``method in RENAMED_METHODS`` and call :func:`channel_of`
only then; every other event's channel is its method.
"""


def channel_of(method: str, data: Any) -> str:
    """The channel an event of ``method`` with ``data`` belongs to.

    Every channel is its method except ``input.requested`` (channel ``input``)
    and named custom events (``custom`` with ``data.name`` = NAME, channel
    ``custom:NAME``).
    """
    if method == "custom":
        if type(data) is dict:
            name = data.get("name")
            if type(name) is str and name:
                return "custom:" + name
        return "custom"
    if method == "input.requested":
        return "input"
    return method


class Event(NamedTuple):
    """One channel event, as decoded from an ``{"type": "event", ...}`` envelope."""

    method: str
    """The wire method: ``values``, ``messages``, ``input.requested``, ..."""
    channel: str
    """The subscription channel: the method, ``input``, or ``custom:NAME``."""
    namespace: tuple[str, ...]
    """The producing namespace, ``()`` for the root graph."""
    data: Any
    """``params.data`` exactly as sent."""
    seq: int | None = None
    """The connection's sequence number (the SSE ``id:``)."""
    event_id: str | None = None
    """The server's id for the event, used to drop repeats."""
    timestamp: int | None = None
    """Milliseconds since the epoch, wall clock (can go backwards against seq)."""
    node: str | None = None
    """The producing node, when the server knows it."""
    extra: Mapping[str, Any] | None = None
    """Params other than namespace/timestamp/data/node (e.g. ``interrupts``)."""

    @property
    def payload(self) -> Payload:
        """The typed view of :attr:`data` (built on each access; see ``_payloads``).

        Raises :class:`RemoteProtocolError` if the data is malformed for its
        method.
        """
        return decode_payload(self.method, self.data, self.node)

    @property
    def is_root(self) -> bool:
        return not self.namespace


@attrs.frozen(kw_only=True)
class CommandSuccess:
    """A ``{"type": "success"}`` reply."""

    id: int
    result: Any
    """The ``result`` object as sent."""
    applied_through_seq: int | None = None
    """``meta.applied_through_seq``: events up to this seq were sent before the reply."""
    meta: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class CommandFailure:
    """A ``{"type": "error"}`` reply; ``id`` is None for an unsolicited error frame."""

    id: int | None
    code: str
    """The wire's ``error`` field (``no_such_interrupt``, ``resume_gap``, ...)."""
    message: str
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    """Other fields, e.g. ``since`` and ``min_available_seq`` on ``resume_gap``."""
    applied_through_seq: int | None = None
    stacktrace: str | None = None

    def to_error(self, method: str | None = None) -> CommandError:
        """The :class:`CommandError` to raise for this reply."""
        return CommandError(
            self.code,
            self.message,
            method=method,
            command_id=self.id,
            extra=self.extra,
            applied_through_seq=self.applied_through_seq,
        )


@attrs.frozen(kw_only=True)
class UnknownMessage:
    """A message whose ``type`` this version does not know, kept as sent."""

    type: str
    data: Mapping[str, Any]


Message: TypeAlias = Event | CommandSuccess | CommandFailure | UnknownMessage
