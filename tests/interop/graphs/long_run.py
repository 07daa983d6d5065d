"""long_run: thousands of events for reconnect-in-the-middle tests.

Node ``stream`` makes a fake model stream ``n_tokens`` text tokens
(``"t0"``, ``" t1"``, ... ``" t{n-1}"``, one ``content-block-delta`` each),
sleeping ``delay_ms`` between tokens, and returns ``{"done": n_tokens}``.
Input: ``{"n_tokens": 2000, "delay_ms": 1}`` (these are the defaults).
Final message text: ``" ".join(f"t{i}" for i in range(n_tokens))``.
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from fake_models import ScriptedChatModel, default_transformers
from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

DEFAULT_TOKENS = 2000
DEFAULT_DELAY_MS = 1


def expected_text(n_tokens: int = DEFAULT_TOKENS) -> str:
    return " ".join(f"t{i}" for i in range(n_tokens))


class State(TypedDict, total=False):
    n_tokens: int
    delay_ms: float
    done: int
    messages: Annotated[list[AnyMessage], add_messages]


async def stream(state: State) -> dict:
    n = int(state.get("n_tokens") or DEFAULT_TOKENS)
    delay = state.get("delay_ms")
    delay = DEFAULT_DELAY_MS if delay is None else float(delay)
    steps = [("str", "t0")] + [("str", f" t{i}") for i in range(1, n)]
    model = ScriptedChatModel(turns=[steps], delay=delay / 1000.0)
    msg = await model.ainvoke([HumanMessage(content="stream please")])
    return {"done": n, "messages": [msg]}


_b = StateGraph(State)
_b.add_node("stream", stream)
_b.add_edge(START, "stream")
_b.add_edge("stream", END)
graph = _b.compile(name="long_run", transformers=default_transformers())
