"""Content blocks of a streamed message, and the tool calls they finish into.

A :class:`ContentBlock` starts from its ``content-block-start`` content (or
from nothing, when a delta arrives first), grows by deltas, and is settled
once: by its ``content-block-finish`` (authoritative), by ``message-finish``
(the streamed state becomes final and tool-call chunks are parsed), or by the
message failing or being closed (the streamed state is kept as it is).
"""

from __future__ import annotations

from typing import Any, Final

import attrs
import orjson

__all__ = [
    "ContentBlock",
    "MessageToolCall",
    "InvalidToolCall",
    "ToolCallSource",
    "finalize_tool_call",
    "invalid_tool_call",
]

# The field each delta type appends to.
ACC_TEXT: Final = "text"
ACC_REASONING: Final = "reasoning"
ACC_ARGS: Final = "args"
ACC_DATA: Final = "base64"

_TOOL_CALL_KEYS: Final = frozenset({"type", "args", "index"})


@attrs.frozen(kw_only=True)
class MessageToolCall:
    """A tool call a message asked for, with its arguments parsed."""

    id: str | None
    name: str | None
    args: dict[str, Any]
    index: int
    """The content block it came from."""


@attrs.frozen(kw_only=True)
class InvalidToolCall:
    """A tool call whose arguments could not be used (not JSON, not an object, cut off)."""

    id: str | None
    name: str | None
    args: str | None
    """The raw arguments as streamed."""
    error: str
    index: int


@attrs.frozen(kw_only=True)
class ToolCallSource:
    """Where a tool call was asked for: the message and its tool-call block."""

    message_id: str | None
    namespace: tuple[str, ...]
    index: int


class ContentBlock:
    """One content block of a message, by its wire ``index``.

    ``fields`` is the block as known so far (start content, shallow-merged
    block deltas); appended deltas wait in a list and are folded into
    ``fields`` only when needed, so a token costs one list append. ``final`` is
    the settled content, once there is one.
    """

    __slots__ = ("acc", "fields", "final", "index", "parts")

    def __init__(self, index: int, fields: dict[str, Any]) -> None:
        self.index = index
        self.fields: dict[str, Any] = dict(fields)
        self.acc: str | None = None
        """The field the pending ``parts`` append to."""
        self.parts: list[str] = []
        self.final: dict[str, Any] | None = None
        """The settled content (``content-block-finish`` or the message's end)."""

    @property
    def type(self) -> str | None:
        value = self.content.get("type")
        return value if type(value) is str else None

    @property
    def finished(self) -> bool:
        return self.final is not None

    def fold(self) -> None:
        """Append the pending parts to their field."""
        if self.parts:
            key = self.acc
            assert key is not None
            previous = self.fields.get(key)
            base = previous if type(previous) is str else ""
            self.fields[key] = base + "".join(self.parts)
            self.parts.clear()

    def switch(self, key: str) -> None:
        """Make ``key`` the field that later parts append to."""
        self.fold()
        self.acc = key

    def streamed(self, key: str) -> str:
        """The value of ``key`` built so far (start content plus deltas)."""
        value = self.fields.get(key)
        base = value if type(value) is str else ""
        if self.acc == key and self.parts:
            return base + "".join(self.parts)
        return base

    def merge(self, fields: dict[str, Any]) -> None:
        """Shallow-merge ``fields`` (values that are null are skipped)."""
        self.fold()
        for key, value in fields.items():
            if value is not None:
                self.fields[key] = value

    @property
    def content(self) -> dict[str, Any]:
        """The block: settled content, or a snapshot of what was streamed."""
        if self.final is not None:
            return self.final
        if self.parts:
            self.fold()
        return self.fields

    def settle(self, content: dict[str, Any]) -> None:
        self.final = content
        self.acc = None  # nothing appends to a settled block
        self.parts.clear()
        self.fields = {}

    @property
    def text(self) -> str:
        """The ``text`` of a text block (``""`` for other blocks)."""
        return _str_field(self.content, "text")

    @property
    def reasoning(self) -> str:
        """The ``reasoning`` of a reasoning block (``""`` for other blocks)."""
        return _str_field(self.content, "reasoning")

    def __repr__(self) -> str:
        return f"ContentBlock(index={self.index}, content={self.content!r})"


def _str_field(content: dict[str, Any], key: str) -> str:
    if content.get("type") != key:
        return ""
    value = content.get(key)
    return value if type(value) is str else ""


def invalid_tool_call(block: dict[str, Any], raw: Any, error: str) -> dict[str, Any]:
    """The ``invalid_tool_call`` block for a tool call whose arguments cannot be used."""
    out = {k: v for k, v in block.items() if k not in _TOOL_CALL_KEYS}
    out["type"] = "invalid_tool_call"
    out.setdefault("id", None)
    out.setdefault("name", None)
    out["args"] = raw if type(raw) is str else (None if raw is None else orjson.dumps(raw).decode())
    out["error"] = error
    return out


def finalize_tool_call(block: dict[str, Any]) -> dict[str, Any]:
    """Turn a tool-call block whose ``args`` may still be JSON text into a parsed one.

    Empty arguments mean ``{}``. Arguments that are not JSON, or not a JSON
    object, give an ``invalid_tool_call`` block that keeps the raw text.
    """
    raw = block.get("args")
    if raw is None:
        args: Any = {}
    elif type(raw) is str:
        if not raw.strip():
            args = {}
        else:
            try:
                args = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                return invalid_tool_call(block, raw, f"arguments are not valid JSON: {exc}")
    else:
        args = raw
    if type(args) is not dict:
        return invalid_tool_call(block, raw, "arguments are not a JSON object")
    out = {k: v for k, v in block.items() if k not in _TOOL_CALL_KEYS}
    out["type"] = "tool_call"
    out.setdefault("id", None)
    out.setdefault("name", None)
    out["args"] = args
    return out
