"""The subgraph / subagent tree: every namespace seen, at any depth.

A namespace is discovered from the first event of any channel in it (the real
server sends a child's first ``values`` before its ``lifecycle started``), and
its missing ancestors with it, parents first. Each :class:`SubgraphNode` has
``graph_name`` and ``trigger_call_id`` (from ``lifecycle started``, else from
the namespace segment ``name:id``), ``cause`` (a subagent spawned by a tool
call has a :class:`~threadwire.protocol.ToolCallCause`), and ``status`` from
its lifecycle events: ``started`` (also the status of a namespace discovered
without one), ``running``, ``completed``, ``failed``, ``interrupted``. When the
root run ends, every node still ``started`` or ``running`` takes the run's
outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, NamedTuple

from .._events import Event
from .._payloads import Cause, Lifecycle, ToolCallCause
from ._common import RunOutcome, check_limit, segment_name

__all__ = ["SubgraphNode", "TreeUpdate", "TreeReducer", "OPEN_STATUSES"]

DISCOVERED: Final = "discovered"
STATUS: Final = "status"

OPEN_STATUSES: Final = frozenset({"started", "running"})
"""Statuses of a namespace that has not ended."""


class SubgraphNode:
    """One namespace of the thread's graph: a subgraph, or a subagent."""

    __slots__ = (
        "cause",
        "children",
        "discovered_seq",
        "error",
        "graph_name",
        "namespace",
        "parent",
        "status",
        "trigger_call_id",
    )

    def __init__(
        self, namespace: tuple[str, ...], parent: SubgraphNode | None, seq: int | None
    ) -> None:
        self.namespace = namespace
        name, call_id = segment_name(namespace[-1]) if namespace else (None, None)
        self.graph_name: str | None = name or None
        self.trigger_call_id: str | None = call_id
        self.cause: Cause | None = None
        self.status = "started"
        self.error: str | None = None
        self.parent = parent
        self.children: list[SubgraphNode] = []
        self.discovered_seq = seq

    @property
    def depth(self) -> int:
        return len(self.namespace)

    @property
    def is_subagent(self) -> bool:
        """Spawned by a tool call (a ``toolCall`` cause)."""
        return isinstance(self.cause, ToolCallCause)

    @property
    def done(self) -> bool:
        return self.status not in OPEN_STATUSES

    def walk(self) -> Iterator[SubgraphNode]:
        """This node's descendants, depth first, each after its parent."""
        for child in self.children:
            yield child
            yield from child.walk()

    def __repr__(self) -> str:
        return (
            f"SubgraphNode(namespace={self.namespace!r}, graph_name={self.graph_name!r}, "
            f"status={self.status!r})"
        )


class TreeUpdate(NamedTuple):
    """``discovered`` (the node is new; new ancestors came with it) or ``status``."""

    kind: str
    node: SubgraphNode


class TreeReducer:
    """Builds the namespace tree (see the module docstring).

    :attr:`root` is the root graph (namespace ``()``); its status follows the
    root lifecycle. ``max_namespaces`` bounds the tree.
    """

    def __init__(self, *, max_namespaces: int = 100_000) -> None:
        self.root = SubgraphNode((), None, None)
        self.root.status = "idle"
        self._nodes: dict[tuple[str, ...], SubgraphNode] = {}
        self._max = max_namespaces

    @property
    def nodes(self) -> list[SubgraphNode]:
        """Every non-root namespace, in order of discovery."""
        return list(self._nodes.values())

    def find(self, namespace: tuple[str, ...]) -> SubgraphNode | None:
        """The node of ``namespace`` (the root for ``()``), if seen."""
        return self._nodes.get(namespace) if namespace else self.root

    def apply(self, event: Event) -> TreeUpdate | None:
        """Apply one event; return the node discovered or changed, or None."""
        namespace = event[2]
        if not namespace:
            if event[0] == "lifecycle":
                payload = event.payload
                if type(payload) is Lifecycle:
                    self.root.status = payload.event
                    self.root.error = payload.error
                    if payload.graph_name is not None:
                        self.root.graph_name = payload.graph_name
            return None
        node = self._nodes.get(namespace)
        kind = STATUS
        if node is None:
            node = self._discover(namespace, event.seq)
            kind = DISCOVERED
        if event[0] != "lifecycle":
            return TreeUpdate(kind, node) if kind is DISCOVERED else None
        payload = event.payload
        if type(payload) is not Lifecycle:
            return TreeUpdate(kind, node) if kind is DISCOVERED else None
        node.status = payload.event
        node.error = payload.error
        if payload.graph_name is not None:
            node.graph_name = payload.graph_name
        if payload.trigger_call_id is not None:
            node.trigger_call_id = payload.trigger_call_id
        if payload.cause is not None:
            node.cause = payload.cause
        return TreeUpdate(kind, node)

    def _discover(self, namespace: tuple[str, ...], seq: int | None) -> SubgraphNode:
        parent = self.root
        for depth in range(1, len(namespace)):
            prefix = namespace[:depth]
            known = self._nodes.get(prefix)
            parent = known if known is not None else self._add(prefix, parent, seq)
        return self._add(namespace, parent, seq)

    def _add(
        self, namespace: tuple[str, ...], parent: SubgraphNode, seq: int | None
    ) -> SubgraphNode:
        check_limit(len(self._nodes), self._max, "max_namespaces", "namespaces")
        node = self._nodes[namespace] = SubgraphNode(namespace, parent, seq)
        parent.children.append(node)
        return node

    def end_of_run(self, outcome: RunOutcome) -> list[TreeUpdate]:
        """Give every node that has not ended the run's outcome."""
        self.root.status = outcome.status
        self.root.error = outcome.error
        updates = []
        for node in self._nodes.values():
            if node.status in OPEN_STATUSES:
                node.status = outcome.status
                node.error = outcome.error if outcome.status == "failed" else None
                updates.append(TreeUpdate(STATUS, node))
        return updates

    def close(self, reason: str = "the stream ended") -> list[TreeUpdate]:
        """The stream ended: nothing to settle (a node's status says what was last known)."""
        return []
