"""Hermetic building blocks shared by the interop graphs.

* ``ScriptedChatModel``: a fake *streaming* chat model. Each "turn" is a
  script of chunks (reasoning tokens, text tokens, tool-call argument
  pieces). The turn is chosen by counting the AI messages already in the
  prompt, so the model is stateless and one module-level instance can be
  shared by concurrent runs.
* ``default_transformers()``: the extra stream transformers every graph
  registers at compile time so that the optional wire channels
  (``updates``, ``custom``, ``tools``, ``checkpoints``) really flow.
* ``ProgressTransformer``: a user (non-native) transformer owning the
  named ``StreamChannel("progress")``; it turns plain custom events whose
  payload is a dict with a ``"progress"`` key into named
  ``custom:progress`` events on the wire.

No network, no LLM, no randomness: everything here is deterministic except
the ids the server/langgraph assign.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langgraph.prebuilt import ToolCallTransformer
from langgraph.stream import (
    CheckpointsTransformer,
    CustomTransformer,
    StreamChannel,
    StreamTransformer,
    UpdatesTransformer,
)

# ---------------------------------------------------------------------------
# Script helpers
# ---------------------------------------------------------------------------

# A step is a tuple:
#   ("reasoning", token, index)   -> content block {"type":"reasoning"}
#   ("text", token, index)        -> content block {"type":"text"}
#   ("str", token)                -> plain string content (no block list)
#   ("tool", id_or_None, name_or_None, args_piece, index) -> tool_call_chunk
#   ("usage", input_tokens, output_tokens) -> usage_metadata on that chunk
#   ("raise", message)            -> raise RuntimeError(message) mid-stream
Step = tuple[Any, ...]


def words(text: str) -> list[str]:
    """Split ``text`` into word tokens that keep their leading space."""
    parts = text.split(" ")
    return [parts[0]] + [" " + p for p in parts[1:]]


def text_steps(text: str, index: int | None = None) -> list[Step]:
    if index is None:
        return [("str", tok) for tok in words(text)]
    return [("text", tok, index) for tok in words(text)]


def reasoning_steps(text: str, index: int = 0) -> list[Step]:
    return [("reasoning", tok, index) for tok in words(text)]


def tool_steps(call_id: str, name: str, args_pieces: Sequence[str], index: int) -> list[Step]:
    steps: list[Step] = []
    for i, piece in enumerate(args_pieces):
        steps.append(("tool", call_id if i == 0 else None, name if i == 0 else None, piece, index))
    return steps


def _chunk_for(step: Step) -> AIMessageChunk:
    kind = step[0]
    if kind == "reasoning":
        _, tok, idx = step
        return AIMessageChunk(content=[{"type": "reasoning", "reasoning": tok, "index": idx}])
    if kind == "text":
        _, tok, idx = step
        return AIMessageChunk(content=[{"type": "text", "text": tok, "index": idx}])
    if kind == "str":
        return AIMessageChunk(content=step[1])
    if kind == "tool":
        _, call_id, name, args, idx = step
        return AIMessageChunk(
            content=[],
            tool_call_chunks=[{"id": call_id, "name": name, "args": args, "index": idx}],
        )
    if kind == "usage":
        _, inp, out = step
        return AIMessageChunk(
            content="",
            usage_metadata={
                "input_tokens": inp,
                "output_tokens": out,
                "total_tokens": inp + out,
            },
        )
    raise ValueError(f"unknown step kind {kind!r}")


class ScriptedChatModel(BaseChatModel):
    """Fake streaming chat model driven by per-turn chunk scripts.

    ``turns[k]`` is used when the prompt already contains ``k`` AI messages
    (clamped to the last turn). ``delay`` seconds are slept between chunks
    on the async path (0 = just yield to the loop).
    """

    turns: list[list[Step]]
    delay: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "scripted-fake-chat-model"

    def _pick(self, messages: list[BaseMessage]) -> list[Step]:
        n_ai = sum(1 for m in messages if isinstance(m, AIMessage))
        return self.turns[min(n_ai, len(self.turns) - 1)]

    def _iter(self, messages: list[BaseMessage]) -> Iterator[AIMessageChunk | str]:
        for step in self._pick(messages):
            if step[0] == "raise":
                yield step[1]  # marker: raise with this message
                return
            yield _chunk_for(step)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for item in self._iter(messages):
            if isinstance(item, str):
                raise RuntimeError(item)
            chunk = ChatGenerationChunk(message=item)
            if run_manager is not None:
                run_manager.on_llm_new_token(_token_text(item), chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for item in self._iter(messages):
            if isinstance(item, str):
                raise RuntimeError(item)
            chunk = ChatGenerationChunk(message=item)
            if run_manager is not None:
                await run_manager.on_llm_new_token(_token_text(item), chunk=chunk)
            yield chunk
            await asyncio.sleep(self.delay)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        merged: AIMessageChunk | None = None
        for gen in self._stream(messages, stop=stop, **kwargs):
            chunk = gen.message
            assert isinstance(chunk, AIMessageChunk)
            merged = chunk if merged is None else merged + chunk
        assert merged is not None
        msg = AIMessage(
            content=merged.content,
            tool_calls=merged.tool_calls,
            usage_metadata=merged.usage_metadata,
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


def _token_text(chunk: AIMessageChunk) -> str:
    content = chunk.content
    if isinstance(content, str):
        return content
    out = []
    for block in content:
        if isinstance(block, dict):
            out.append(str(block.get("text") or block.get("reasoning") or ""))
    return "".join(out)


def one_message_model(text: str, delay: float = 0.0) -> ScriptedChatModel:
    """A model that always streams ``text`` word by word (plain str content)."""
    return ScriptedChatModel(turns=[text_steps(text)], delay=delay)


# ---------------------------------------------------------------------------
# Stream transformers
# ---------------------------------------------------------------------------


class ProgressTransformer(StreamTransformer):
    """Project progress payloads onto the named channel ``progress``.

    Any custom event (``get_stream_writer()`` output) at this transformer's
    own scope whose payload is a dict containing ``"progress"`` is pushed on
    the named ``StreamChannel("progress")``. Because this is a user
    (non-native) transformer, the mux forwards each push as protocol method
    ``custom:progress``; the Agent Server rewrites that to method
    ``custom`` with ``data = {"name": "progress", "payload": ...}``.
    The original plain custom event is kept (``process`` returns True).
    """

    def __init__(self, scope: tuple[str, ...] = ()) -> None:
        super().__init__(scope)
        self._progress: StreamChannel[Any] = StreamChannel("progress")
        self._scope_list = list(scope)

    def init(self) -> dict[str, Any]:
        return {"progress": self._progress}

    def process(self, event: Any) -> bool:
        if event.get("method") != "custom":
            return True
        params = event.get("params") or {}
        if params.get("namespace") != self._scope_list:
            return True
        data = params.get("data")
        if isinstance(data, dict) and "progress" in data:
            self._progress.push({"step": data.get("step"), "progress": data["progress"]})
        return True


def default_transformers() -> list[Any]:
    """Transformer factories registered on every graph (except ``bare``).

    ``ValuesTransformer``/``MessagesTransformer``/``LifecycleTransformer``/
    ``SubgraphTransformer`` are always installed by langgraph itself; these
    add the stream modes ``updates``, ``custom``, ``tools`` and
    ``checkpoints`` (the server drops the latter, see README) plus the
    ``custom:progress`` named channel.
    """
    return [
        UpdatesTransformer,
        CustomTransformer,
        ToolCallTransformer,
        CheckpointsTransformer,
        ProgressTransformer,
    ]
