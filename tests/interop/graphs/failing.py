"""failing: a run that fails after a chat model streamed some tokens.

``graph`` (assistant ``failing``): ``ok`` (x += 1) -> ``explode``: the model
streams "Working on it now" (complete message), then the node raises
``ValueError("boom: deliberate failure")``.

``midstream_graph`` (assistant ``failing_midstream``): the model itself
raises ``RuntimeError("boom: model stream broke")`` after streaming
"Partial answer" (no message-finish on the wire).
Input: ``{"x": 1}``
"""

from __future__ import annotations

from typing import TypedDict

from fake_models import ScriptedChatModel, default_transformers, text_steps
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph

ERROR = "boom: deliberate failure"
MIDSTREAM_ERROR = "boom: model stream broke"

model = ScriptedChatModel(turns=[text_steps("Working on it now")])
broken_model = ScriptedChatModel(
    turns=[[*text_steps("Partial answer"), ("raise", MIDSTREAM_ERROR)]]
)


class State(TypedDict, total=False):
    x: int


async def ok(state: State) -> dict:
    return {"x": state.get("x", 0) + 1}


async def explode(state: State) -> dict:
    await model.ainvoke([HumanMessage(content="go")])
    raise ValueError(ERROR)


async def explode_midstream(state: State) -> dict:
    await broken_model.ainvoke([HumanMessage(content="go")])
    return {}


def _build(node) -> StateGraph:
    b = StateGraph(State)
    b.add_node("ok", ok)
    b.add_node("explode", node)
    b.add_edge(START, "ok")
    b.add_edge("ok", "explode")
    b.add_edge("explode", END)
    return b


graph = _build(explode).compile(name="failing", transformers=default_transformers())
midstream_graph = _build(explode_midstream).compile(
    name="failing_midstream", transformers=default_transformers()
)
