"""Configurable limits for every buffer the engine keeps.

Each default is far above anything a real deployment sends (the real server
sends a 2 MB state snapshot as one ``data:`` line) and far below what would
exhaust memory, so an adversarial peer hits the limit and an honest one never
does.
"""

from __future__ import annotations

import attrs

__all__ = ["Limits", "DEFAULT_LIMITS"]

_MiB = 1024 * 1024


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"Limits.{attribute.name} must be a positive int, got {value!r}")


@attrs.frozen(kw_only=True)
class Limits:
    """Upper bounds on what one connection or session may hold."""

    max_line_length: int = attrs.field(default=32 * _MiB, validator=_positive)
    """Longest SSE line (or WebSocket text frame) accepted, in bytes."""

    max_event_size: int = attrs.field(default=64 * _MiB, validator=_positive)
    """Largest SSE event (all its ``data:`` lines together), in bytes."""

    max_pending_commands: int = attrs.field(default=1024, validator=_positive)
    """Commands sent and not yet answered."""

    dedup_window: int = attrs.field(default=10_000, validator=_positive)
    """How many recent events are remembered to drop repeats."""

    max_subscriptions: int = attrs.field(default=1024, validator=_positive)
    """Subscriptions one session tracks."""

    max_pending_interrupts: int = attrs.field(default=4096, validator=_positive)
    """Interrupts awaiting an answer."""

    max_header_size: int = attrs.field(default=64 * 1024, validator=_positive)
    """HTTP response head (status line and headers), in bytes."""

    max_body_size: int = attrs.field(default=64 * _MiB, validator=_positive)
    """A command reply or other non-streaming HTTP body, in bytes."""

    max_error_body: int = attrs.field(default=64 * 1024, validator=_positive)
    """How much of an error response's body is kept for the error."""

    max_message_size: int = attrs.field(default=64 * _MiB, validator=_positive)
    """One WebSocket message (all its frames), in bytes."""


DEFAULT_LIMITS = Limits()
