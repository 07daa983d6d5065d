"""The extensions projection: ``custom`` events, by name.

A named custom event (channel ``custom:NAME``, data ``{"name": NAME,
"payload": X}``) contributes ``X`` to extension ``NAME`` (the whole data when
it has no ``payload``). A custom event without a name contributes its data as
sent, except that a bare ``{"payload": X}`` contributes ``X``. The real server
also sends data that is not an object (a plain string written to the stream);
such data is kept as sent.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from .._events import Event
from ._common import RunOutcome

__all__ = ["ExtensionUpdate", "ExtensionsReducer"]

_BARE: Final = frozenset({"payload", "name"})


class ExtensionUpdate(NamedTuple):
    """One custom event: its ``name`` (None for unnamed ones), payload and namespace."""

    name: str | None
    payload: Any
    namespace: tuple[str, ...]


def unpack_custom(data: Any) -> tuple[str | None, Any]:
    """The name (or None) and payload of one custom event's data (see the module docstring)."""
    if type(data) is not dict:
        return None, data
    name = data.get("name")
    if type(name) is str and name:
        return name, data.get("payload", data)
    if "payload" in data and _BARE.issuperset(data) and not name:
        return None, data["payload"]
    return None, data


class ExtensionsReducer:
    """Groups ``custom`` events by name (see the module docstring).

    ``history`` keeps :attr:`named` and :attr:`unnamed`; without it every
    event is only handed out by :meth:`apply`.
    """

    def __init__(self, *, history: bool = False) -> None:
        self.history = history
        self.named: dict[str, list[Any]] = {}
        """Payloads of named custom events, by name, in order (only with ``history``)."""
        self.unnamed: list[Any] = []
        """Payloads of custom events without a name, in order (only with ``history``)."""

    def apply(self, event: Event) -> ExtensionUpdate | None:
        """Apply one event; return the custom event's name and payload, or None."""
        if event[0] != "custom":
            return None
        name, payload = unpack_custom(event[3])
        if self.history:
            if name is None:
                self.unnamed.append(payload)
            else:
                self.named.setdefault(name, []).append(payload)
        return ExtensionUpdate(name, payload, event[2])

    def end_of_run(self, outcome: RunOutcome) -> None:
        """Nothing to settle."""

    def close(self, reason: str = "the stream ended") -> None:
        """Nothing to settle."""
