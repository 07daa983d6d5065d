"""Raw producer parts and their mapping onto wire envelopes.

A :class:`Part` is what a graph produces: the shape of LangGraph's v2 stream
parts ``{type, ns, data, interrupts}`` (plus an optional ``node``). The mapping
onto an envelope's ``method`` and ``params.data`` is the server's
(PROTOCOL.md sections 3.4, 3.6 and 9.2):

* ``custom:NAME`` becomes method ``custom`` with data
  ``{"name": NAME, "payload": data}``; plain ``custom`` becomes
  ``{"payload": data}`` (the spec's shape, so a plain payload that happens to
  have a ``name`` key is never mistaken for a named channel);
* the ``input`` channel is method ``input.requested``;
* ``messages`` data given as a ``(payload, metadata)`` pair is unwrapped to
  the payload;
* an out-of-band ``__node`` key in ``tools`` data moves to ``params.node``.

Interrupts (``part.interrupts`` and ``__interrupt__`` inside ``values`` or
``updates`` data) are read here and turned into ``input.requested`` events by
:class:`~threadwire.protocol.producer.RunProducer`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from .._errors import LocalProtocolError

__all__ = ["Part", "coerce_part", "wire_shape", "InterruptSpec", "interrupt_specs"]

_INTERRUPT_KEY = "__interrupt__"


class Part(NamedTuple):
    """One raw part from a graph, before it has a seq or an event id."""

    method: str
    """The stream mode / channel: ``values``, ``messages``, ``custom:progress``, ..."""
    namespace: Sequence[str] = ()
    """The producing namespace (LangGraph's ``ns``), ``()`` for the root graph."""
    data: Any = None
    node: str | None = None
    """The producing node, when known (sent as ``params.node``)."""
    interrupts: Sequence[Any] = ()
    """Interrupts raised with this part: mappings with ``id``/``interrupt_id``
    and ``value``/``payload`` (and optionally ``namespace``), or objects with
    ``id`` and ``value`` attributes such as LangGraph's ``Interrupt``."""

    @classmethod
    def from_mapping(cls, obj: Mapping[str, Any]) -> Part:
        """A part from a LangGraph v2 stream part ``{type, ns, data, interrupts?}``.

        ``method`` and ``namespace`` are accepted for ``type`` and ``ns``.
        """
        method = obj.get("type", obj.get("method"))
        if not isinstance(method, str):
            raise LocalProtocolError(f"a stream part needs a string 'type', got {method!r}")
        return cls(
            method=method,
            namespace=obj.get("ns", obj.get("namespace")) or (),
            data=obj.get("data"),
            node=obj.get("node"),
            interrupts=obj.get("interrupts") or (),
        )


def coerce_part(part: Part | Mapping[str, Any]) -> Part:
    """``part`` itself, or the :class:`Part` a stream-part mapping describes."""
    if isinstance(part, Part):
        return part
    if isinstance(part, Mapping):
        return Part.from_mapping(part)
    raise LocalProtocolError(f"expected a Part or a stream-part mapping, got {part!r}")


def _namespace(value: Any) -> tuple[str, ...]:
    if not value and (type(value) is tuple or type(value) is list):
        return ()  # the root: the common case, without the ABC checks below
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise LocalProtocolError(f"a namespace must be a sequence of strings, got {value!r}")
    result = tuple(value)
    for segment in result:
        if not isinstance(segment, str) or not segment:
            raise LocalProtocolError(f"namespace segments must be non-empty strings, got {value!r}")
    return result


def wire_shape(part: Part) -> tuple[str, tuple[str, ...], Any, str | None]:
    """``(method, namespace, data, node)`` of the envelope for ``part``.

    Raises :class:`LocalProtocolError` for a method that cannot be framed (empty,
    or with CR, LF or NUL), ``custom:`` without a name, a bad namespace or node.
    """
    method = part.method
    if not isinstance(method, str) or not method:
        raise LocalProtocolError(f"a part needs a non-empty string method, got {method!r}")
    if "\r" in method or "\n" in method or "\x00" in method:
        raise LocalProtocolError(f"a method must not contain CR, LF or NUL: {method!r}")
    namespace = _namespace(part.namespace)
    data = part.data
    node = part.node
    if method.startswith("custom:"):
        name = method[7:]
        if not name:
            raise LocalProtocolError("custom: needs a channel name (custom:NAME)")
        method, data = "custom", {"name": name, "payload": data}
    elif method == "custom":
        data = {"payload": data}
    elif method == "input":
        method = "input.requested"
    elif method == "messages":
        if isinstance(data, tuple | list) and len(data) == 2 and isinstance(data[0], dict):
            data = data[0]  # LangGraph's (payload, metadata) pair
    elif method == "tools" and isinstance(data, dict) and "__node" in data:
        data = dict(data)
        moved = data.pop("__node")
        if node is None and isinstance(moved, str):
            node = moved
    if node is not None and not isinstance(node, str):
        raise LocalProtocolError(f"node must be a string or None, got {node!r}")
    return method, namespace, data, node


class InterruptSpec(NamedTuple):
    """One interrupt read from a part: its id (None: derive one), value and namespace."""

    interrupt_id: str | None
    payload: Any
    namespace: tuple[str, ...] | None
    """Where the interrupt was raised, when it says so; else the part's namespace."""


def _spec(item: Any) -> InterruptSpec:
    if isinstance(item, Mapping):
        interrupt_id = item.get("interrupt_id", item.get("id"))
        payload = item["payload"] if "payload" in item else item.get("value")
        ns = item.get("namespace", item.get("ns"))
    else:
        interrupt_id = getattr(item, "id", None)
        payload = getattr(item, "value", None)
        ns = getattr(item, "namespace", None)
    if interrupt_id is not None and (not isinstance(interrupt_id, str) or not interrupt_id):
        raise LocalProtocolError(
            f"an interrupt id must be a non-empty string, got {interrupt_id!r}"
        )
    return InterruptSpec(interrupt_id, payload, None if ns is None else _namespace(ns))


def _items(value: Any, where: str) -> list[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise LocalProtocolError(f"{where} must be a sequence of interrupts, got {value!r}")
    return list(value)


def interrupt_specs(part: Part) -> tuple[list[InterruptSpec], Any]:
    """The interrupts ``part`` carries, and its data without ``__interrupt__``.

    ``part.interrupts`` come first, then those inside ``values``/``updates``
    data. The data is returned unchanged (the same object) when it held none.
    """
    raised = part.interrupts
    specs = [_spec(item) for item in _items(raised, "interrupts")] if raised else []
    data = part.data
    if part.method in ("values", "updates") and isinstance(data, dict) and _INTERRUPT_KEY in data:
        data = dict(data)
        specs.extend(_spec(item) for item in _items(data.pop(_INTERRUPT_KEY), _INTERRUPT_KEY))
    return specs, data
