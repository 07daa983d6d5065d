"""threadwire.protocol.projections: what people want to see, from the event stream.

Pure, incremental reducers shared by the async client, the CLI and other SDKs.
Each takes one :class:`~threadwire.protocol.Event` at a time with
``apply(event)`` and returns what changed, and settles what is still open with
``end_of_run(outcome)`` (the root run ended) and ``close(reason)`` (the stream
ended):

* :class:`ValuesReducer`: the latest snapshot per namespace, the root's
  history, and each run's output taken from the stream;
* :class:`MessagesReducer`: chat messages assembled from content-block events,
  in every namespace;
* :class:`ToolCallsReducer`: tool executions, linked to the message blocks that
  asked for them;
* :class:`TreeReducer`: the subgraph / subagent tree at any depth;
* :class:`ExtensionsReducer`: custom events by name;
* interrupts are followed by :class:`~threadwire.protocol.RunTracker`;
* :class:`Projector` runs all of them on one stream.

:func:`replay` reads a captured SSE body or WebSocket transcript
(:class:`TranscriptReader`) into a :class:`ReplaySummary`, and
:func:`render_transcript` writes it for people.
"""

from ._blocks import ContentBlock, InvalidToolCall, MessageToolCall, ToolCallSource
from ._common import RUN_OUTCOMES, RunOutcome
from ._extensions import ExtensionsReducer, ExtensionUpdate, unpack_custom
from ._message import Message
from ._messages import MESSAGE_UPDATE_KINDS, MessagesReducer, MessageUpdate
from ._projector import Projector
from ._render import render_transcript
from ._summary import SUMMARY_KEYS, ReplayResult, ReplaySummary, replay
from ._tools import TOOL_CALL_UPDATE_KINDS, ToolCall, ToolCallsReducer, ToolCallUpdate
from ._transcript import StreamStart, TranscriptItem, TranscriptReader
from ._tree import OPEN_STATUSES, SubgraphNode, TreeReducer, TreeUpdate
from ._values import RunOutput, ValuesReducer, ValuesUpdate

__all__ = [
    # common
    "RunOutcome",
    "RUN_OUTCOMES",
    # values
    "ValuesReducer",
    "ValuesUpdate",
    "RunOutput",
    # messages
    "MessagesReducer",
    "Message",
    "MessageUpdate",
    "MESSAGE_UPDATE_KINDS",
    "ContentBlock",
    "MessageToolCall",
    "InvalidToolCall",
    "ToolCallSource",
    # tool calls
    "ToolCallsReducer",
    "ToolCall",
    "ToolCallUpdate",
    "TOOL_CALL_UPDATE_KINDS",
    # tree
    "TreeReducer",
    "SubgraphNode",
    "TreeUpdate",
    "OPEN_STATUSES",
    # extensions
    "ExtensionsReducer",
    "ExtensionUpdate",
    "unpack_custom",
    # all together
    "Projector",
    # replay
    "TranscriptReader",
    "TranscriptItem",
    "StreamStart",
    "ReplaySummary",
    "ReplayResult",
    "SUMMARY_KEYS",
    "replay",
    "render_transcript",
]
