"""One chat message as the messages projection assembles it.

A :class:`Message` holds its :class:`~._blocks.ContentBlock` objects by wire
index and derives what people read from them: the text, the reasoning, the
parsed and the invalid tool calls. It is built and changed only by
:class:`~._messages.MessagesReducer`.
"""

from __future__ import annotations

from typing import Any

from ._blocks import ContentBlock, InvalidToolCall, MessageToolCall

__all__ = ["Message", "opt_str"]


class Message:
    """One chat message being assembled (or assembled).

    ``status`` is ``open`` until ``message-finish`` (``finished``) or a message
    ``error`` (``error``); a message closed at the end of its run or stream
    stays ``open`` with ``closed`` set to the reason.
    """

    __slots__ = (
        "additional_kwargs",
        "blocks",
        "closed",
        "error",
        "error_code",
        "finish_metadata",
        "finish_reason",
        "id",
        "metadata",
        "namespace",
        "node",
        "role",
        "start_seq",
        "status",
        "tool_call_id",
        "usage",
    )

    def __init__(
        self,
        *,
        id: str | None,
        namespace: tuple[str, ...],
        role: str | None = None,
        node: str | None = None,
        metadata: dict[str, Any] | None = None,
        tool_call_id: str | None = None,
        start_seq: int | None = None,
    ) -> None:
        self.id = id
        self.namespace = namespace
        self.role = role
        self.node = node
        """The graph node that produced it, when known."""
        self.metadata = metadata
        """``message-start`` metadata."""
        self.tool_call_id = tool_call_id
        """The tool call a ``tool`` message answers."""
        self.blocks: dict[int, ContentBlock] = {}
        self.status = "open"
        self.error: str | None = None
        self.error_code: str | None = None
        self.closed: str | None = None
        """Why an unfinished message was closed (its run or the stream ended)."""
        self.usage: dict[str, Any] | None = None
        """Token usage from ``message-finish``."""
        self.finish_metadata: dict[str, Any] | None = None
        self.additional_kwargs: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.start_seq = start_seq

    @property
    def done(self) -> bool:
        """True once nothing more will be added (finished, failed or closed)."""
        return self.status != "open" or self.closed is not None

    def ordered_blocks(self) -> list[ContentBlock]:
        return [self.blocks[i] for i in sorted(self.blocks)]

    @property
    def content(self) -> list[dict[str, Any]]:
        """The blocks' content in index order (settled, or as streamed so far)."""
        return [block.content for block in self.ordered_blocks()]

    @property
    def text(self) -> str:
        """The text blocks' text joined in index order."""
        return "".join(block.text for block in self.ordered_blocks())

    @property
    def reasoning(self) -> str:
        """The reasoning blocks' text joined in index order."""
        return "".join(block.reasoning for block in self.ordered_blocks())

    @property
    def tool_calls(self) -> list[MessageToolCall]:
        """The parsed tool calls (settled ``tool_call`` blocks), in index order."""
        calls = []
        for block in self.ordered_blocks():
            content = block.final
            if content is not None and content.get("type") == "tool_call":
                args = content.get("args")
                calls.append(
                    MessageToolCall(
                        id=opt_str(content.get("id")),
                        name=opt_str(content.get("name")),
                        args=args if type(args) is dict else {},
                        index=block.index,
                    )
                )
        return calls

    @property
    def invalid_tool_calls(self) -> list[InvalidToolCall]:
        """Tool calls whose arguments could not be parsed, in index order."""
        calls = []
        for block in self.ordered_blocks():
            content = block.final
            if content is not None and content.get("type") == "invalid_tool_call":
                calls.append(
                    InvalidToolCall(
                        id=opt_str(content.get("id")),
                        name=opt_str(content.get("name")),
                        args=opt_str(content.get("args")),
                        error=opt_str(content.get("error")) or "invalid tool call",
                        index=block.index,
                    )
                )
        return calls

    def __repr__(self) -> str:
        return (
            f"Message(id={self.id!r}, namespace={self.namespace!r}, role={self.role!r}, "
            f"status={self.status!r}, text={self.text!r})"
        )


def opt_str(value: Any) -> str | None:
    return value if type(value) is str else None
