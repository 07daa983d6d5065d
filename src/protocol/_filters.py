"""Subscription filters, matched exactly as the Agent Server matches them.

A filter has ``channels``, optional ``namespaces`` (prefixes) and an optional
``depth``. An event matches when (PROTOCOL.md section 6):

1. its channel is subscribed: the channel itself, or ``custom`` for any
   ``custom:NAME`` event (a ``custom:NAME`` subscription takes only that
   name; unknown channels match only themselves);
2. no namespaces are given, or one prefix ``p`` matches the event's namespace
   ``ns``: ``len(p) <= len(ns)`` and, segment by segment, equal, or ``p[i]``
   has no ``:`` and equals ``ns[i]`` with its ``:suffix`` removed (so
   ``["child"]`` matches ``["child:1f3a"]`` but ``["child:1"]`` does not match
   ``["child:12"]``);
3. with a depth, ``len(ns) - len(p) <= depth`` for a matching prefix. The
   server ignores a depth given without namespaces; a :class:`StreamFilter`
   built that way counts from the root instead and sends ``namespaces: [[]]``,
   so both sides agree on what it means.

:func:`union` builds the one filter a shared stream needs for several
subscriptions, and :func:`covers` says whether a stream opened with one filter
already delivers everything another filter asks for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import attrs

from ._errors import LocalProtocolError

__all__ = ["ALL_CHANNELS", "StreamFilter", "union", "covers", "namespace_matches"]

ALL_CHANNELS: Final = (
    "values",
    "updates",
    "messages",
    "tools",
    "lifecycle",
    "input",
    "custom",
    "tasks",
    "checkpoints",
)
"""Every fixed channel, in the order the SDK lists them."""


def _channels(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise LocalProtocolError(
            f"channels must be a collection of strings, not the string {value!r}"
        )
    try:
        result = frozenset(value)
    except TypeError:  # not iterable, or unhashable entries
        raise LocalProtocolError(
            f"channels must be a collection of strings, got {value!r}"
        ) from None
    if not result:
        raise LocalProtocolError("a filter needs at least one channel")
    for channel in result:
        if not isinstance(channel, str) or not channel or channel == "custom:":
            raise LocalProtocolError(f"unsupported channel {channel!r}")
    return result


def _namespaces(value: Iterable[Sequence[str]] | None) -> tuple[tuple[str, ...], ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise LocalProtocolError("namespaces must be a collection of namespaces")
    result: list[tuple[str, ...]] = []
    for ns in value:
        if (
            not isinstance(ns, Sequence)
            or isinstance(ns, str)
            or not all(isinstance(s, str) for s in ns)
        ):
            raise LocalProtocolError(f"a namespace must be a sequence of strings, got {ns!r}")
        if tuple(ns) not in result:
            result.append(tuple(ns))
    # An empty list means "no namespace filter" on the server.
    return tuple(result) or None


def _depth(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise LocalProtocolError(f"depth must be a non-negative int or None, got {value!r}")
    return int(value)


def _segment_matches(prefix: str, segment: str) -> bool:
    if prefix == segment:
        return True
    return ":" not in prefix and segment.partition(":")[0] == prefix


def namespace_matches(prefix: Sequence[str], namespace: Sequence[str]) -> bool:
    """True when ``prefix`` prefix-matches ``namespace`` (rule 2 above)."""
    if len(prefix) > len(namespace):
        return False
    return all(_segment_matches(p, s) for p, s in zip(prefix, namespace, strict=False))


@attrs.frozen(kw_only=True)
class StreamFilter:
    """What one subscription (or one stream request) asks for."""

    channels: frozenset[str] = attrs.field(converter=_channels)
    namespaces: tuple[tuple[str, ...], ...] | None = attrs.field(
        default=None, converter=_namespaces
    )
    depth: int | None = attrs.field(default=None, converter=_depth)

    def __attrs_post_init__(self) -> None:
        # The server ignores a depth that comes without namespaces (it has no prefix to
        # count from). A caller who gives one means "from the root": say so on the wire.
        if self.namespaces is None and self.depth is not None:
            object.__setattr__(self, "namespaces", ((),))

    def matches_channel(self, channel: str) -> bool:
        if channel in self.channels:
            return True
        return channel.startswith("custom:") and "custom" in self.channels

    def matches_namespace(self, namespace: Sequence[str]) -> bool:
        depth = self.depth
        if self.namespaces is None:
            return depth is None or len(namespace) <= depth
        for prefix in self.namespaces:
            if namespace_matches(prefix, namespace) and (
                depth is None or len(namespace) - len(prefix) <= depth
            ):
                return True
        return False

    def matches(self, channel: str, namespace: Sequence[str]) -> bool:
        """Whether an event on ``channel`` in ``namespace`` passes this filter."""
        return self.matches_channel(channel) and self.matches_namespace(namespace)

    def to_json(self, *, since: int | None = None) -> dict[str, Any]:
        """The body of an event-stream request (or a subscribe's params)."""
        body: dict[str, Any] = {"channels": sorted(self.channels)}
        if self.namespaces is not None:
            body["namespaces"] = [list(ns) for ns in self.namespaces]
        if self.depth is not None:
            body["depth"] = self.depth
        if since is not None:
            body["since"] = since
        return body


def union(filters: Iterable[StreamFilter]) -> StreamFilter:
    """The narrowest single filter that lets through everything each filter asks for.

    Channels are united. If any filter is unscoped (no namespaces) the union is
    unscoped; otherwise it has every prefix. The depth is the largest, or
    unbounded if any filter is unbounded. Where prefixes have different depths
    the union may let through more than the parts; subscribers still get only
    what their own filter matches.
    """
    items = list(filters)
    if not items:
        raise LocalProtocolError("union of no filters")
    channels = frozenset().union(*(item.channels for item in items))
    namespaces: tuple[tuple[str, ...], ...] | None
    if any(item.namespaces is None for item in items):
        namespaces = None
    else:
        namespaces = tuple(ns for item in items for ns in item.namespaces or ())
    depths = [item.depth for item in items]
    depth = None if any(d is None for d in depths) else max(d for d in depths if d is not None)
    if namespaces is None:
        depth = None  # the server ignores a depth without namespaces
    return StreamFilter(channels=channels, namespaces=namespaces, depth=depth)


def _prefix_covers(outer: Sequence[str], inner: Sequence[str]) -> bool:
    """Every namespace that ``inner`` prefix-matches is also matched by ``outer``."""
    if len(outer) > len(inner):
        return False
    for o, i in zip(outer, inner, strict=False):
        if o == i:
            continue
        # A bare name covers any "name:id" or "name" segment; nothing else widens.
        if ":" in o or i.partition(":")[0] != o:
            return False
    return True


def covers(outer: StreamFilter, inner: StreamFilter) -> bool:
    """True when a stream opened with ``outer`` delivers every event ``inner`` matches."""
    if not all(outer.matches_channel(channel) for channel in inner.channels):
        return False
    inner_prefixes = inner.namespaces if inner.namespaces is not None else ((),)
    return all(_scope_covers(outer, target, inner.depth) for target in inner_prefixes)


def _scope_covers(outer: StreamFilter, target: tuple[str, ...], target_depth: int | None) -> bool:
    outer_prefixes = outer.namespaces if outer.namespaces is not None else ((),)
    for prefix in outer_prefixes:
        if not _prefix_covers(prefix, target):
            continue
        if outer.depth is None:
            return True
        if target_depth is not None and len(target) - len(prefix) + target_depth <= outer.depth:
            return True
    return False
