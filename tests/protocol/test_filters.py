"""Subscription filters: matching, union, coverage, request bodies and validation.

Charter: :class:`StreamFilter` must match exactly as PROTOCOL.md section 6 says the
Agent Server does. Every table case is checked against the filter *and* against
``server_matches``, an independent transcription of section 6, so a wrong expectation
in the table cannot hide a wrong implementation. :func:`union` must let through every
event any part matches and :func:`covers` must never claim coverage it does not have
(rotation rules, section 6); both are also checked as hypothesis properties. Bad
arguments raise :class:`LocalProtocolError` with a message naming the problem.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from session_helpers import ev, event_matches_body, events, filters, server_matches

from threadwire.protocol import (
    ALL_CHANNELS,
    Event,
    LocalProtocolError,
    StreamFilter,
    covers,
    namespace_matches,
    union,
)


def F(
    channels: Any = ("values",), namespaces: Any = None, depth: int | None = None
) -> StreamFilter:
    return StreamFilter(channels=channels, namespaces=namespaces, depth=depth)


def assert_match(stream_filter: StreamFilter, event: Event, expected: bool) -> None:
    assert stream_filter.matches(event.channel, event.namespace) is expected
    # The oracle agrees with the table: section 6 as the server applies it.
    assert event_matches_body(stream_filter.to_json(), event) is expected


# -- rule 1: channels ----------------------------------------------------------------------

CHANNEL_CASES = [
    # (subscribed channels, method, data, matches)
    (["values"], "values", {}, True),
    (["values"], "updates", {}, False),
    (["values", "updates"], "updates", {}, True),
    (["lifecycle"], "lifecycle", {"event": "running"}, True),
    (["messages"], "messages", {"event": "message-start"}, True),
    (["tools"], "tools", {"event": "tool-started"}, True),
    (["checkpoints"], "checkpoints", {"id": "c"}, True),
    (["tasks"], "tasks", {"id": "t"}, True),
    # input.requested belongs to the "input" channel
    (["input"], "input.requested", {"interrupt_id": "i"}, True),
    (["values"], "input.requested", {"interrupt_id": "i"}, False),
    # the method name is not a channel name: such a filter never sees an interrupt
    (["input.requested"], "input.requested", {"interrupt_id": "i"}, False),
    # plain custom takes every custom event, named or not
    (["custom"], "custom", {"payload": 1}, True),
    (["custom"], "custom", {"name": "progress", "payload": 1}, True),
    # custom:NAME takes only that name
    (["custom:progress"], "custom", {"name": "progress", "payload": 1}, True),
    (["custom:progress"], "custom", {"name": "other", "payload": 1}, False),
    (["custom:progress"], "custom", {"payload": 1}, False),
    (["custom:progress"], "custom", "plain text payload", False),
    (["custom:progress", "custom:other"], "custom", {"name": "other"}, True),
    # an empty name is no name
    (["custom:progress"], "custom", {"name": "", "payload": 1}, False),
    (["custom"], "custom", {"name": "", "payload": 1}, True),
    # unknown channels match only themselves
    (["debug"], "debug", {}, True),
    (["debug"], "values", {}, False),
    (list(ALL_CHANNELS), "debug", {}, False),
    (list(ALL_CHANNELS), "custom", {"name": "anything"}, True),
]


@pytest.mark.parametrize(("channels", "method", "data", "expected"), CHANNEL_CASES)
def test_channel_rules(channels: list[str], method: str, data: Any, expected: bool) -> None:
    assert_match(F(channels), ev(method, data, seq=1), expected)


def test_channel_of_a_named_custom_event_is_its_name() -> None:
    event = ev("custom", {"name": "progress", "payload": {}}, seq=1)
    assert event.channel == "custom:progress"
    assert F(["custom"]).matches_channel(event.channel)
    assert not F(["custom:other"]).matches_channel(event.channel)


# -- rules 2 and 3: namespaces and depth -----------------------------------------------

NAMESPACE_CASES = [
    # (namespaces, depth, event namespace, matches)
    # a bare segment matches by name, with or without the ":id" suffix
    ([["sub"]], None, ["sub:1234"], True),
    ([["sub"]], None, ["sub"], True),
    ([["sub"]], None, ["subgraph:1"], False),
    ([["sub"]], None, ["other:1"], False),
    # a segment with ":" must be equal: sub:1 is not a prefix of sub:12
    ([["sub:1"]], None, ["sub:12"], False),
    ([["sub:1"]], None, ["sub:1"], True),
    ([["sub:1"]], None, ["sub:1:x"], False),
    # the prefix is never longer than the namespace
    ([["sub"]], None, [], False),
    ([["sub"]], None, ["sub:1", "deeper:2"], True),
    # multi-segment prefixes, per segment (Appendix E.9)
    ([["child", "grandchild"]], None, ["child:1", "grandchild:2"], True),
    ([["child", "grandchild"]], None, ["child:1", "grandchild:2", "leaf:3"], True),
    ([["child", "grandchild"]], None, ["child:1"], False),
    ([["child", "grandchild"]], None, ["child:1", "other:2"], False),
    ([["child", "grandchild"]], None, ["grandchild:2", "child:1"], False),
    ([["child:1", "grandchild"]], None, ["child:1", "grandchild:9"], True),
    ([["child:1", "grandchild"]], None, ["child:2", "grandchild:9"], False),
    # several prefixes: any one
    ([["a"], ["b"]], None, ["b:2"], True),
    ([["a"], ["b"]], None, ["c:3"], False),
    # depth counts the segments below the matching prefix
    ([["a"]], 0, ["a:1"], True),
    ([["a"]], 0, ["a:1", "b:1"], False),
    ([["a"]], 1, ["a:1", "b:1"], True),
    ([["a"]], 1, ["a:1", "b:1", "c:1"], False),
    ([["a", "b"]], 0, ["a:1", "b:1"], True),
    ([["a"], ["a", "b"]], 0, ["a:1", "b:1"], True),
    # [[]] with depth 0 is root only (Appendix B.8); without depth, everything
    ([[]], 0, [], True),
    ([[]], 0, ["a:1"], False),
    ([[]], 1, ["a:1"], True),
    ([[]], 1, ["a:1", "b:1"], False),
    ([[]], None, ["a:1", "b:1", "c:1"], True),
    # no namespaces, or an empty list: no namespace filter
    (None, None, ["x:1", "y:2"], True),
    ([], None, ["x:1", "y:2"], True),
]


@pytest.mark.parametrize(("namespaces", "depth", "namespace", "expected"), NAMESPACE_CASES)
def test_namespace_rules(
    namespaces: list[list[str]] | None, depth: int | None, namespace: list[str], expected: bool
) -> None:
    assert_match(F(["values"], namespaces, depth), ev("values", seq=1, ns=namespace), expected)


@pytest.mark.parametrize(
    ("prefix", "namespace", "expected"),
    [
        ((), (), True),
        ((), ("a:1",), True),
        (("a",), ("a:1",), True),
        (("a:1",), ("a:12",), False),
        (("a", "b"), ("a:1", "b:2", "c:3"), True),
        (("a", "b"), ("a:1",), False),
    ],
)
def test_namespace_matches(
    prefix: tuple[str, ...], namespace: tuple[str, ...], expected: bool
) -> None:
    assert namespace_matches(prefix, namespace) is expected


def test_empty_namespaces_list_means_no_filter() -> None:
    stream_filter = F(["values"], [])
    assert stream_filter.namespaces is None
    assert stream_filter.to_json() == {"channels": ["values"]}


@pytest.mark.parametrize("namespace", [("a:1",), ("a:1", "b:2")])
def test_depth_without_namespaces(namespace: tuple[str, ...]) -> None:
    """The server ignores such a depth; the filter counts it from the root and says so."""
    assert server_matches({"channels": ["values"], "depth": 0}, "values", {}, namespace)
    stream_filter = F(["values"], None, 0)
    assert stream_filter.namespaces == ((),)
    assert stream_filter.to_json() == {"channels": ["values"], "namespaces": [[]], "depth": 0}
    assert not stream_filter.matches("values", namespace)
    assert stream_filter.matches("values", ())
    assert server_matches(stream_filter.to_json(), "values", {}, ())


@given(stream_filter=filters, event=events())
@settings(max_examples=300)
def test_matches_agrees_with_section_6(stream_filter: StreamFilter, event: Event) -> None:
    """Property: the filter decides as the server does on the body it sends."""
    expected = event_matches_body(stream_filter.to_json(), event)
    assert stream_filter.matches(event.channel, event.namespace) is expected


# -- union -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        # channels are united
        ([F(["values"]), F(["messages"])], F(["values", "messages"])),
        # one unscoped part makes the union unscoped
        ([F(["values"], [["a"]]), F(["messages"])], F(["values", "messages"])),
        # otherwise every prefix, deduplicated
        ([F(["values"], [["a"]]), F(["values"], [["b"], ["a"]])], F(["values"], [["a"], ["b"]])),
        # the largest depth; any unbounded depth makes it unbounded
        ([F(["values"], [["a"]], 1), F(["values"], [["b"]], 2)], F(["values"], [["a"], ["b"]], 2)),
        ([F(["values"], [["a"]], 1), F(["values"], [["b"]])], F(["values"], [["a"], ["b"]])),
        # a depth without namespaces counts from the root prefix
        (
            [F(["values"], None, 0), F(["values"], [["a", "b"]], 1)],
            F(["values"], [[], ["a", "b"]], 1),
        ),
        ([F(["values"], None, 2), F(["values"], [[]], 1)], F(["values"], [[]], 2)),
        # a single filter is its own union
        ([F(["values"], [["a"]], 1)], F(["values"], [["a"]], 1)),
    ],
)
def test_union(parts: list[StreamFilter], expected: StreamFilter) -> None:
    assert union(parts) == expected


def test_union_of_nothing_is_an_error() -> None:
    with pytest.raises(LocalProtocolError, match="union of no filters"):
        union([])


@given(parts=st.lists(filters, min_size=1, max_size=4), event=events())
@settings(max_examples=300)
def test_union_matches_everything_any_part_matches(parts: list[StreamFilter], event: Event) -> None:
    merged = union(parts)
    if any(p.matches(event.channel, event.namespace) for p in parts):
        assert merged.matches(event.channel, event.namespace)
    # and the server, given the union's body, sends it
    if any(event_matches_body(p.to_json(), event) for p in parts):
        assert event_matches_body(merged.to_json(), event)


@given(parts=st.lists(filters, min_size=1, max_size=4))
def test_union_covers_each_part(parts: list[StreamFilter]) -> None:
    merged = union(parts)
    assert merged.channels == frozenset().union(*(p.channels for p in parts))
    for part in parts:
        assert covers(merged, part)


# -- covers (rotation rules) -----------------------------------------------------------

COVERS_CASES = [
    # (outer, inner, covers)
    # channels: a superset, where plain custom covers custom:NAME but not the reverse
    (F(["values", "messages"]), F(["values"]), True),
    (F(["values"]), F(["values", "messages"]), False),
    (F(["custom"]), F(["custom:progress"]), True),
    (F(["custom:progress"]), F(["custom"]), False),
    (F(["custom:progress"]), F(["custom:other"]), False),
    # an unscoped, unbounded coverer covers every scope and depth
    (F(["values"]), F(["values"], [["a", "b"]], 3), True),
    (F(["values"]), F(["values"], None, 1), True),
    # an unscoped coverer with a depth: target prefix length + target depth must fit
    (F(["values"], None, 2), F(["values"], [["a"]], 1), True),
    (F(["values"], None, 2), F(["values"], [["a"]], 2), False),
    (F(["values"], None, 2), F(["values"], None, 2), True),
    (F(["values"], None, 2), F(["values"], None, 3), False),
    # an unbounded target never fits a bounded coverer
    (F(["values"], None, 2), F(["values"], [["a"]]), False),
    (F(["values"], None, 2), F(["values"]), False),
    # a scoped coverer must cover every target prefix
    (F(["values"], [["a"]]), F(["values"], [["a:1"]]), True),
    (F(["values"], [["a:1"]]), F(["values"], [["a"]]), False),
    (F(["values"], [["a:1"]]), F(["values"], [["a:12"]]), False),
    (F(["values"], [["a"]]), F(["values"], [["a", "b"]]), True),
    (F(["values"], [["a", "b"]]), F(["values"], [["a"]]), False),
    (F(["values"], [["a"]]), F(["values"], [["a"], ["b"]]), False),
    (F(["values"], [["a"], ["b"]]), F(["values"], [["b:1"], ["a"]]), True),
    (F(["values"], [["a"]]), F(["values"]), False),
    (F(["values"], [[]]), F(["values"]), True),
    (F(["values"], [[]]), F(["values"], [["a"]], 2), True),
    # scoped depths: len(target) - len(prefix) + target depth <= coverer depth
    (F(["values"], [["a"]], 2), F(["values"], [["a", "b"]], 1), True),
    (F(["values"], [["a"]], 2), F(["values"], [["a", "b"]], 2), False),
    (F(["values"], [["a"]], 0), F(["values"], [["a:1"]], 0), True),
    (F(["values"], [["a"]], 1), F(["values"], [["a"]]), False),
    (F(["values"], [["a"]]), F(["values"], [["a"]], 5), True),
    # a second outer prefix can cover what the first cannot at that depth
    (F(["values"], [["a"], ["a", "b"]], 0), F(["values"], [["a", "b"]], 0), True),
]


@pytest.mark.parametrize(("outer", "inner", "expected"), COVERS_CASES)
def test_covers(outer: StreamFilter, inner: StreamFilter, expected: bool) -> None:
    assert covers(outer, inner) is expected


@given(outer=filters, inner=filters, event=events())
@settings(max_examples=500)
def test_covers_is_sound(outer: StreamFilter, inner: StreamFilter, event: Event) -> None:
    """Property: if outer covers inner, every event inner matches, outer matches."""
    if covers(outer, inner) and inner.matches(event.channel, event.namespace):
        assert outer.matches(event.channel, event.namespace)


@given(outer=filters, inner=filters, event=events())
@settings(max_examples=500)
def test_covers_is_sound_on_the_server(
    outer: StreamFilter, inner: StreamFilter, event: Event
) -> None:
    """The same against section 6: a stream opened with outer sends what inner matches."""
    if covers(outer, inner) and inner.matches(event.channel, event.namespace):
        assert event_matches_body(outer.to_json(), event)


@given(stream_filter=filters)
def test_covers_is_reflexive(stream_filter: StreamFilter) -> None:
    assert covers(stream_filter, stream_filter)


# -- request bodies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream_filter", "since", "body"),
    [
        (F(["values"]), None, {"channels": ["values"]}),
        (F(["values", "lifecycle", "input"]), None, {"channels": ["input", "lifecycle", "values"]}),
        (
            F(["values"], [[]], 0),
            5,
            {"channels": ["values"], "namespaces": [[]], "depth": 0, "since": 5},
        ),
        (F(["values"], None, None), 0, {"channels": ["values"], "since": 0}),
        (
            F(["custom:progress", "custom"], [["child", "grandchild"], ["a:1"]], 2),
            None,
            {
                "channels": ["custom", "custom:progress"],
                "namespaces": [["child", "grandchild"], ["a:1"]],
                "depth": 2,
            },
        ),
        # duplicates collapse, order of first appearance is kept
        (
            F(["values", "values"], [["a"], ["b"], ["a"]]),
            None,
            {"channels": ["values"], "namespaces": [["a"], ["b"]]},
        ),
    ],
)
def test_to_json(stream_filter: StreamFilter, since: int | None, body: dict[str, Any]) -> None:
    assert stream_filter.to_json(since=since) == body


def test_filters_are_values() -> None:
    assert F(["values", "messages"], [("a",)], 1) == F(("messages", "values"), [["a"]], 1)
    assert F(["values"]).channels == frozenset({"values"})
    assert F(["values"], [["a", "b"]]).namespaces == (("a", "b"),)
    assert hash(F(["values"])) == hash(F(["values"]))


# -- validation --------------------------------------------------------------------------

INVALID = [
    # (kwargs, message fragment)
    ({"channels": "values"}, "not the string 'values'"),
    ({"channels": []}, "at least one channel"),
    ({"channels": [""]}, "unsupported channel ''"),
    ({"channels": ["custom:"]}, "unsupported channel 'custom:'"),
    ({"channels": [1]}, "unsupported channel 1"),
    ({"channels": 5}, "channels"),
    ({"channels": [["values"]]}, "channel"),
    ({"channels": ["values"], "namespaces": "a"}, "namespaces must be a collection"),
    ({"channels": ["values"], "namespaces": ["a"]}, "a namespace must be a sequence of strings"),
    (
        {"channels": ["values"], "namespaces": [["a", 1]]},
        "a namespace must be a sequence of strings",
    ),
    ({"channels": ["values"], "namespaces": 5}, "namespaces"),
    ({"channels": ["values"], "namespaces": [5]}, "a namespace must be a sequence of strings"),
    ({"channels": ["values"], "depth": -1}, "depth must be a non-negative int"),
    ({"channels": ["values"], "depth": True}, "depth must be a non-negative int"),
    ({"channels": ["values"], "depth": 1.0}, "depth must be a non-negative int"),
    ({"channels": ["values"], "depth": "1"}, "depth must be a non-negative int"),
]


@pytest.mark.parametrize(("kwargs", "fragment"), INVALID)
def test_invalid_filters_are_local_errors(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        StreamFilter(**kwargs)
    assert fragment in str(info.value)
