"""The messages projection: chat messages assembled from ``messages`` events.

:class:`MessagesReducer` builds one :class:`Message` per ``message-start``, in
every namespace (the namespace is kept on each message), and routes the
message's later events to it:

* by message id (``message_id``, else ``id``) when the event has one;
* otherwise to the only open message of the event's namespace. When several
  are open, the event cannot be placed (the real server interleaves parallel
  ``Send`` workers' messages like this, without ids): every open message of
  that namespace fails with an explanation, the problem is recorded in
  :attr:`MessagesReducer.problems`, and later id-less events of the namespace
  are dropped until each failed message has sent its ``message-finish`` (or the
  run ends). Nothing is attributed to the wrong message.

Content blocks are kept by index: ``text-delta`` and ``reasoning-delta``
append, ``data-delta`` appends to ``base64``, ``block-delta`` shallow-merges its
fields, ``tool-call-delta`` appends to ``args``. ``content-block-finish`` is
authoritative, whenever it comes (the real server sends all of them together
just before ``message-finish``). At ``message-finish`` every block is settled
and tool-call chunks become parsed tool calls; arguments that are not JSON
become an invalid tool call. A message ``error`` fails the message. The tool
results the server mirrors into namespace ``tools:<id>`` (role ``tool``,
``content`` in place of ``delta``) are assembled the same way.

A message left open when its run ends (:meth:`MessagesReducer.end_of_run`) or
the stream ends (:meth:`MessagesReducer.close`) is closed as it is: status
``open``, its streamed content kept, ``closed`` saying why. A finished message
is dropped from the reducer unless ``history=True``; :meth:`apply` hands it
out in the update either way.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from .._errors import RemoteProtocolError
from .._events import Event
from .._payloads import (
    BlockDelta,
    ContentBlockFinish,
    ContentBlockStart,
    DataDelta,
    MessageError,
    MessageFinish,
    MessageStart,
    ToolCallDelta,
    decode_delta,
)
from ._blocks import (
    ACC_ARGS,
    ACC_DATA,
    ACC_REASONING,
    ACC_TEXT,
    ContentBlock,
    ToolCallSource,
    finalize_tool_call,
    invalid_tool_call,
)
from ._common import RunOutcome, check_limit
from ._message import Message, opt_str

__all__ = [
    "MessageUpdate",
    "MessagesReducer",
    "MESSAGE_UPDATE_KINDS",
]

# -- update kinds -------------------------------------------------------------------

START: Final = "start"
BLOCK_START: Final = "block-start"
TEXT: Final = "text"
REASONING: Final = "reasoning"
DATA: Final = "data"
ARGS: Final = "args"
FIELDS: Final = "fields"
BLOCK_FINISH: Final = "block-finish"
FINISH: Final = "finish"
ERROR: Final = "error"
AMBIGUOUS: Final = "ambiguous"
CLOSED: Final = "closed"

MESSAGE_UPDATE_KINDS: Final = (
    START,
    BLOCK_START,
    TEXT,
    REASONING,
    DATA,
    ARGS,
    FIELDS,
    BLOCK_FINISH,
    FINISH,
    ERROR,
    AMBIGUOUS,
    CLOSED,
)
"""Every ``MessageUpdate.kind``, in the order a message usually goes through them."""


class MessageUpdate(NamedTuple):
    """What one event changed: ``kind`` (see :data:`MESSAGE_UPDATE_KINDS`) and the message.

    ``block_index`` is the block concerned, if any. ``delta`` is what was added: the
    text, reasoning, base64 data or argument chunk (``text``, ``reasoning``,
    ``data``, ``args``), the start content or merged fields (``block-start``,
    ``fields``), the settled content (``block-finish``), the error text
    (``error``, ``closed``), or for ``ambiguous`` the tuple of every message
    that failed because an event could not be placed.
    """

    kind: str
    message: Message
    block_index: int | None = None
    delta: Any = None


_new_update = tuple.__new__


class _Lane:
    """The open messages of one namespace."""

    __slots__ = ("by_id", "open", "pending", "sole")

    def __init__(self) -> None:
        self.open: list[Message] = []
        self.by_id: dict[str, Message] = {}
        self.sole: Message | None = None
        """The message an id-less event goes to (exactly one open, nothing pending)."""
        self.pending = 0
        """Failed (unplaceable) messages whose ``message-finish`` has not come yet."""

    def update_sole(self) -> None:
        self.sole = self.open[0] if len(self.open) == 1 and not self.pending else None


_TERMINAL_EVENTS: Final = frozenset({"message-finish", "error"})
_FAST_DELTAS: Final = {"text-delta": ACC_TEXT, "reasoning-delta": ACC_REASONING}
_TOOL_CALL_TYPES: Final = frozenset({"tool_call_chunk", "tool_call", "invalid_tool_call"})
_CALL_BLOCKS: Final = frozenset({"tool_call", "invalid_tool_call"})
"""Finished tool-call blocks carry no ``index`` (LangChain drops it so args cannot re-merge)."""


class MessagesReducer:
    """Assembles messages from ``messages`` events (see the module docstring).

    ``history``: keep every message in :attr:`messages` (in order of
    ``message-start``); without it only open messages are held.
    ``max_open_messages``, ``max_blocks`` and ``max_tool_call_links`` bound
    what an adversarial stream can make the reducer hold (exceeding the first
    two raises :class:`~threadwire.protocol.LimitExceeded`; the links are a
    window of the most recent tool calls).
    """

    def __init__(
        self,
        *,
        history: bool = False,
        max_open_messages: int = 10_000,
        max_blocks: int = 10_000,
        max_tool_call_links: int = 10_000,
        max_problems: int = 100,
    ) -> None:
        self.history = history
        self.messages: list[Message] = []
        """Every message in order of ``message-start`` (only with ``history``)."""
        self.problems: list[RemoteProtocolError] = []
        """Events that could not be placed, explained (the first ``max_problems``)."""
        self.problem_count = 0
        self._lanes: dict[tuple[str, ...], _Lane] = {}
        self._open_count = 0
        self._max_open = max_open_messages
        self._max_blocks = max_blocks
        self._max_links = max_tool_call_links
        self._max_problems = max_problems
        self._links: dict[str, ToolCallSource] = {}

    # -- queries -----------------------------------------------------------------

    @property
    def open_messages(self) -> list[Message]:
        """The messages still open, by namespace, in order of ``message-start``."""
        return [message for lane in self._lanes.values() for message in lane.open]

    def tool_call_source(self, tool_call_id: str) -> ToolCallSource | None:
        """The message block that asked for tool call ``tool_call_id`` (recent ones)."""
        return self._links.get(tool_call_id)

    # -- input -------------------------------------------------------------------

    def apply(self, event: Event) -> MessageUpdate | None:
        """Apply one event; return what changed, or None (other channels, unknown variants)."""
        if event[0] != "messages":
            return None
        data = event[3]
        try:
            # The hot path, one event per token: an id-less text or reasoning delta (the
            # server sends exactly event, index and delta) for the only open message of
            # its namespace, to a block already appending that field. A lookup that
            # fails means "not this case"; the general path below then decides, and
            # it is the one that reports malformed events.
            if data["event"] == "content-block-delta" and len(data) == 3:
                message = self._lanes[event[2]].sole
                delta = data["delta"]
                key = _FAST_DELTAS[delta["type"]]
                index = data["index"]
                block = message.blocks[index]  # type: ignore[union-attr]
                text = delta[key]
                if (
                    block.acc == key
                    and type(text) is str
                    and type(index) is int
                    and type(data) is dict
                ):
                    block.parts.append(text)
                    # The update kind is the field's name (TEXT, REASONING).
                    return _new_update(MessageUpdate, (key, message, index, text))
        except (LookupError, TypeError, AttributeError):
            pass
        return self._general(event, data)

    def _general(self, event: Event, data: Any) -> MessageUpdate | None:
        if type(data) is not dict:
            raise RemoteProtocolError("params.data of a 'messages' event must be an object")
        kind = data.get("event")
        if kind == "content-block-delta":
            return self._delta(event[2], data)
        if kind == "message-start":
            return self._start(event)
        if kind == "content-block-start":
            return self._block_start(event)
        if kind == "content-block-finish":
            return self._block_finish(event)
        if kind is None:
            raise RemoteProtocolError("params.data.event is required but missing")
        if type(kind) is not str:
            raise RemoteProtocolError("params.data.event of a 'messages' event must be a string")
        if kind in _TERMINAL_EVENTS:
            return self._end(event, kind)
        return None  # an event type this version does not know

    def end_of_run(self, outcome: RunOutcome) -> list[MessageUpdate]:
        """Close every open message: the root run ended with ``outcome``."""
        return self._close_all(outcome.reason("the message finished"))

    def close(
        self, reason: str = "the stream ended before the message finished"
    ) -> list[MessageUpdate]:
        """Close every open message: the stream ended."""
        return self._close_all(reason)

    # -- routing -----------------------------------------------------------------

    def _route(
        self, namespace: tuple[str, ...], data: dict[str, Any], kind: str
    ) -> Message | MessageUpdate | None:
        """The open message an event belongs to, None, or an ``ambiguous`` update."""
        lane = self._lanes.get(namespace)
        if lane is None:
            return None  # no open message here: a resumed stream, or after the end
        message_id = data.get("message_id")
        if message_id is None:
            message_id = data.get("id")
        if message_id is not None:
            if type(message_id) is not str:
                raise RemoteProtocolError("params.data.message_id must be a string")
            return lane.by_id.get(message_id)
        if lane.sole is not None:
            return lane.sole
        return self._unplaceable(namespace, lane, kind)

    def _unplaceable(
        self, namespace: tuple[str, ...], lane: _Lane, kind: str
    ) -> MessageUpdate | None:
        update = None
        if lane.open:
            failed = tuple(lane.open)
            reason = (
                f"a {kind!r} event without a message id arrived while "
                + (
                    f"{len(failed)} messages were open"
                    if len(failed) > 1 or not lane.pending
                    else "earlier messages it could belong to were unfinished"
                )
                + f" in namespace {list(namespace)}; it cannot be placed"
            )
            self._problem(reason)
            lane.pending += len(failed)  # before retiring: the lane must stay
            for message in failed:
                message.status = "error"
                message.error = reason
                message.error_code = "ambiguous"
                self._settle(message, complete=False, reason=reason)
                self._retire(message, lane, namespace)
            update = _new_update(MessageUpdate, (AMBIGUOUS, failed[-1], None, failed))
        if kind in _TERMINAL_EVENTS:
            lane.pending -= 1  # one of the failed messages has ended
            if not lane.pending:
                # Every failed message has ended, and none is open (all were failed).
                del self._lanes[namespace]
        return update

    def _problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < self._max_problems:
            self.problems.append(RemoteProtocolError(text))

    def _retire(self, message: Message, lane: _Lane, namespace: tuple[str, ...]) -> None:
        lane.open.remove(message)
        if message.id is not None and lane.by_id.get(message.id) is message:
            del lane.by_id[message.id]
        self._open_count -= 1
        lane.update_sole()
        if not lane.open and not lane.pending:
            del self._lanes[namespace]

    # -- events ------------------------------------------------------------------

    def _start(self, event: Event) -> MessageUpdate:
        payload: MessageStart = event.payload
        namespace = event.namespace
        check_limit(self._open_count, self._max_open, "max_open_messages", "open messages")
        lane = self._lanes.get(namespace)
        if lane is None:
            lane = self._lanes[namespace] = _Lane()
        elif payload.id is not None:
            previous = lane.by_id.get(payload.id)
            if previous is not None:
                previous.closed = "another message-start came with the same message id"
                self._settle(previous, complete=False, reason=previous.closed)
                self._retire(previous, lane, namespace)
                lane = self._lanes.setdefault(namespace, lane)
        metadata = payload.metadata
        node = event.node
        if node is None and metadata is not None:
            node = opt_str(metadata.get("langgraph_node"))
        message = Message(
            id=payload.id,
            namespace=namespace,
            role=payload.role,
            node=node,
            metadata=metadata,
            tool_call_id=payload.tool_call_id,
            start_seq=event.seq,
        )
        lane.open.append(message)
        if payload.id is not None:
            lane.by_id[payload.id] = message
        lane.update_sole()
        self._open_count += 1
        if self.history:
            self.messages.append(message)
        return _new_update(MessageUpdate, (START, message, None, None))

    def _block(self, message: Message, index: int, fields: dict[str, Any]) -> ContentBlock:
        check_limit(
            len(message.blocks), self._max_blocks, "max_blocks", "content blocks in a message"
        )
        block = message.blocks[index] = ContentBlock(index, fields)
        return block

    def _block_start(self, event: Event) -> MessageUpdate | None:
        target = self._route(event[2], event[3], "content-block-start")
        if type(target) is not Message:
            return target  # type: ignore[return-value]  # None, or the ambiguity update
        payload: ContentBlockStart = event.payload
        block = target.blocks.get(payload.index)
        if block is None:
            block = self._block(target, payload.index, payload.content)
        elif block.final is not None:
            return None
        else:
            block.merge(payload.content)
        self._link(target, payload.index, block.fields)
        return _new_update(MessageUpdate, (BLOCK_START, target, payload.index, payload.content))

    def _delta(self, namespace: tuple[str, ...], data: dict[str, Any]) -> MessageUpdate | None:
        # Every content-block-delta the fast path in ``apply`` did not take.
        index = data.get("index")
        if type(index) is not int:
            raise RemoteProtocolError(
                "params.data.index of a content-block-delta must be an integer"
            )
        target = self._route(namespace, data, "content-block-delta")
        if type(target) is not Message:
            return target  # type: ignore[return-value]  # None, or the ambiguity update
        delta = data.get("delta")
        if type(delta) is dict:
            kind = delta.get("type")
            if kind == "text-delta":
                key = ACC_TEXT
            elif kind == "reasoning-delta":
                key = ACC_REASONING
            else:
                return self._other_delta(target, index, delta)
            text = delta.get(key)
            if type(text) is not str:
                raise RemoteProtocolError(f"params.data.delta.{key} must be a string")
            block = target.blocks.get(index)
            if block is None:
                block = self._block(target, index, {"type": key})
            elif block.final is not None:
                return None  # the block was already settled
            if block.acc != key:
                block.switch(key)
            block.parts.append(text)
            return _new_update(
                MessageUpdate, (TEXT if key is ACC_TEXT else REASONING, target, index, text)
            )
        if delta is not None:
            raise RemoteProtocolError("params.data.delta must be an object")
        content = data.get("content")
        if content is None:
            content = data.get("content_block")
        if type(content) is not dict:
            raise RemoteProtocolError("params.data.delta is required but missing")
        return self._content_delta(target, index, content)

    def _other_delta(
        self, message: Message, index: int, raw: dict[str, Any]
    ) -> MessageUpdate | None:
        delta = decode_delta(raw)
        block = message.blocks.get(index)
        if block is not None and block.final is not None:
            return None
        if type(delta) is ToolCallDelta:
            if block is None:
                block = self._block(message, index, {"type": "tool_call_chunk"})
            for key, value in (("id", delta.id), ("name", delta.name)):
                if value is not None and block.fields.get(key) is None:
                    block.fields[key] = value
            if block.acc != ACC_ARGS:
                block.switch(ACC_ARGS)
            block.parts.append(delta.args)
            if delta.id is not None:
                self._link(message, index, block.fields)
            return _new_update(MessageUpdate, (ARGS, message, index, delta.args))
        if type(delta) is DataDelta:
            if block is None:
                block = self._block(message, index, {})
            if delta.encoding != "base64":  # absent means base64
                block.fields["encoding"] = delta.encoding
            if block.acc != ACC_DATA:
                block.switch(ACC_DATA)
            block.parts.append(delta.data)
            return _new_update(MessageUpdate, (DATA, message, index, delta.data))
        if type(delta) is BlockDelta:
            return self._merge(message, block, index, delta.fields)
        return None  # an unknown delta type: ignored; the block's finish still comes

    def _content_delta(
        self, message: Message, index: int, content: dict[str, Any]
    ) -> MessageUpdate | None:
        # The server's mirrored tool results send the block in ``content``.
        block = message.blocks.get(index)
        if block is not None and block.final is not None:
            return None
        kind = content.get("type")
        if kind in (ACC_TEXT, ACC_REASONING):
            text = content.get(kind)
            if type(text) is str:
                if block is None:
                    block = self._block(message, index, {"type": kind})
                if block.acc != kind:
                    block.switch(kind)
                block.parts.append(text)
                return _new_update(
                    MessageUpdate, (TEXT if kind == ACC_TEXT else REASONING, message, index, text)
                )
        return self._merge(message, block, index, content)

    def _merge(
        self, message: Message, block: ContentBlock | None, index: int, fields: dict[str, Any]
    ) -> MessageUpdate:
        if block is None:
            block = self._block(message, index, {})
        block.merge(fields)
        self._link(message, index, block.fields)
        return _new_update(MessageUpdate, (FIELDS, message, index, fields))

    def _block_finish(self, event: Event) -> MessageUpdate | None:
        target = self._route(event[2], event[3], "content-block-finish")
        if type(target) is not Message:
            return target  # type: ignore[return-value]  # None, or the ambiguity update
        payload: ContentBlockFinish = event.payload
        block = target.blocks.get(payload.index)
        if block is None:
            block = self._block(target, payload.index, {})
        elif block.final is not None:
            return None
        content = payload.content
        kind = content.get("type")
        if kind == "tool_call_chunk" or (kind == "tool_call" and type(content.get("args")) is str):
            if kind == "tool_call_chunk" and "args" not in content:
                content = {**content, "args": block.streamed(ACC_ARGS)}
            content = finalize_tool_call(content)
        else:
            acc = block.acc
            if acc is not None and acc not in content and kind == block.fields.get("type"):
                # A finish without the streamed field keeps what was streamed.
                content = {**content, acc: block.streamed(acc)}
            if "index" not in content and kind not in _CALL_BLOCKS:
                # As LangChain does: the wire index, so the block merges by index later.
                content = {**content, "index": payload.index}
        block.settle(content)
        self._link(target, payload.index, content)
        return _new_update(MessageUpdate, (BLOCK_FINISH, target, payload.index, content))

    def _end(self, event: Event, kind: str) -> MessageUpdate | None:
        namespace = event[2]
        target = self._route(namespace, event[3], kind)
        if type(target) is not Message:
            return target  # type: ignore[return-value]  # None, or the ambiguity update
        lane = self._lanes[namespace]
        payload = event.payload
        if type(payload) is MessageFinish:
            target.usage = payload.usage
            target.finish_metadata = payload.metadata
            target.additional_kwargs = payload.additional_kwargs
            target.finish_reason = payload.finish_reason
            self._settle(target, complete=True, reason=None)
            target.status = "finished"
            update: tuple[str, Message, None, str | None] = (FINISH, target, None, None)
        else:
            assert type(payload) is MessageError
            target.status = "error"
            target.error = payload.message
            target.error_code = payload.code
            self._settle(target, complete=False, reason=f"the message failed: {payload.message}")
            update = (ERROR, target, None, payload.message)
        self._retire(target, lane, namespace)
        return _new_update(MessageUpdate, update)

    # -- settling ----------------------------------------------------------------

    def _settle(self, message: Message, *, complete: bool, reason: str | None) -> None:
        """Settle every unsettled block: parse tool calls (``complete``) or keep as streamed."""
        for block in message.blocks.values():
            if block.final is not None:
                continue
            content = block.content
            if content.get("type") == "tool_call_chunk":
                if complete:
                    content = finalize_tool_call(content)
                else:
                    content = invalid_tool_call(
                        content, content.get("args"), reason or "the message did not finish"
                    )
            else:
                content = dict(content)
                if content.get("type") not in _CALL_BLOCKS:
                    content.setdefault("index", block.index)
            block.settle(content)
            self._link(message, block.index, content)

    def _link(self, message: Message, index: int, content: dict[str, Any]) -> None:
        """Remember which block asked for a tool call, once its id is known."""
        if content.get("type") not in _TOOL_CALL_TYPES:
            return
        call_id = content.get("id")
        if type(call_id) is not str:
            return
        source = ToolCallSource(message_id=message.id, namespace=message.namespace, index=index)
        # The latest block with this id wins (fake models reuse ids across runs).
        if self._links.pop(call_id, None) is None and len(self._links) >= self._max_links:
            del self._links[next(iter(self._links))]
        self._links[call_id] = source

    def _close_all(self, reason: str) -> list[MessageUpdate]:
        updates = []
        for namespace, lane in list(self._lanes.items()):
            for message in list(lane.open):
                message.closed = reason
                self._settle(message, complete=False, reason=reason)
                updates.append(MessageUpdate(CLOSED, message, None, reason))
            del self._lanes[namespace]
        self._open_count = 0
        return updates
