"""fanout: parallel ``Send`` fan-out to a worker node.

``plan`` returns nothing; a conditional edge sends one ``Send("worker",
{"item": x})`` per item of ``items`` (default ``["a", "b", "c"]``). Each
worker streams a chat message ``"worker <x> done"`` and appends
``"done:<x>"`` to ``results``; ``collect`` writes ``summary``.
Input: ``{"items": ["a", "b", "c"]}``
"""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from fake_models import ScriptedChatModel, default_transformers, text_steps
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send


class State(TypedDict, total=False):
    items: list[str]
    results: Annotated[list[str], operator.add]
    summary: str


class WorkerState(TypedDict):
    item: str


async def plan(state: State) -> dict:
    return {}


def route(state: State) -> list[Send]:
    return [Send("worker", {"item": x}) for x in state.get("items") or ["a", "b", "c"]]


async def worker(state: WorkerState) -> dict:
    item = state["item"]
    model = ScriptedChatModel(turns=[text_steps(f"worker {item} done")])
    await model.ainvoke([HumanMessage(content=item)])
    return {"results": [f"done:{item}"]}


async def collect(state: State) -> dict:
    return {"summary": ",".join(sorted(state.get("results", [])))}


_b = StateGraph(State)
_b.add_node("plan", plan)
_b.add_node("worker", worker)
_b.add_node("collect", collect)
_b.add_edge(START, "plan")
_b.add_conditional_edges("plan", route, ["worker"])
_b.add_edge("worker", "collect")
_b.add_edge("collect", END)
graph = _b.compile(name="fanout", transformers=default_transformers())
