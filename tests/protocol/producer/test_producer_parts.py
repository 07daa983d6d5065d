"""Raw parts: building them, mapping them onto envelopes, reading their interrupts.

Charter: every producer method maps onto the server's wire method and data
(custom:NAME, custom, input, messages pairs, tools __node); anything that
cannot be framed is a LocalProtocolError; interrupts are found wherever
LangGraph puts them and ``__interrupt__`` never survives.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from threadwire.protocol import LocalProtocolError
from threadwire.protocol.producer import InterruptSpec, Part
from threadwire.protocol.producer._parts import coerce_part, interrupt_specs, wire_shape


def test_from_mapping_langgraph_shape() -> None:
    part = Part.from_mapping({"type": "values", "ns": ("a:1",), "data": {"x": 1}})
    assert part == Part("values", ("a:1",), {"x": 1}, None, ())
    part = Part.from_mapping(
        {"method": "updates", "namespace": ["b"], "data": 2, "node": "n", "interrupts": [1]}
    )
    assert part == Part("updates", ["b"], 2, "n", [1])
    assert Part.from_mapping({"type": "values"}).namespace == ()


def test_from_mapping_needs_a_type() -> None:
    with pytest.raises(LocalProtocolError, match="string 'type'"):
        Part.from_mapping({"data": 1})


def test_coerce_part() -> None:
    part = Part("values")
    assert coerce_part(part) is part
    assert coerce_part({"type": "values", "data": 1}) == Part("values", (), 1)
    with pytest.raises(LocalProtocolError, match="expected a Part"):
        coerce_part(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        (Part("values", ["a:1"], {"x": 1}), ("values", ("a:1",), {"x": 1}, None)),
        (
            Part("custom:progress", (), {"step": 1}),
            ("custom", (), {"name": "progress", "payload": {"step": 1}}, None),
        ),
        (Part("custom", (), "plain"), ("custom", (), {"payload": "plain"}, None)),
        (
            Part("custom", (), {"name": "x"}),
            ("custom", (), {"payload": {"name": "x"}}, None),
        ),
        (
            Part("input", (), {"interrupt_id": "i"}),
            ("input.requested", (), {"interrupt_id": "i"}, None),
        ),
        (
            Part("messages", (), ({"event": "message-start"}, {"langgraph_node": "n"})),
            ("messages", (), {"event": "message-start"}, None),
        ),
        (
            Part("messages", (), [{"event": "message-finish"}, {}]),
            ("messages", (), {"event": "message-finish"}, None),
        ),
        (Part("messages", (), {"event": "x"}), ("messages", (), {"event": "x"}, None)),
        (Part("messages", (), ("a", "b")), ("messages", (), ("a", "b"), None)),
        (
            Part("tools", (), {"event": "tool-started", "__node": "tools"}),
            ("tools", (), {"event": "tool-started"}, "tools"),
        ),
        (
            Part("tools", (), {"event": "e", "__node": "other"}, node="mine"),
            ("tools", (), {"event": "e"}, "mine"),
        ),
        (Part("tools", (), {"event": "e", "__node": 3}), ("tools", (), {"event": "e"}, None)),
        (Part("tools", (), {"event": "e"}), ("tools", (), {"event": "e"}, None)),
        (Part("tools", (), "text"), ("tools", (), "text", None)),
        (Part("updates", (), {}, node="n"), ("updates", (), {}, "n")),
    ],
)
def test_wire_shape(part: Part, expected: tuple[Any, ...]) -> None:
    assert wire_shape(part) == expected


def test_wire_shape_does_not_mutate_tools_data() -> None:
    data = {"event": "e", "__node": "n"}
    wire_shape(Part("tools", (), data))
    assert data == {"event": "e", "__node": "n"}


@pytest.mark.parametrize(
    ("part", "match"),
    [
        (Part(""), "non-empty string method"),
        (Part(3), "non-empty string method"),  # type: ignore[arg-type]
        (Part("a\nb"), "CR, LF or NUL"),
        (Part("a\rb"), "CR, LF or NUL"),
        (Part("a\x00b"), "CR, LF or NUL"),
        (Part("custom:"), "needs a channel name"),
        (Part("values", "abc"), "sequence of strings"),
        (Part("values", 5), "sequence of strings"),  # type: ignore[arg-type]
        (Part("values", ["a", 1]), "non-empty strings"),  # type: ignore[list-item]
        (Part("values", ["a", ""]), "non-empty strings"),
        (Part("values", (), None, 5), "node must be"),  # type: ignore[arg-type]
    ],
)
def test_wire_shape_rejects(part: Part, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        wire_shape(part)


def test_interrupt_specs_from_the_part() -> None:
    obj = SimpleNamespace(id="i3", value={"q": 3})
    part = Part(
        "values",
        (),
        {"x": 1},
        interrupts=[
            {"id": "i1", "value": {"q": 1}},
            {"interrupt_id": "i2", "payload": None, "value": "ignored", "namespace": ["c:1"]},
            obj,
            SimpleNamespace(id=None, value=4, namespace=("d",)),
            {"value": 5, "ns": ["e"]},
        ],
    )
    specs, data = interrupt_specs(part)
    assert specs == [
        InterruptSpec("i1", {"q": 1}, None),
        InterruptSpec("i2", None, ("c:1",)),
        InterruptSpec("i3", {"q": 3}, None),
        InterruptSpec(None, 4, ("d",)),
        InterruptSpec(None, 5, ("e",)),
    ]
    assert data is part.data


@pytest.mark.parametrize("method", ["values", "updates"])
def test_interrupt_key_is_stripped(method: str) -> None:
    raw = {"x": 1, "__interrupt__": [{"id": "i", "value": 2}]}
    specs, data = interrupt_specs(Part(method, (), raw, interrupts=({"id": "j"},)))
    assert specs == [InterruptSpec("j", None, None), InterruptSpec("i", 2, None)]
    assert data == {"x": 1}
    assert "__interrupt__" in raw  # the caller's object is untouched


def test_interrupt_key_only_in_state_methods() -> None:
    raw = {"__interrupt__": [1]}
    assert interrupt_specs(Part("custom", (), raw)) == ([], raw)
    assert interrupt_specs(Part("values", (), "not a dict")) == ([], "not a dict")


@pytest.mark.parametrize(
    ("part", "match"),
    [
        (Part("values", (), {}, interrupts={"id": "x"}), "sequence of interrupts"),  # type: ignore[arg-type]
        (Part("values", (), {}, interrupts="abc"), "sequence of interrupts"),
        (Part("values", (), {}, interrupts=5), "sequence of interrupts"),  # type: ignore[arg-type]
        (Part("values", (), {"__interrupt__": {"id": "x"}}), "__interrupt__ must be"),
        (Part("values", (), {}, interrupts=[{"id": ""}]), "non-empty string"),
        (Part("values", (), {}, interrupts=[{"id": 7}]), "non-empty string"),
        (Part("values", (), {}, interrupts=[{"id": "a", "namespace": "x"}]), "sequence"),
    ],
)
def test_interrupt_specs_reject(part: Part, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        interrupt_specs(part)
