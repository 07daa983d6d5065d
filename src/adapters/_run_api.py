"""The thread's run API (``thread.run``, ``thread.agent``) and how a run is followed.

A run this stream asks for is registered (:class:`RunWaiter`) before its
command goes out; the root terminal events the stream shows are recorded
(:class:`Ended`), and ``thread.output`` matches the two by run id, or else by
the first run to start after the command was sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from threadwire.protocol import (
    UNSET,
    AgentGetTree,
    AgentTreeNode,
    Command,
    Interrupt,
    RunStart,
    RunStartResult,
)

if TYPE_CHECKING:
    from ._thread import ThreadStream

__all__ = ["Ended", "RunWaiter", "RunAPI", "AgentAPI"]


class Ended(NamedTuple):
    """A root run that reached its terminal status, as the stream showed it."""

    run_id: str | None
    started_seq: int | None
    seq: int | None
    status: str
    error: str | None
    values: Any
    interrupts: list[Interrupt]


class RunWaiter:
    """A run this stream asked for: the next run to start after ``after_seq``.

    Registered before the command is sent, so a run that ends before its reply
    comes back is still found; ``run_id`` narrows the match once known.
    """

    def __init__(self, after_seq: int) -> None:
        self.after_seq = after_seq
        self.run_id: str | None = None
        self.failed: BaseException | None = None

    def matches(self, ended: Ended) -> bool:
        if self.run_id is not None and ended.run_id is not None:
            return self.run_id == ended.run_id
        start = ended.started_seq if ended.started_seq is not None else ended.seq
        return start is not None and start > self.after_seq


class RunAPI:
    """``thread.run``: start runs and answer interrupts."""

    def __init__(self, thread: ThreadStream) -> None:
        self._thread = thread

    async def _ask_for_run(self, command: Command) -> Any:
        """Send a command that starts a run; ``output`` and new loops then follow that run.

        The run is expected before the command goes out, so a run that ends
        before the reply is processed is still found.
        """
        thread = self._thread
        waiter = thread._expect_run()
        try:
            result = await thread.command(command)
        except BaseException as exc:
            waiter.failed = exc
            raise
        waiter.run_id = getattr(result, "run_id", None)
        thread._start_pump()
        return result

    async def start(
        self,
        input: Any = UNSET,
        *,
        config: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        multitask_strategy: str | None = None,
        langsmith_tracer: Mapping[str, Any] | None = None,
    ) -> RunStartResult:
        """Send ``run.start``; returns the run id. ``thread.output`` then waits for this run."""
        command = RunStart(
            assistant_id=self._thread.assistant_id,
            input=input,
            config=config,
            metadata=metadata,
            multitask_strategy=multitask_strategy,
            langsmith_tracer=langsmith_tracer,
        )
        result: RunStartResult = await self._ask_for_run(command)
        return result

    async def respond(
        self,
        response: Any,
        *,
        interrupt_id: str | None = None,
        update: Mapping[str, Any] | None = None,
        goto: Any = None,
        config: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Answer the given, or the only, pending interrupt; the run resumes as a new run."""
        thread = self._thread
        command = thread.session.respond(
            response,
            interrupt_id=interrupt_id,
            update=update,
            goto=goto,
            config=config,
            metadata=metadata,
        )
        await self._ask_for_run(command)

    async def respond_batch(
        self,
        responses: Mapping[str, Any],
        *,
        update: Mapping[str, Any] | None = None,
        goto: Any = None,
        config: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Answer several pending interrupts at once (``{interrupt_id: response}``)."""
        thread = self._thread
        command = thread.session.respond_batch(
            responses, update=update, goto=goto, config=config, metadata=metadata
        )
        await self._ask_for_run(command)


class AgentAPI:
    """``thread.agent``: the tree of the agent's namespaces."""

    def __init__(self, thread: ThreadStream) -> None:
        self._thread = thread

    async def get_tree(self) -> AgentTreeNode:
        """The namespace tree with statuses.

        Over WebSocket this asks the server (``agent.getTree``); over SSE the
        real server cannot answer (each HTTP command meets a fresh session), so
        the tree is built from the lifecycle events the stream has seen.
        """
        thread = self._thread
        if thread.transport == "websocket":
            await thread._ensure_pump()
            tree: AgentTreeNode = await thread.command(AgentGetTree())
            return tree
        return thread._tree_from_lifecycle()
